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
    "percent_of_base": [1.0, 5.0, 0.0, 6.0], "base_share": [10.0, 50.0, 5.0, 60.0],
    "index": [166.7, 166.7, 0.0, 166.7]})


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


def test_size_over_time_zooms_to_the_data_and_shows_daily_changes_as_bars():
    spec = charts.size_and_changes(HISTORY, zoom=True, width=700).to_dict()
    size, changes = spec["vconcat"]
    assert size["layer"][0]["encoding"]["y"]["scale"]["zero"] is False
    assert size["width"] == changes["width"] == 700 and spec["resolve"]["scale"]["x"] == "shared"
    assert changes["mark"]["type"] == "bar"
    values = spec["datasets"][changes["data"]["name"]]
    # Added up, removed down, a bar each per day.
    assert [(v["change"], v["members"]) for v in values if v["day"] == "2026-03-02"] == [
        ("Added", 3), ("Removed", -1)]
    unzoomed = charts.size_over_time(HISTORY).to_dict()
    assert unzoomed["layer"][0]["encoding"]["y"]["scale"]["zero"] is True


def test_composition_shows_the_audience_against_the_base_with_its_index():
    spec = charts.composition(COMPOSITION, "age", label="Age").to_dict()
    bars, base, index = spec["layer"]
    assert [bars["mark"]["type"], base["mark"]["type"], index["mark"]["type"]] == [
        "bar", "tick", "text"]
    assert bars["encoding"]["y"]["sort"] == ["<18", "18–24", "unknown"]
    assert bars["encoding"]["y"]["title"] == "Age"  # words, not the field's name
    assert bars["encoding"]["x"]["title"] == "Share of customers in the bucket (%)"
    assert (bars["encoding"]["x"]["field"], base["encoding"]["x"]["field"]) == (
        "percent_of_audience", "base_share")
    assert {t["title"] for t in bars["encoding"]["tooltip"]} == {
        "Age", "Members", "% of this audience", "% of total base", "Base's own share %",
        "Index vs base"}
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert [v["count"] for v in values] == [1, 5, 0]
    assert [v["index_text"] for v in values] == ["index 167", "index 167", "index 0"]


def test_static_renderer_draws_svg_without_network():
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(charts.size_over_time(HISTORY).to_dict())
    assert svg.startswith("<svg") and "Audience size" in svg


def test_composition_words_buckets_and_money_in_the_currency():
    from workbench.ui.composition import attribute_label, bucket_label, money

    assert attribute_label("monetary", "EUR") == "Monetary spend (EUR)"
    assert attribute_label("age", "EUR") == "Age"
    assert bucket_label("monetary", "500–1000", "USD") == "$500–$1,000"
    assert bucket_label("monetary", "<=0", "GBP") == "£0 or less (refunds)"
    assert bucket_label("monetary", "<=0", "SEK") == "0 SEK or less (refunds)"
    assert bucket_label("monetary", "1000+", "SEK") == "1,000+ SEK"
    assert money(1000, "CHF") == "1,000 CHF"
    assert bucket_label("recency", "31–90", "USD") == "31–90 days ago"
    assert bucket_label("recency", "366+ days", "USD") == "366+ days ago"
    assert bucket_label("recency", "never", "USD") == "never"
    assert bucket_label("frequency", "1", "USD") == "1 purchase"
    assert bucket_label("frequency", "10+", "USD") == "10+ purchases"
    assert bucket_label("age", "25–34", "USD") == "25–34"


def test_the_index_against_the_base():
    from workbench.audiences.models import index_against_base as index

    assert index(30, 100, 150, 1000) == 200.0  # 30% of the audience, 15% of the base
    assert index(10, 100, 100, 1000) == 100.0
    assert index(0, 0, 100, 1000) is None and index(5, 100, 0, 1000) is None


def test_the_first_day_everyone_joined_is_no_bar():
    first_day = HISTORY.assign(added=[10, 3, 0])  # day 1: all 10 members are new
    values = charts.daily_changes(first_day).to_dict()
    days = {v["day"] for v in next(iter(values["datasets"].values()))}
    assert days == {"2026-03-02", "2026-03-03"}
