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
    offset), labelled by day, never subdivided into hours; a point sits in the middle of its
    day, where that day's bar is (``daily_changes``)."""
    return alt.X("utcyearmonthdate(day):T", title="Day", bandPosition=0.5,
                 axis=alt.Axis(format="%b %d", tickMinStep=86_400_000, labelOverlap=True))


def _days(history: pd.DataFrame, start: date | None, end: date | None) -> pd.DataFrame:
    """The processed days from ``start`` to ``end``, the day as text (read as UTC, above)."""
    frame = history.copy()
    frame["day"] = frame["day"].astype(str)
    if start is not None:
        frame = frame[frame["day"] >= str(start)]
    if end is not None:
        frame = frame[frame["day"] <= str(end)]
    return frame


def size_over_time(history: pd.DataFrame, start: date | None = None, end: date | None = None,
                   title: str = "Audience size", *, zoom: bool = False,
                   width: int = WIDTH) -> alt.Chart:
    """Line with points of size per processed day, tooltips with % of base and changes.
    ``history``: day, size, base, percent_of_base, added, removed (wb.processing.history).
    ``zoom``: the y-axis spans the data, not 0 to the top (17.2k → 17.4k reads flat from 0)."""
    frame = _days(history, start, end)
    base = alt.Chart(frame, title=title, width=width, height=240).encode(
        x=_days_axis(),
        y=alt.Y("size:Q", title="Members" + (" (zoomed to the data)" if zoom else ""),
                scale=alt.Scale(zero=not zoom, nice=True)),
        tooltip=[alt.Tooltip("utcyearmonthdate(day):T", title="Day"),
                 alt.Tooltip("size:Q", format=",", title="Size"),
                 alt.Tooltip("percent_of_base:Q", format=".2f", title="% of base"),
                 alt.Tooltip("added:Q", format=",", title="Added"),
                 alt.Tooltip("removed:Q", format=",", title="Removed")])
    return base.mark_line() + base.mark_point(filled=True, size=40)


CHANGE_COLOURS = {"Added": "#1a7f37", "Removed": "#b42318"}


def daily_changes(history: pd.DataFrame, start: date | None = None, end: date | None = None,
                  *, width: int = WIDTH) -> alt.Chart:
    """Bars of the members added (up) and removed (down) each processed day, on the days of
    ``size_over_time`` (drawn under it by ``size_and_changes``); not the first processed day,
    when everyone was added."""
    import pandas as pd

    first = history.iloc[:1]
    if len(first) and int(first["added"].iloc[0]) == int(first["size"].iloc[0]):
        # Its first processed day everyone joined: a bar that tall would flatten the others.
        history = history.iloc[1:]
    frame = _days(history, start, end)
    rows = pd.concat([
        pd.DataFrame({"day": frame["day"], "change": "Added", "members": frame["added"],
                      "count": frame["added"]}),
        pd.DataFrame({"day": frame["day"], "change": "Removed", "members": -frame["removed"],
                      "count": frame["removed"]})], ignore_index=True)
    return alt.Chart(rows, title="Added and removed per day", width=width,
                     height=110).mark_bar(width={"band": 0.6}).encode(
        x=_days_axis(),
        y=alt.Y("members:Q", title="Members added / removed"),
        color=alt.Color("change:N", title=None, legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(CHANGE_COLOURS),
                                        range=list(CHANGE_COLOURS.values()))),
        tooltip=[alt.Tooltip("utcyearmonthdate(day):T", title="Day"),
                 alt.Tooltip("change:N", title="Change"),
                 alt.Tooltip("count:Q", format=",", title="Members")])


def size_and_changes(history: pd.DataFrame, start: date | None = None, end: date | None = None,
                     title: str = "Audience size", *, zoom: bool = False,
                     width: int = WIDTH, holdout: int = 0) -> alt.VConcatChart:
    """The Details chart: the size over time above (with the treatment and holdout groups
    over it when the audience keeps a ``holdout`` percent), the day's added and removed
    below, on one shared time axis."""
    size = size_over_time(history, start, end, title, zoom=zoom, width=width)
    if holdout:
        size = size + holdout_groups(history, holdout, start, end)
    return alt.vconcat(size, daily_changes(history, start, end, width=width),
                       spacing=8).resolve_scale(x="shared", color="independent")


def holdout_groups(history: pd.DataFrame, percent: int, start: date | None = None,
                   end: date | None = None) -> alt.LayerChart:
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


COMPOSITION_SERIES = {"This audience": "#4c78a8", "Customer base": "#1f2933"}


def composition(frame: pd.DataFrame, attribute: str, title: str | None = None, *,
                label: str | None = None, width: int = WIDTH) -> alt.LayerChart:
    """Per bucket, in the buckets' order: a bar of the audience's share of its members, the
    base's own share as a mark over it, and the index against the base beside them; tooltips
    with every number. ``frame``: attribute, bucket, count, percent_of_audience,
    percent_of_base (the bucket's members over the whole base), base_count, base_share and
    index (wb.processing.composition); ``label``: the attribute in words."""
    rows = frame[frame["attribute"] == attribute].copy()
    label = label or attribute
    order = list(rows["bucket"])
    if "index" not in rows:
        rows["index"] = None
    rows["reach"] = rows[["percent_of_audience", "base_share"]].max(axis=1)
    rows["index_text"] = ["" if i is None or i != i else f"index {i:.0f}" for i in rows["index"]]
    colour = alt.Scale(domain=list(COMPOSITION_SERIES), range=list(COMPOSITION_SERIES.values()))
    base = alt.Chart(rows, title=title or f"Composition by {label.lower()}", width=width,
                     height=max(120, 30 * len(order))).encode(
        y=alt.Y("bucket:N", sort=order, title=label),
        tooltip=[alt.Tooltip("bucket:N", title=label),
                 alt.Tooltip("count:Q", format=",", title="Members"),
                 alt.Tooltip("percent_of_audience:Q", format=".2f", title="% of this audience"),
                 alt.Tooltip("percent_of_base:Q", format=".2f", title="% of total base"),
                 alt.Tooltip("base_share:Q", format=".2f", title="Base's own share %"),
                 alt.Tooltip("index:Q", format=".0f", title="Index vs base")])
    bars = base.mark_bar().transform_calculate(series="'This audience'").encode(
        # Room on the right for the index beside the longest bar or mark.
        x=alt.X("percent_of_audience:Q", title="Share of customers in the bucket (%)",
                scale=alt.Scale(domain=[0, float(rows["reach"].max() or 1) * 1.2], nice=False)),
        color=alt.Color("series:N", title=None, scale=colour,
                        legend=alt.Legend(orient="top")))
    overlay = base.mark_tick(thickness=3, size=22).transform_calculate(
        series="'Customer base'").encode(x="base_share:Q", color=alt.Color("series:N",
                                                                            scale=colour))
    index = base.mark_text(align="left", dx=6, fontSize=11, color="#52606d").encode(
        x="reach:Q", text="index_text:N")
    return alt.layer(bars, overlay, index)


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


def overlap_heatmap(pairs: pd.DataFrame, title: str = "Overlap") -> alt.Chart:
    """Each row audience's share also in each column audience, as colour and as text (the
    diagonal: 100%). ``pairs``: ``wb.audiences.overlap()`` (one row per pair)."""
    import pandas as pd

    cells, order = [], []
    for r in pairs.itertuples():
        for label, size in ((f"#{r.audience_a} {r.name_a}", r.size_a),
                            (f"#{r.audience_b} {r.name_b}", r.size_b)):
            if label not in order:
                order.append(label)
                cells.append({"row": label, "column": label, "share": 100.0, "both": size,
                              "size": size})
        a, b = f"#{r.audience_a} {r.name_a}", f"#{r.audience_b} {r.name_b}"
        cells.append({"row": a, "column": b, "share": r.share_of_a, "both": r.both,
                      "size": r.size_a})
        cells.append({"row": b, "column": a, "share": r.share_of_b, "both": r.both,
                      "size": r.size_b})
    frame = pd.DataFrame(cells, columns=["row", "column", "share", "both", "size"])
    frame["text"] = frame["share"].map(lambda s: f"{s:.1f}%")
    side = max(160, min(WIDTH, 56 * len(order)))
    base = alt.Chart(frame, title=title, width=side, height=side).encode(
        x=alt.X("column:N", sort=order, title="…also in this audience",
                axis=alt.Axis(labelAngle=-30, labelLimit=160)),
        y=alt.Y("row:N", sort=order, title="Members of this audience…",
                axis=alt.Axis(labelLimit=180)))
    heat = base.mark_rect().encode(
        color=alt.Color("share:Q", title="% of row audience",
                        scale=alt.Scale(domain=[0, 100], scheme="blues")),
        tooltip=[alt.Tooltip("row:N", title="Members of"),
                 alt.Tooltip("column:N", title="Also in"),
                 alt.Tooltip("both:Q", format=",", title="Customers in both"),
                 alt.Tooltip("size:Q", format=",", title="Members of row audience"),
                 alt.Tooltip("share:Q", format=".2f", title="% of row audience")])
    text = base.mark_text(fontSize=11).encode(
        text="text:N",
        color=alt.condition(alt.datum.share > 55, alt.value("white"), alt.value("#1f2933")))
    return heat + text
