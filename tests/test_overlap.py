"""Overlap of audiences as of a day: from kept memberships, evaluated, or both; refusals; CLI;
the workbench service's verb."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import combinations

import pytest

from tests.audience_data import D, load
from workbench.audiences.overlap import Chosen, Overlap
from workbench.errors import InvalidInput, NotFound

WOMEN = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}
BUYERS = {"name": "Recent buyers", "rules": [
    {"attribute": "rfm.frequency", "op": "gte", "value": 1, "within_days": 30}]}
VISITORS = {"name": "Store visitors", "rules": [
    {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 30}]}


@pytest.fixture
def three(wb, write_csv):
    """Three active audiences processed as of D, and a draft."""
    load(wb, write_csv)
    ids = [wb.audiences.activate(wb.audiences.create(d).id).id for d in (WOMEN, BUYERS, VISITORS)]
    wb.processing.run(D)
    draft = wb.audiences.create({**WOMEN, "name": "Women (draft)"}).id
    return wb, ids, draft


def members(wb, audience_id, as_of=D) -> set[str]:
    return set(wb.audiences.members(audience_id, as_of)["customer_id"])


def test_overlap_of_processed_audiences_comes_from_the_kept_memberships(three):
    wb, ids, _ = three
    frame = wb.audiences.overlap(ids, D)
    assert len(frame) == 3 and list(frame.columns[:4]) == ["audience_a", "name_a", "audience_b",
                                                          "name_b"]
    for row, (a, b) in zip(frame.to_dict("records"), combinations(ids, 2), strict=True):
        kept_a, kept_b = members(wb, a, None), members(wb, b, None)
        assert (row["audience_a"], row["audience_b"]) == (a, b)
        assert (row["size_a"], row["size_b"], row["both"]) == (
            len(kept_a), len(kept_b), len(kept_a & kept_b))
        assert row["share_of_a"] == round(100 * len(kept_a & kept_b) / len(kept_a), 2)
        assert row["computed_from"] == f"kept memberships of {D}"
    assert frame["both"].dtype == "Int64"  # counts are whole numbers, not floats


def test_default_day_is_the_last_processed_one(three):
    wb, ids, _ = three
    assert wb.audiences.overlap(ids[:2]).attrs["as_of"] == str(D)


def test_a_draft_or_an_unprocessed_day_is_evaluated_and_said_so(three):
    wb, (women, buyers, _), draft = three
    mixed = wb.audiences.overlap_of([women, draft], D)
    assert [a.source for a in mixed.audiences] == ["kept memberships", "evaluated"]
    assert mixed.both(0, 1) == len(members(wb, women, None))  # the same rules
    assert "estimate" in mixed.frame()["computed_from"][0]
    earlier = D - timedelta(days=1)
    row = wb.audiences.overlap([women, buyers], earlier).to_dict("records")[0]
    assert row["computed_from"] == f"evaluated as of {earlier} (estimate)"
    assert row["both"] == len(members(wb, women, earlier) & members(wb, buyers, earlier))


def test_venn_regions_add_up_to_each_audience(three):
    wb, ids, _ = three
    overlap = wb.audiences.overlap_of(ids, D)
    regions = overlap.regions()
    assert len(regions) == 7
    for i, audience_id in enumerate(ids):
        assert sum(r["customers"] for r in regions if audience_id in r["in"]) == overlap.size(i)
    everyone = members(wb, ids[0], None) & members(wb, ids[1], None) & members(wb, ids[2], None)
    assert next(r for r in regions if len(r["in"]) == 3)["customers"] == len(everyone)


@pytest.mark.parametrize(("ids", "message"), [
    ([1], "give 2 to 10 audiences, not 1"),
    (list(range(1, 12)), "give 2 to 10 audiences, not 11"),
    ([1, 2, 1], "audience 1 is given twice"),
    ([1, "x"], "audience"),
])
def test_refusals_name_what_is_allowed(three, ids, message):
    wb, _, _ = three
    with pytest.raises(InvalidInput, match=message):
        wb.audiences.overlap(ids)


def test_an_unknown_audience_is_named(three):
    wb, ids, _ = three
    with pytest.raises(NotFound, match="99"):
        wb.audiences.overlap([ids[0], 99])


def test_pairs_from_patterns():
    """The arithmetic alone: patterns (bit i: in audience i) to sizes, pairs and regions."""
    overlap = Overlap(D, [Chosen(1, "A", "kept memberships"), Chosen(2, "B", "evaluated"),
                          Chosen(3, "C", "kept memberships")],
                      {0b001: 5, 0b011: 2, 0b111: 1, 0b100: 4})
    assert [overlap.size(i) for i in range(3)] == [8, 3, 5]
    assert (overlap.both(0, 1), overlap.both(0, 2), overlap.both(1, 2)) == (3, 1, 1)
    row = overlap.pairs()[0]
    assert (row["share_of_a"], row["share_of_b"]) == (37.5, 100.0)
    assert overlap.pairs()[1]["computed_from"] == f"kept memberships of {D}"
    assert {tuple(r["in"]): r["customers"] for r in overlap.regions()}[(2,)] == 0


def test_cli_prints_pairs_and_json(three, capsys):
    from workbench.cli import main

    wb, ids, _ = three
    home = str(wb.home.root)
    assert main(["--home", home, "audience", "overlap", *map(str, ids), "--as-of", str(D)]) == 0
    out = capsys.readouterr().out
    assert f"overlap as of {D}" in out and "% OF A" in out
    assert main(["--home", home, "audience", "overlap", *map(str, ids), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["pairs"]) == 3 and data["as_of"] == str(D)
    assert main(["--home", home, "audience", "overlap", str(ids[0])]) == 2
    assert "give 2 to 10 audiences" in capsys.readouterr().err


def test_the_workbench_service_answers_overlap_as_a_read(three):
    from workbench.service import api, codec

    wb, ids, _ = three
    assert api.kind_of("audiences", "overlap") == api.READ
    assert api.kind_of("audiences", "overlap_of") == api.READ

    def over_the_wire(value):
        return codec.decode(json.loads(json.dumps(codec.encode(value))))

    frame = over_the_wire(api.call(wb, "audiences", "overlap", [ids], {"as_of": D}))
    assert frame[["audience_a", "audience_b", "both"]].equals(
        wb.audiences.overlap(ids, D)[["audience_a", "audience_b", "both"]])
    overlap = over_the_wire(api.call(wb, "audiences", "overlap_of", [ids[:2]], {}))
    assert overlap == wb.audiences.overlap_of(ids[:2])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_overlap_page_from_the_dashboard(three):
    from workbench.ui import App
    from workbench.ui.overlap import OverlapPage

    wb, ids, draft = three
    app = App(wb, background=False)
    app.page.overlap.click()
    page = app.page
    assert isinstance(page, OverlapPage) and app.location.query == {"page": "overlap"}
    assert "Choose 2 to 10 audiences (0 chosen)" in page.note.value and not page.table.rows
    page.choice.selected = [v for v in page.choice.values if v.startswith((f"#{ids[0]} ",
                                                                           f"#{ids[1]} "))]
    assert page.result is not None and len(page.table.rows) == 1
    assert "from the memberships kept by processing" in page.note.value
    assert page.venn.value.count("<circle") == 2 and page.heatmap.children
    assert app.location.query["page"] == "overlap"  # in the list's order (by name)
    assert set(app.location.query["audiences"].split(",")) == {str(ids[0]), str(ids[1])}
    chart = page.heatmap_chart.to_dict()
    assert chart["layer"][0]["mark"]["type"] == "rect"
    page.choice.selected = [*page.choice.selected,
                            next(v for v in page.choice.values if v.startswith(f"#{draft} "))]
    assert len(page.table.rows) == 3 and page.venn.value.count("<circle") == 3
    assert f"an estimate for #{draft}" in page.note.value
    page.choice.selected = page.choice.selected[:1]
    assert page.result is None and "(1 chosen)" in page.note.value and not page.table.loading


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_overlap_link_opens_with_its_audiences(three):
    from workbench.ui import App

    wb, ids, _ = three
    app = App(wb, background=False)
    app._follow({"page": "overlap", "audiences": ",".join(map(str, ids))})
    assert len(app.page.chosen) == 3 and len(app.page.table.rows) == 3
    assert app.page.venn.value.count("<circle") == 3
