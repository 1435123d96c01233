"""The Audiences dashboard: every audience with its status, creator, dates and size; search over
name and creator as you type; sort by name or by created or processed date, both ways."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from ..audiences import sorts
from .style import DASH, badge, day, escape, number, stale_note
from .widgets import Table, link

if TYPE_CHECKING:
    from .navigator import Navigator

SORTS = [(sorts.SORTS[key], key) for key in sorts.SHOWN]

COLUMNS = [{"key": "status", "label": "Status"},
           {"key": "name", "label": "Name", "sort": "name"},
           {"key": "created_by", "label": "Created by"},
           {"key": "created_on", "label": "Created on", "sort": "created"},
           {"key": "last_processed_on", "label": "Last processed", "sort": "last_processed"},
           {"key": "size", "label": "Size", "numeric": True},
           {"key": "percent", "label": "% of base", "numeric": True}]


class AudienceList:
    """The dashboard's model: the audiences a search finds, in the order chosen; how far
    nightly processing lags; whether this user may start a new one (no widgets)."""

    def __init__(self, wb, sort: str = "-last_processed"):
        self.service = wb.audiences
        self.search, self.sort = "", sort
        self.audiences: list = []
        self.behind: str | None = None  # the last processed day, when processing lags
        self.can_create = "edit" in wb.audiences.actions()  # a new draft's

    def refresh(self) -> None:
        self.audiences = self.service.list(search=self.search, sort=self.sort)
        self.behind = self.service.behind()


class AudiencesDashboard:
    def __init__(self, nav: Navigator, sort: str = "-last_processed"):
        self.nav = nav
        self.list = AudienceList(nav.wb, sort)
        self.search = w.Text(placeholder="Search name or creator…", continuous_update=True,
                             layout=w.Layout(width="340px"))
        self.sort = w.Dropdown(options=SORTS, value=sort, description="Sort:",
                               layout=w.Layout(width="300px"))
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
        self.sort.observe(self._sorted_by_dropdown, "value")
        self.table.observe(self._sorted_by_header, "sort")
        self.table.on_click(lambda row, _link: nav.go("audience", audience_id=int(row)))
        header = w.HBox([w.HTML('<div class="wb-title">Audiences</div>'),
                         w.HBox([self.overlap, self.create], layout=w.Layout(gap="8px"))],
                        layout=w.Layout(justify_content="space-between", align_items="center"))
        tools = w.HBox([self.search, self.sort, self.count],
                       layout=w.Layout(align_items="center", gap="16px"))
        self.widget = w.VBox([header, self.banner, tools, self.message, self.table],
                             layout=w.Layout(gap="8px"))
        self.refresh()

    def refresh(self) -> None:
        found = self.list
        found.search, found.sort = self.search.value.strip(), self.sort.value
        found.refresh()
        self.banner.value = stale_note(
            found.behind, " — nightly processing has not run since. "
            "Sizes, histories and exports are as of that day until it catches up "
            "(<code>workbench process</code>, or the scheduler).", banner=True)
        self.table.rows = [self._row(a) for a in found.audiences]
        self.table.empty = (
            f"No audience matches “{escape(found.search)}”." if self.search.value
            else "No audiences yet — " + ("use <b>Create Audience</b> to define the first one."
                                          if found.can_create else "an analyst creates them."))
        count = len(found.audiences)
        self.count.value = f'<span class="wb-muted">{count} audience' \
                           f'{"" if count == 1 else "s"}</span>'

    @staticmethod
    def _row(audience) -> dict:
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
            else f"{audience.percent_of_base:.2f}%"}}

    def _sorted_by_dropdown(self, change) -> None:
        if self.table.sort != change["new"]:
            self.table.sort = change["new"]
        self.refresh()

    def _sorted_by_header(self, change) -> None:
        if self.sort.value != change["new"]:
            self.sort.value = change["new"]  # refreshes through the drop-down

    def notice(self, text: str) -> None:
        self.message.value = f'<div class="wb-warning">{escape(text)}</div>'
