"""Charts are checked on their Vega-Lite spec, not pixels."""

from __future__ import annotations

from datetime import date

import pandas as pd

from workbench import charts

HISTORY = pd.DataFrame({
    "day": [date(2026, 3, d) for d in (1, 2, 3)], "size": [10, 12, 11],
    "base": [100, 100, 101], "percent_of_base": [10.0, 12.0, 10.89],
    "added": [10, 3, 0], "removed": [0, 1, 1]})

COMPOSITION = pd.DataFrame({
    "attribute": ["age"] * 3 + ["gender"],
    "bucket": ["<18", "18–24", "unknown", "female"], "count": [1, 5, 0, 6],
    "percent_of_audience": [16.67, 83.33, 0.0, 100.0], "base_count": [10, 50, 5, 60],
    "percent_of_base": [10.0, 50.0, 5.0, 60.0]})


def test_size_over_time_is_a_line_with_points_and_tooltips():
    spec = charts.size_over_time(HISTORY).to_dict()
    assert [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
            for layer in spec["layer"]] == ["line", "point"]
    encoding = spec["layer"][0]["encoding"]
    assert encoding["x"]["field"] == "day" and encoding["y"]["field"] == "size"
    assert {t["field"] for t in encoding["tooltip"]} == {
        "day", "size", "percent_of_base", "added", "removed"}
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert [v["size"] for v in values] == [10, 12, 11]


def test_size_over_time_takes_a_date_range():
    spec = charts.size_over_time(HISTORY, start=date(2026, 3, 2), end=date(2026, 3, 2)).to_dict()
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert [v["day"] for v in values] == ["2026-03-02"]


def test_composition_bars_keep_bucket_order_and_show_percentages():
    spec = charts.composition(COMPOSITION, "age").to_dict()
    mark = spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]
    assert mark == "bar"
    assert spec["encoding"]["y"]["sort"] == ["<18", "18–24", "unknown"]
    assert {t["field"] for t in spec["encoding"]["tooltip"]} == {
        "bucket", "count", "percent_of_audience", "percent_of_base"}
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert [v["count"] for v in values] == [1, 5, 0]


def test_static_renderer_draws_svg_without_network():
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(charts.size_over_time(HISTORY).to_dict())
    assert svg.startswith("<svg") and "Audience size" in svg
