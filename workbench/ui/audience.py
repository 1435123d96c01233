"""The audience page: its name, status and the actions the user may take; Details (size over
time, a date range bounded by inception and the last processed day), Composition (an attribute's
buckets as a chart and a table), Exports (its export configurations and runs), History (the
audit trail of it, its exports and their runs); beside them the Estimated Audience Size and the
Targeting Summary."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import ipywidgets as w

from ..errors import WorkbenchError
from .changes import CHANGE_COLUMNS, change_rows
from .composition import LABELS, attribute_label, shown
from .style import DASH, badge, day, escape, number, percent, stale_note
from .widgets import Table
from .work import one_line, run_soon

if TYPE_CHECKING:
    from .navigator import Navigator

COMPOSITION_LABELS = LABELS
# The tabs take the page's width beside the side panel (the frame is 1240 px at most); a chart
# is as wide as a tab leaves room for beside its axis (a chart sized to its container collapses
# in a hidden tab: TOOLCHAIN).
CHART_WIDTH = 770
COMPOSITION_NOTE = (
    '<div class="wb-muted wb-columns-note"><b>% of this audience</b>: its members in the '
    'bucket over all its members. <b>% of total base</b>: its members in the bucket over all '
    'customers. <b>Base\'s own share</b>: all customers in the bucket over all customers '
    '(the dark mark on the chart). <b>Index vs base</b>: % of this audience ÷ base\'s own '
    'share × 100: 100 is as common as in the base, 200 twice as common.</div>')


def chart_widget(chart) -> w.Widget:
    """An interactive Altair chart drawn with vega shipped by the kernel (no CDN)."""
    import altair as alt

    if not getattr(chart_widget, "_offline", False):
        alt.JupyterChart.enable_offline()
        chart_widget._offline = True
    # No actions menu: its "Open in Vega Editor" would send the chart's data to vega.github.io.
    return alt.JupyterChart(chart, embed_options={"actions": False})


class AudienceOverview:
    """The audience page's model: the audience, what this user may do with it, its size over
    time and composition (loaded after the page shows), its exports and their runs, and the
    calls its actions make (no widgets)."""

    def __init__(self, wb, audience_id: int):
        self.wb = wb
        self.audience = wb.audiences.get(audience_id)
        self.allowed = wb.audiences.actions(self.audience)
        self.history = self.composition = None

    @property
    def estimated(self) -> bool:
        """Its size can only be estimated: a draft, or an audience not processed yet."""
        return self.audience.status == "draft" or self.audience.size is None

    def load(self) -> None:
        self.history = self.wb.processing.history(self.audience.id)
        self.composition = self.wb.processing.composition(self.audience.id)

    def estimate(self):
        return self.wb.audiences.estimate(self.audience.definition)

    def processed_days(self) -> tuple[date, date] | None:
        """The first and last processed day (the range the size over time can show); None
        before the first processing."""
        if self.history.empty:
            return None
        days = list(self.history["day"])
        return days[0], days[-1]

    def exports(self) -> tuple[list, list]:
        """Its export configurations, and their latest 50 runs (newest first)."""
        exports = self.wb.exports.list(audience=self.audience.id)
        runs = [r for e in exports for r in self.wb.export_runs.history(e.id, limit=20)]
        runs.sort(key=lambda r: (r.scheduled_for, r.id), reverse=True)
        return exports, runs[:50]

    def changes(self) -> list:
        """The latest 100 changes to it, its exports and their runs (newest first)."""
        return self.wb.audit_trail.entries(audience=self.audience.id, limit=100)

    def duplicate(self) -> int:
        """A new draft with its rules; its id."""
        return self.wb.audiences.duplicate(self.audience.id).id

    def activate(self) -> None:
        self.wb.audiences.activate(self.audience.id, version=self.audience.version)

    def archive(self) -> None:
        self.wb.audiences.archive(self.audience.id)


class AudiencePage:
    def __init__(self, nav: Navigator, audience_id: int, tab: str | None = None):
        self.nav = nav
        self.overview = AudienceOverview(nav.wb, audience_id)
        self.audience = self.overview.audience
        self.back = w.Button(description="← Audiences", tooltip="Back to all audiences")
        self.back.add_class("wb-link")
        self.back.on_click(lambda _b: nav.go("dashboard"))
        self.message = w.HTML()
        self.confirm = w.VBox()
        self.header = self._header()
        self.changes_table = Table(columns=CHANGE_COLUMNS, empty="No changes recorded.",
                                   loading=True)
        self.tabs = w.Tab(children=[self._details(), self._composition(), self._exports(),
                                    self.changes_table],
                          titles=("Details", "Composition", "Exports", "History"))
        self.tabs.add_class("wb-tabs")
        self.tabs.layout.flex, self.tabs.layout.min_width = "1 1 0", "0"
        if tab == "exports":
            self.tabs.selected_index = 2
        side = self._side()
        self._show_size()
        self.widget = w.VBox([self.header, self.message, self.confirm,
                              w.HBox([self.tabs, side], layout=w.Layout(gap="20px"))],
                             layout=w.Layout(gap="6px"))
        self.start.observe(lambda _c: self._draw_history(), "value")
        self.end.observe(lambda _c: self._draw_history(), "value")
        self.zoom.observe(lambda _c: self._draw_history(), "value")
        self.attribute.observe(lambda _c: self._draw_composition(), "value")
        run_soon(self.load, nav.background)

    def _header(self) -> w.Widget:
        audience = self.audience
        self.buttons = {}
        for name, label, icon in (("edit", "Edit", "pencil"), ("activate", "Activate", "check"),
                                  ("duplicate", "Duplicate", "copy"),
                                  ("archive", "Archive", "archive"),
                                  ("export", "Export", "upload")):
            button = w.Button(description=label, icon=icon, tooltip=label)
            button.on_click(lambda _b, name=name: self.act(name))
            self.buttons[name] = button
        allowed = self.overview.allowed
        primary = "activate" if "activate" in allowed else "export"
        self.buttons[primary].add_class("wb-primary")
        shown = [self.buttons[n] for n in ("edit", "duplicate", "archive", "activate", "export")
                 if n in allowed]
        title = w.HTML(f'<span class="wb-title">{escape(audience.name)}</span> '
                       f'{badge(audience.status)}')
        header = w.HBox([w.HBox([self.back, title], layout=w.Layout(align_items="center")),
                         w.HBox(shown, layout=w.Layout(gap="8px"))],
                        layout=w.Layout(justify_content="space-between", align_items="center"))

        return header

    def _details(self) -> w.Widget:
        self.start = w.DatePicker(description="From", layout=w.Layout(width="220px"))
        self.end = w.DatePicker(description="To", layout=w.Layout(width="220px"))
        # The y-axis starts at 0 (sizes compare honestly); zoomed, it spans the data, so that
        # 17.2k → 17.4k does not read flat.
        self.zoom = w.ToggleButton(description="Zoom to the data", icon="search-plus",
                                   tooltip="Start the size axis at the smallest size shown, "
                                           "not at 0")
        self.chart_box = w.Box([_loading("the size over time")])
        self.details_note = w.HTML()
        details = w.VBox([w.HBox([self.start, self.end, self.zoom],
                                 layout=w.Layout(gap="12px", align_items="center")),
                          self.chart_box, self.details_note])
        return details

    def _composition(self) -> w.Widget:
        self.attribute = w.Dropdown(description="View Attribute",
                                    style={"description_width": "initial"},
                                    layout=w.Layout(width="340px"))
        self.composition_chart = w.Box([_loading("the composition")])
        self.composition_table = Table(columns=[
            {"key": "bucket", "label": "Bucket"},
            {"key": "count", "label": "Members", "numeric": True},
            {"key": "percent_of_audience", "label": "% of this audience", "numeric": True,
             "title": "Its members in the bucket over all its members"},
            {"key": "percent_of_base", "label": "% of total base", "numeric": True,
             "title": "Its members in the bucket over all customers (SPEC 6)"},
            {"key": "base_share", "label": "Base's own share", "numeric": True,
             "title": "All customers in the bucket over all customers"},
            {"key": "index", "label": "Index vs base", "numeric": True,
             "title": "% of this audience ÷ base's own share × 100 (100: as in the base)"}],
            loading=True, empty="Not processed yet: composition appears after the first "
                                "nightly processing.")
        self.composition_note = w.HTML()
        composition = w.VBox([self.attribute, self.composition_chart, self.composition_table,
                              self.composition_note])
        return composition

    def _exports(self) -> w.Widget:
        nav = self.nav
        from .exports import EXPORT_COLUMNS, RUN_COLUMNS, ExportActions, follow

        self.exports_table = Table(columns=[c for c in EXPORT_COLUMNS if c["key"] not in (
            "audience", "created_by")] + [{"key": "actions", "label": "Actions"}],
            empty="No exports of this audience yet.", loading=True)
        self.runs_table = Table(columns=[c for c in RUN_COLUMNS if c["key"] not in (
            "audience", "type", "format", "destination", "created_by")],
            empty="No runs yet.", loading=True)
        self.export_preview = w.HTML()
        self.export_actions = ExportActions(
            nav, self.message, self.confirm, self._fill_exports,
            lambda run_id: follow(nav, run_id, self._fill_exports), self.export_preview)
        self.exports_table.on_action(self.export_actions)
        exports = w.VBox([w.HTML("<h4>Export configurations</h4>"), self.exports_table,
                          self.export_preview, w.HTML("<h4>Run history</h4>"), self.runs_table])
        return exports

    def _side(self) -> w.Widget:
        audience = self.audience
        self.size = w.HTML()
        self.share = w.HTML()
        self.changed = w.HTML()  # the last processed day's +added / −removed
        summary = "".join(f"<li>{escape(s)}</li>" for s in audience.summary)
        side = w.VBox([w.HTML("<h4>Estimated Audience Size</h4>"), self.size,
                       w.VBox([self.share, self.changed]),
                       w.HTML("<h4 style='margin-top:14px'>Targeting Summary</h4>"),
                       w.HTML(f'<ul class="wb-summary">{summary}</ul>' if summary else
                              '<div class="wb-muted">No rules: the whole customer base.</div>'),
                       w.HTML(self._status_note())], layout=w.Layout(width="340px"))
        side.add_class("wb-panel")
        side.layout.flex = "none"
        return side

    # -- loading --------------------------------------------------------------------------------

    def load(self) -> None:
        """Everything below the header: history, composition, exports (after the page shows)."""
        if self.overview.estimated:
            self._estimate_draft()
        self.overview.load()
        self._fill_history()
        self._fill_composition()
        self._fill_exports()

    def _estimate_draft(self) -> None:
        try:
            estimate = self.overview.estimate()
        except WorkbenchError as exc:
            self.size.value = f'<div class="wb-big">{DASH}</div>'
            self.share.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'
            return
        self.size.value = f'<div class="wb-big">{number(estimate.size)}</div>'
        self.share.value = (f'<div class="wb-muted">{estimate.percent_of_base or 0:.2f}% of '
                            f'{number(estimate.base)} customers<br>estimated '
                            f'{escape(estimate.as_of_text)}' + (
                                ' (drafts are not processed)' if self.audience.status == "draft"
                                else ' (not processed yet)') + '</div>')

    def _not_processed_yet(self) -> str:
        days = self.nav.wb.settings.backfill_days
        if days and self.audience.activated_on == self.nav.wb.today():
            return (f"Its last {days} days are being processed in the background (a backfill "
                    "started when it was activated); reload the page in a minute or two to "
                    "see its size over time. From then on it is processed nightly.")
        return "It is processed nightly; its size over time appears after the first run."

    def _fill_history(self) -> None:
        days = self.overview.processed_days()
        if days is None:
            self.chart_box.children = [w.HTML(
                '<div class="wb-empty">Not processed yet. ' + (
                    "Drafts are not tracked: activate it to start nightly processing."
                    if self.audience.status == "draft" else
                    self._not_processed_yet()) + "</div>")]
            self.start.disabled = self.end.disabled = True
            return
        self._range = days
        self.changed.value = self._changes_figure()
        self._filling = True
        self.start.min = self.end.min = self._range[0]
        self.start.max = self.end.max = self._range[1]
        self.start.value, self.end.value = self._range
        self._filling = False
        self._draw_history()

    def _draw_history(self) -> None:
        if getattr(self, "_filling", False) or not hasattr(self, "_range"):
            return
        from .. import charts

        start = self.start.value or self._range[0]
        end = self.end.value or self._range[1]
        if start > end:
            self.details_note.value = ('<div class="wb-error">“From” is after “To”: pick a '
                                       'range inside '
                                       f'{self._range[0]} – {self._range[1]}.</div>')
            return
        self.details_note.value = (f'<div class="wb-muted">Processed days {self._range[0]} – '
                                   f'{self._range[1]}; the last point is the estimated size '
                                   'on the right.</div>')
        self.history_chart = charts.size_and_changes(
            self.overview.history, start, end, title="Audience size over time",
            zoom=self.zoom.value, width=CHART_WIDTH,
            holdout=self.audience.definition.holdout_percent)  # both groups (SPEC 6)
        self.chart_box.children = [chart_widget(self.history_chart)]

    def _fill_composition(self) -> None:
        frame = self.overview.composition
        self.composition_table.loading = False
        if frame.empty:
            self.composition_chart.children = []
            self.composition_table.rows = []
            self.attribute.disabled = True
            return
        order = list(COMPOSITION_LABELS)
        names = sorted(dict.fromkeys(frame["attribute"]),
                       key=lambda n: (order.index(n) if n in order else len(order), n))
        self.attribute.options = [(COMPOSITION_LABELS.get(n, n), n) for n in names]
        self.attribute.value = names[0]
        self._draw_composition()

    def _draw_composition(self) -> None:
        from .. import charts

        attribute = self.attribute.value
        composition = self.overview.composition
        if attribute is None or composition.empty:
            return
        currency = self.nav.wb.settings.currency
        rows = shown(composition, attribute, currency)
        label = attribute_label(attribute, currency)
        self.composition_table.rows = [{"id": str(i), "cells": {
            "bucket": escape(r["bucket"]), "count": number(r["count"]),
            "percent_of_audience": percent(r["percent_of_audience"]),
            "percent_of_base": percent(r["percent_of_base"]),
            "base_share": percent(r["base_share"]),
            "index": DASH if r["index"] is None or r["index"] != r["index"]  # NaN
            else f'{r["index"]:.0f}'}} for i, r in enumerate(rows.to_dict("records"))]
        self.composition_note.value = COMPOSITION_NOTE
        title = f"Composition by {LABELS.get(attribute, attribute).lower()}"
        self.composition_chart.children = [chart_widget(charts.composition(
            rows, attribute, title=title, label=label, width=CHART_WIDTH - 140))]

    def _fill_exports(self) -> None:
        from .exports import export_rows, run_rows

        exports, runs = self.overview.exports()
        self.exports_table.rows = export_rows(exports)
        self.runs_table.rows = run_rows(runs)
        self.exports_table.loading = self.runs_table.loading = False
        # Here: the export actions of the Exports tab refresh through this, and change things.
        self.changes_table.rows = change_rows(self.overview.changes(), self.nav.wb.calendar.zone)
        self.changes_table.loading = False

    # -- the side panel -------------------------------------------------------------------------

    def _show_size(self) -> None:
        a = self.audience
        if self.overview.estimated:
            self.size.value = f'<div class="wb-big">{DASH}<span class="wb-spinner"></span></div>'
            self.share.value = '<div class="wb-muted">estimating…</div>'
            return
        self.size.value = f'<div class="wb-big">{number(a.size)}</div>'
        self.share.value = (f'<div class="wb-muted">{percent(a.percent_of_base)} of '
                            f'{number(a.base)} customers<br>as of {day(a.last_processed_on)}'
                            '</div>' + stale_note(a.behind)) + self._groups_note()

    def _groups_note(self) -> str:
        """Both groups' sizes, for an audience with a holdout (SPEC 6)."""
        a = self.audience
        if not a.definition.holdout_percent or a.size is None:
            return ""
        return (f'<div class="wb-muted">Treatment {number(a.treatment_size)} · Holdout '
                f'{number(a.holdout_size or 0)} ({a.definition.holdout_percent}%, not '
                'exported)</div>')

    def _changes_figure(self) -> str:
        """``+185 / −149 yesterday``: the last processed day's members added and removed."""
        last = self.overview.history.iloc[-1]
        when = ("yesterday" if last["day"] == self.nav.wb.calendar.yesterday()
                else f"on {day(last['day'])}")
        return (f'<div class="wb-changes" title="Members who joined and left on the last '
                f'processed day"><span class="wb-added">+{number(last["added"])}</span> / '
                f'<span class="wb-removed">−{number(last["removed"])}</span> '
                f'<span class="wb-muted">{when}</span></div>')

    def _status_note(self) -> str:
        a = self.audience
        lines = [f"Created {day(a.created_on)} by {escape(a.created_by)}"]
        if a.activated_on:
            lines.append(f"Live since {day(a.activated_on)}")
        if a.archived_on:
            lines.append(f"Archived {day(a.archived_on)}: no longer processed")
        text = "<br>".join(lines)
        if a.processing_error:
            text += (f'<div class="wb-error" style="margin-top:8px">⚠ Last processing failed: '
                     f'{escape(a.processing_error)}</div>')
        return f'<div class="wb-muted" style="margin-top:14px">{text}</div>'

    def notice(self, text: str) -> None:
        self.message.value = f'<div class="wb-warning">{escape(text)}</div>'

    # -- actions --------------------------------------------------------------------------------

    def act(self, name: str) -> None:
        if name not in self.overview.allowed:
            return
        audience = self.audience
        try:
            if name == "edit":
                self.nav.go("builder", audience_id=audience.id)
            elif name == "duplicate":
                self.nav.go("builder", audience_id=self.overview.duplicate())
            elif name in ("activate", "archive"):
                self._ask(name)
            elif name == "export":
                self.nav.go("export", audience_id=audience.id)
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">{escape(one_line(exc))}</div>'

    def _ask(self, name: str) -> None:
        text = {"activate": "Activating freezes it: its rules can no longer be changed, and it "
                            "is processed every night from today.",
                "archive": "Archiving stops its nightly processing; its history stays and it "
                           "becomes read-only. This cannot be undone."}[name]
        yes = w.Button(description=f"{name.title()}", tooltip=f"Confirm {name}")
        yes.add_class("wb-primary")
        no = w.Button(description="Cancel")
        yes.on_click(lambda _b: self.confirm_action(name))
        no.on_click(lambda _b: setattr(self.confirm, "children", []))
        box = w.VBox([w.HTML(f"<b>{name.title()} “{escape(self.audience.name)}”?</b> {text}"),
                      w.HBox([yes, no], layout=w.Layout(gap="8px"))])
        box.add_class("wb-confirm")
        self.confirm.children = [box]

    def confirm_action(self, name: str) -> bool:
        self.confirm.children = []
        try:
            if name == "activate":
                self.overview.activate()
            else:
                self.overview.archive()
        except WorkbenchError as exc:
            self.message.value = f'<div class="wb-error">Not done: {escape(one_line(exc))}</div>'
            return False
        self.nav.go("audience", audience_id=self.audience.id)
        return True


def _loading(what: str) -> w.HTML:
    return w.HTML(f'<div class="wb-muted" style="padding:24px 4px">Loading {what}… '
                  '<span class="wb-spinner"></span></div>')
