"""The Audiences dashboard: every audience with its status, creator, dates and size; search over
name and creator as you type; filter by status; sort by name, created or processed date, size
or % of base, both ways. A live audience not processed yet shows its estimate, marked as one,
computed after the list shows (the list itself reads the store only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from ..audiences import sorts
from ..errors import WorkbenchError
from .style import DASH, badge, day, escape, number, stale_note
from .widgets import Table, link
from .work import one_line, run_soon

if TYPE_CHECKING:
    from .navigator import Navigator

SORTS = [(sorts.SORTS[key], key) for key in sorts.SHOWN]
PENDING = object()  # an estimate being computed (another visit of the list started it)
STATUS_FILTER = [("All statuses", ""), ("Live", "active"), ("Draft", "draft"),
                 ("Archived", "archived")]

COLUMNS = [{"key": "status", "label": "Status"},
           {"key": "name", "label": "Name", "sort": "name"},
           {"key": "created_by", "label": "Created by"},
           {"key": "created_on", "label": "Created on", "sort": "created"},
           {"key": "last_processed_on", "label": "Last processed", "sort": "last_processed"},
           {"key": "size", "label": "Size", "numeric": True, "sort": "size"},
           {"key": "percent", "label": "% of base", "numeric": True, "sort": "percent"}]


class AudienceList:
    """The dashboard's model: the audiences a search finds, in the status chosen and the order
    chosen; how far nightly processing lags; whether this user may start a new one; the
    estimates of the live audiences not processed yet (no widgets)."""

    def __init__(self, wb, sort: str = "-last_processed", estimates: dict | None = None):
        """``estimates``: kept between visits of the page, keyed by (audience, version, the
        day estimated), so coming back to the list estimates nothing again."""
        self.service = wb.audiences
        self.calendar = wb.calendar
        self.search, self.sort, self.status = "", sort, ""
        self.audiences: list = []
        self.behind: str | None = None  # the last processed day, when processing lags
        self.can_create = "edit" in wb.audiences.actions()  # a new draft's
        self.estimates = {} if estimates is None else estimates

    def refresh(self) -> None:
        self.audiences = self.service.list(search=self.search, sort=self.sort,
                                           status=self.status or None)
        self.behind = self.service.behind()

    def _key(self, audience) -> tuple:
        return audience.id, audience.version, self.calendar.yesterday()

    def unestimated(self) -> list:
        """The live audiences shown without a size (activated, not processed yet) whose
        estimate is not known yet."""
        return [a for a in self.audiences if a.status == "active" and a.size is None
                and self._key(a) not in self.estimates]

    def estimate(self) -> None:
        """Estimate what ``unestimated`` lists (one query each: they are few, the audiences
        activated since the last nightly run); a failure is kept as its message."""
        waiting = self.unestimated()
        for audience in waiting:
            self.estimates[self._key(audience)] = PENDING
        for audience in waiting:
            try:
                found = self.service.estimate(audience.definition)
            except WorkbenchError as exc:
                found = one_line(exc)
            self.estimates[self._key(audience)] = found

    def estimated(self, audience):
        """Its ``Estimate``, an error's message, or None (not estimated yet, or no need)."""
        found = self.estimates.get(self._key(audience))
        return None if found is PENDING else found


class AudiencesDashboard:
    def __init__(self, nav: Navigator, sort: str = "-last_processed"):
        self.nav = nav
        self.list = AudienceList(nav.wb, sort, nav.cache.setdefault("estimates", {}))
        self.search = w.Text(placeholder="Search name or creator…", continuous_update=True,
                             layout=w.Layout(width="340px"))
        self.sort = w.Dropdown(options=SORTS, value=sort, description="Sort:",
                               layout=w.Layout(width="300px"))
        self.status = w.Dropdown(options=STATUS_FILTER, value="", description="Status:",
                                 layout=w.Layout(width="220px"))
        self.table = Table(columns=COLUMNS, sort=sort)
        self.create = w.Button(description="Create Audience", icon="plus",
                               tooltip="Start a new draft audience")
        self.create.add_class("wb-primary")
        self.create.on_click(lambda _b: nav.go("builder"))
        self.create.layout.display = None if self.list.can_create else "none"
        self.overlap = w.Button(description="Overlap", icon="circle-o",
                                tooltip="Compare 2 to 10 audiences: customers in both")
        self.overlap.on_click(lambda _b: nav.go("overlap"))
        self.message = w.HTML()
        self.banner = w.HTML()  # processing lags the calendar: said before anything else
        self.count = w.HTML()
        self.search.observe(lambda _c: self.refresh(), "value")
        self.status.observe(lambda _c: self.refresh(), "value")
        self.sort.observe(self._sorted_by_dropdown, "value")
        self.table.observe(self._sorted_by_header, "sort")
        self.table.on_click(lambda row, _link: nav.go("audience", audience_id=int(row)))
        header = w.HBox([w.HTML('<div class="wb-title">Audiences</div>'),
                         w.HBox([self.overlap, self.create], layout=w.Layout(gap="8px"))],
                        layout=w.Layout(justify_content="space-between", align_items="center"))
        tools = w.HBox([self.search, self.status, self.sort, self.count],
                       layout=w.Layout(align_items="center", gap="16px"))
        self.widget = w.VBox([header, self.banner, tools, self.message, self.table],
                             layout=w.Layout(gap="8px"))
        self.refresh()

    def refresh(self) -> None:
        found = self.list
        found.search, found.sort = self.search.value.strip(), self.sort.value
        found.status = self.status.value
        found.refresh()
        self.banner.value = stale_note(
            found.behind, " — nightly processing has not run since. "
            "Sizes, histories and exports are as of that day until it catches up "
            "(<code>workbench process</code>, or the scheduler).", banner=True)
        self._fill()
        status = dict((value, label) for label, value in STATUS_FILTER)[found.status]
        self.table.empty = (
            f"No audience matches “{escape(found.search)}”" + (
                f" among the {status.lower()} ones." if found.status else ".")
            if self.search.value else f"No {status.lower()} audiences." if found.status
            else "No audiences yet — " + ("use <b>Create Audience</b> to define the first one."
                                          if found.can_create else "an analyst creates them."))
        if found.unestimated():
            run_soon(self._estimate, self.nav.background)
        count = len(found.audiences)
        self.count.value = f'<span class="wb-muted">{count} audience' \
                           f'{"" if count == 1 else "s"}</span>'

    def _fill(self) -> None:
        self.table.rows = [self._row(a, self.list.estimated(a)) for a in self.list.audiences]

    def _estimate(self) -> None:
        self.list.estimate()
        self._fill()

    @staticmethod
    def _row(audience, estimate=None) -> dict:
        status = badge(audience.status)
        if audience.processing_error:
            status += (f' <span title="Last processing failed: {escape(audience.processing_error)}"'
                       ' style="color:#b42318;cursor:help">⚠</span>')
        return {"id": str(audience.id), "cells": {
            "status": status,
            "name": link(escape(audience.name)),
            "created_by": escape(audience.created_by),
            "created_on": day(audience.created_on),
            "last_processed_on": day(audience.last_processed_on),
            "size": number(audience.size),
            "percent": DASH if audience.percent_of_base is None
            else f"{audience.percent_of_base:.2f}%"} | _estimated(audience, estimate)}

    def _sorted_by_dropdown(self, change) -> None:
        if self.table.sort != change["new"]:
            self.table.sort = change["new"]
        self.refresh()

    def _sorted_by_header(self, change) -> None:
        if self.sort.value != change["new"]:
            self.sort.value = change["new"]  # refreshes through the drop-down

    def notice(self, text: str) -> None:
        self.message.value = f'<div class="wb-warning">{escape(text)}</div>'


def _estimated(audience, estimate) -> dict:
    """The size and % cells of a live audience not processed yet: its estimate, marked as
    one (``est.``, and a tooltip saying why), a spinner while it is computed."""
    if audience.status != "active" or audience.size is not None:
        return {}
    if estimate is None:
        return {"size": f'{DASH}<span class="wb-spinner" title="estimating"></span>'}
    if isinstance(estimate, str):
        return {"size": f'<span title="Not estimated: {escape(estimate)}">{DASH}</span>'}
    why = escape(f"Estimated {estimate.as_of_text}: not processed yet (nightly processing "
                 "records its size)")
    return {"size": f'<span class="wb-estimate" title="{why}">≈{number(estimate.size)} '
                    '<span class="wb-est">est.</span></span>',
            "percent": f'<span class="wb-estimate" title="{why}">≈'
                       f'{estimate.percent_of_base or 0:.2f}%</span>'}
