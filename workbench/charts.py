"""Charts as functions returning ``alt.Chart`` (tested on ``to_dict()``, drawn by the caller).

Renderers: in JupyterLab and Voilà call ``use_offline_renderer()`` (the default one loads vega
from a CDN and shows nothing without internet); papermill outputs use ``use_static_renderer()``
(SVG via vl-convert), which keeps the audit notebook readable anywhere.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from .imports import skip_slow_optional_modules

skip_slow_optional_modules()
import altair as alt  # noqa: E402 - after the line above, on purpose

if TYPE_CHECKING:
    import pandas as pd

WIDTH = 560  # fixed: a chart in a hidden Tab with width="container" collapses (TOOLCHAIN)


def _days_axis() -> alt.X:
    """Processed days on x: read as UTC dates (a browser elsewhere would shift them by its
    offset), labelled by day, never subdivided into hours."""
    return alt.X("utcyearmonthdate(day):T", title="Day",
                 axis=alt.Axis(format="%b %d", tickMinStep=86_400_000, labelOverlap=True))


def size_over_time(history: pd.DataFrame, start: date | None = None, end: date | None = None,
                   title: str = "Audience size") -> alt.Chart:
    """Line with points of size per processed day, tooltips with % of base and changes.
    ``history``: day, size, base, percent_of_base, added, removed (wb.processing.history)."""
    frame = history.copy()
    frame["day"] = frame["day"].astype(str)
    if start is not None:
        frame = frame[frame["day"] >= str(start)]
    if end is not None:
        frame = frame[frame["day"] <= str(end)]
    base = alt.Chart(frame, title=title, width=WIDTH, height=240).encode(
        x=_days_axis(),
        y=alt.Y("size:Q", title="Members", scale=alt.Scale(zero=True)),
        tooltip=[alt.Tooltip("utcyearmonthdate(day):T", title="Day"),
                 alt.Tooltip("size:Q", format=",", title="Size"),
                 alt.Tooltip("percent_of_base:Q", format=".2f", title="% of base"),
                 alt.Tooltip("added:Q", format=",", title="Added"),
                 alt.Tooltip("removed:Q", format=",", title="Removed")])
    return base.mark_line() + base.mark_point(filled=True, size=40)


def holdout_groups(history: pd.DataFrame, percent: int, start: date | None = None,
                   end: date | None = None) -> alt.Chart:
    """The treatment and the holdout per processed day, two dashed lines with a legend: the
    layer drawn over ``size_over_time`` for an audience with a holdout (SPEC 6).
    ``history``: day, treatment, holdout (wb.processing.history)."""
    frame = history[["day", "treatment", "holdout"]].copy()
    frame["day"] = frame["day"].astype(str)
    if start is not None:
        frame = frame[frame["day"] >= str(start)]
    if end is not None:
        frame = frame[frame["day"] <= str(end)]
    names = {"treatment": "Treatment (exported)",
             "holdout": f"Holdout {percent}% (not exported)"}
    frame = frame.rename(columns=names)
    # Above the plot, where it hides no line; the solid line is every member (the title).
    group = alt.Color("group:N", title=None, legend=alt.Legend(
        orient="top", symbolType="stroke", symbolDash=[5, 3], symbolStrokeWidth=2),
                      scale=alt.Scale(domain=list(names.values()),
                                      range=["#54a24b", "#e45756"]))
    lines = alt.Chart(frame).transform_fold(list(names.values()), as_=["group", "members"]) \
        .encode(x=_days_axis(), y=alt.Y("members:Q", title="Members"), color=group,
                tooltip=[alt.Tooltip("utcyearmonthdate(day):T", title="Day"),
                         alt.Tooltip("group:N", title="Group"),
                         alt.Tooltip("members:Q", format=",", title="Members")])
    return lines.mark_line(strokeDash=[5, 3]) + lines.mark_point(filled=True, size=30)


def composition(frame: pd.DataFrame, attribute: str, title: str | None = None) -> alt.Chart:
    """Bars of members per bucket, in the buckets' order, with count and % tooltips.
    ``frame``: attribute, bucket, count, percent_of_audience, percent_of_base (the bucket's
    members over the whole base), base_count, base_share."""
    rows = frame[frame["attribute"] == attribute]
    order = list(rows["bucket"])
    return alt.Chart(rows, title=title or f"Composition by {attribute}", width=WIDTH,
                     height=max(120, 26 * len(order))).mark_bar().encode(
        y=alt.Y("bucket:N", sort=order, title=attribute),
        x=alt.X("count:Q", title="Members"),
        tooltip=[alt.Tooltip("bucket:N", title=attribute),
                 alt.Tooltip("count:Q", format=",", title="Members"),
                 alt.Tooltip("percent_of_audience:Q", format=".2f", title="% of audience"),
                 alt.Tooltip("percent_of_base:Q", format=".2f", title="% of total base")])


def sizes_by_audience(histories: pd.DataFrame, title: str = "Active audiences") -> alt.Chart:
    """Size over time of several audiences in one chart, a colour each
    (``wb.processing.histories()``); the overview of a processing run."""
    frame = histories.copy()
    frame["day"] = frame["day"].astype(str)
    base = alt.Chart(frame, title=title, width=WIDTH, height=260).encode(
        x=_days_axis(), y=alt.Y("size:Q", title="Members"),
        color=alt.Color("audience:N", title="Audience"),
        tooltip=[alt.Tooltip("audience:N"), alt.Tooltip("utcyearmonthdate(day):T", title="Day"),
                 alt.Tooltip("size:Q", format=","),
                 alt.Tooltip("percent_of_base:Q", format=".2f", title="% of base")])
    return base.mark_line() + base.mark_point(filled=True, size=30)


def use_offline_renderer() -> None:
    """Interactive charts with no internet: the jupyter renderer, vega served from the kernel."""
    alt.renderers.enable("jupyter", offline=True)


def use_static_renderer(kind: str = "svg") -> None:
    """Static charts rendered in the kernel by vl-convert (papermill audit notebooks)."""
    alt.renderers.enable(kind)
