"""The Overlap page, reached from the Audiences dashboard: choose 2 to 10 audiences and a day;
a heatmap of each audience's share also in each other, a table of the pairs, and for two or
three audiences a Venn diagram of the customers in exactly each combination."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from ..audiences.overlap import MAX_AUDIENCES, MIN_AUDIENCES
from .style import escape, number, percent
from .widgets import Checklist, Table
from .work import Debounced, one_line

if TYPE_CHECKING:
    from ..audiences.overlap import Overlap
    from .navigator import Navigator

COLUMNS = [{"key": "a", "label": "Audience A"}, {"key": "b", "label": "Audience B"},
           {"key": "size_a", "label": "Size of A", "numeric": True},
           {"key": "size_b", "label": "Size of B", "numeric": True},
           {"key": "both", "label": "In both", "numeric": True},
           {"key": "share_of_a", "label": "% of A in B", "numeric": True},
           {"key": "share_of_b", "label": "% of B in A", "numeric": True}]
COLOURS = ["#2563eb", "#d97706", "#059669"]


def label(audience) -> str:
    return f"#{audience.id} {audience.name}"


class OverlapPage:
    def __init__(self, nav: Navigator, audience_ids: list[int] | None = None):
        self.nav = nav
        wb = nav.wb
        # Drafts too: their overlap is evaluated as of the day (an estimate, said so).
        self.audiences = [a for a in wb.audiences.list(sort="name") if a.status != "archived"]
        self._ids = {label(a): a.id for a in self.audiences}
        chosen = [label(a) for a in self.audiences if a.id in (audience_ids or [])]
        self.choice = Checklist(values=list(self._ids), selected=chosen,
                                placeholder="Search audiences…")
        self.choice.layout = w.Layout(width="320px")
        self.day = w.DatePicker(description="As of", value=wb.audiences.processed_through()
                                or wb.calendar.yesterday(), layout=w.Layout(width="230px"))
        self.note = w.HTML()
        self.heatmap = w.Box()
        self.venn = w.HTML()
        self.table = Table(columns=COLUMNS, empty="Choose two audiences or more.")
        self.result: Overlap | None = None
        self._work = Debounced(self._compute, self._show, busy=self._busy,
                               background=nav.background)
        back = w.Button(description="Audiences", icon="arrow-left", tooltip="Back to the list")
        back.on_click(lambda _b: nav.go("dashboard"))
        self.choice.observe(lambda _c: self.refresh(), "selected")
        self.day.observe(lambda _c: self.refresh(), "value")
        header = w.HBox([w.HTML('<div class="wb-title">Overlap</div>'), back],
                        layout=w.Layout(justify_content="space-between", align_items="center"))
        side = w.VBox([w.HTML('<div class="wb-muted">Audiences to compare</div>'), self.choice,
                       self.day],
                      layout=w.Layout(gap="8px", min_width="330px"))
        charts = w.HBox([self.heatmap, self.venn], layout=w.Layout(gap="24px",
                                                                  flex_flow="row wrap"))
        main = w.VBox([self.note, charts, self.table], layout=w.Layout(gap="12px", flex="1"))
        self.widget = w.VBox([header, w.HBox([side, main], layout=w.Layout(gap="24px"))],
                             layout=w.Layout(gap="8px"))
        self.refresh()

    @property
    def chosen(self) -> list[int]:
        return [self._ids[text] for text in self.choice.selected if text in self._ids]

    def refresh(self) -> None:
        ids = self.chosen
        self.nav.address({"page": "overlap", **({"audiences": ",".join(map(str, ids))}
                                                 if ids else {})})
        if not MIN_AUDIENCES <= len(ids) <= MAX_AUDIENCES:
            self._work.cancel()  # a pending request answers nothing now: no longer loading
            self._busy(False)
            self.result = None
            self.heatmap.children, self.venn.value, self.table.rows = [], "", []
            self.note.value = (f'<div class="wb-muted">Choose {MIN_AUDIENCES} to '
                               f'{MAX_AUDIENCES} audiences ({len(ids)} chosen).</div>'
                               if len(ids) <= MAX_AUDIENCES else
                               f'<div class="wb-error">At most {MAX_AUDIENCES} audiences: '
                               f'{len(ids)} are chosen; untick some.</div>')
            return
        self._work.request(ids, self.day.value)

    def _compute(self, ids, as_of):
        return self.nav.wb.audiences.overlap_of(ids, as_of)

    def _busy(self, busy: bool) -> None:
        self.table.loading = busy

    def _show(self, result: Overlap | None, error: Exception | None) -> None:
        from .. import charts
        from .audience import chart_widget

        if error is not None:
            self.result = None
            self.note.value = f'<div class="wb-error">{escape(one_line(error))}</div>'
            self.heatmap.children, self.venn.value, self.table.rows = [], "", []
            return
        self.result = result
        frame = result.frame()
        estimated = [f"#{a.id}" for a in result.audiences if a.source == "evaluated"]
        self.note.value = (
            f'<div class="wb-muted">As of {result.as_of}: ' + (
                "from the memberships kept by processing that day." if not estimated else
                f"an estimate for {', '.join(estimated)} (evaluated as of the day: "
                "drafts, or a day not processed), kept memberships for the others.")
            + " Each cell: the share of the row audience's members also in the column "
              "audience.</div>")
        self.heatmap_chart = charts.overlap_heatmap(frame, title="Share of members in both")
        self.heatmap.children = [chart_widget(self.heatmap_chart)]
        self.venn.value = venn(result) if len(result.audiences) <= 3 else ""
        self.table.rows = [{"id": str(i), "cells": {
            "a": escape(f"#{r.audience_a} {r.name_a}"), "b": escape(f"#{r.audience_b} {r.name_b}"),
            "size_a": number(r.size_a), "size_b": number(r.size_b), "both": number(r.both),
            "share_of_a": percent(r.share_of_a), "share_of_b": percent(r.share_of_b)}}
            for i, r in enumerate(frame.itertuples())]


# -- the Venn diagram -------------------------------------------------------------------------------

# Circle centres and where each region's count goes, for 2 and 3 audiences (a schematic
# diagram: the areas are not to scale; the counts are the customers in exactly that region).
_CIRCLES = {2: [(120, 120), (220, 120)], 3: [(130, 115), (230, 115), (180, 200)]}
_RADIUS = 85
_SPOTS = {2: {(0,): (85, 125), (1,): (255, 125), (0, 1): (170, 125)},
          3: {(0,): (100, 95), (1,): (260, 95), (2,): (180, 250), (0, 1): (180, 85),
              (0, 2): (135, 175), (1, 2): (225, 175), (0, 1, 2): (180, 140)}}


def venn(result: Overlap) -> str:
    """An SVG Venn diagram of 2 or 3 audiences with the customers in exactly each region."""
    count = len(result.audiences)
    ids = [a.id for a in result.audiences]
    width, height = (340, 250) if count == 2 else (360, 320)
    shapes = [f'<circle cx="{x}" cy="{y}" r="{_RADIUS}" fill="{COLOURS[i]}" '
              f'fill-opacity="0.18" stroke="{COLOURS[i]}" stroke-width="2"/>'
              for i, (x, y) in enumerate(_CIRCLES[count])]
    for region in result.regions():
        key = tuple(ids.index(audience_id) for audience_id in region["in"])
        x, y = _SPOTS[count][key]
        shapes.append(f'<text x="{x}" y="{y}" text-anchor="middle" font-size="13" '
                      f'font-weight="600" fill="#1f2933">{number(region["customers"])}</text>')
    legend = "".join(
        f'<div style="display:flex;align-items:center;gap:6px;font-size:12px">'
        f'<span style="width:12px;height:12px;border-radius:50%;background:{COLOURS[i]};'
        f'display:inline-block"></span>{escape(label(a))} ({number(result.size(i))})</div>'
        for i, a in enumerate(result.audiences))
    return (f'<div class="wb-venn"><div style="font-weight:600;margin-bottom:4px">Customers in '
            f'exactly each combination</div><svg width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="Venn diagram">'
            + "".join(shapes) + f"</svg>{legend}</div>")
