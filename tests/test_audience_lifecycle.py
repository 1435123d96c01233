"""Drafts, optimistic concurrency, activation freeze through every path, list, permissions,
members and explain."""

from __future__ import annotations

import pytest
from sqlalchemy import update

import workbench
from tests.audience_data import D
from workbench.errors import Conflict, InvalidInput, PermissionDenied
from workbench.store.audiences import AudienceRecords
from workbench.store.schema import audiences as audiences_table

RULES = [{"attribute": "gender", "op": "in", "value": ["female"]}]


@pytest.fixture
def audiences(sample_wb):
    return sample_wb.audiences


def test_create_makes_a_draft_by_the_current_user(audiences, sample_wb):
    created = audiences.create({"name": "  Women ", "rules": RULES})
    assert (created.status, created.version, created.name) == ("draft", 1, "Women")
    assert created.created_by == "ada" and created.created_on == sample_wb.today()
    assert created.summary == ["Gender in female"]
    assert created.to_json()["definition"]["rules"][0]["value"] == ["female"]


def test_a_save_based_on_an_older_version_is_refused(audiences):
    draft = audiences.create({"name": "Edit me", "rules": RULES})
    first = audiences.update(draft.id, {"name": "Edit me", "rules": []}, version=1)
    assert first.version == 2
    with pytest.raises(Conflict, match="was changed by ada \\(version 2\\) after the version 1"):
        audiences.update(draft.id, {"name": "Stale", "rules": RULES}, version=1)
    assert audiences.get(draft.id).name == "Edit me"
    assert [v["version"] for v in audiences.versions(draft.id)] == [1, 2]


def test_activation_freezes_through_the_api(audiences, sample_wb):
    draft = audiences.create({"name": "Freeze", "rules": RULES})
    active = audiences.activate(draft.id)
    assert active.status == "active" and active.activated_on == sample_wb.today()
    with pytest.raises(Conflict, match="is active and frozen; duplicate it"):
        audiences.update(draft.id, {"name": "Thaw", "rules": []}, version=active.version)
    with pytest.raises(Conflict, match="already active"):
        audiences.activate(draft.id)


def test_activation_freezes_in_the_store_records(audiences, sample_wb):
    active = audiences.activate(audiences.create({"name": "Store freeze", "rules": RULES}).id)
    records = AudienceRecords(sample_wb.store)
    with pytest.raises(Conflict, match="active and frozen"):
        records.update_definition(active.id, name="x", description="", definition="{}",
                                  summary="[]", base_version=active.version, user="ada")


def test_activation_freezes_even_for_raw_sql_against_the_store(audiences, sample_wb):
    active = audiences.activate(audiences.create({"name": "Trigger", "rules": RULES}).id)
    with pytest.raises(Exception, match="audience is active and frozen"):
        with sample_wb.store.begin() as conn:
            conn.execute(update(audiences_table).where(audiences_table.c.id == active.id)
                         .values(definition='{"name": "hacked", "rules": []}'))
    # Processing results are not part of the freeze.
    with sample_wb.store.begin() as conn:
        conn.execute(update(audiences_table).where(audiences_table.c.id == active.id)
                     .values(size=3, base=6, last_processed_on=D))
    assert audiences.get(active.id).percent_of_base == 50.0


def test_duplicate_makes_an_editable_draft(audiences):
    active = audiences.activate(audiences.create({"name": "Original", "rules": RULES}).id)
    copy = audiences.duplicate(active.id)
    assert (copy.status, copy.name, copy.version) == ("draft", "Copy of Original", 1)
    assert copy.definition.rules == active.definition.rules


def test_list_searches_name_and_creator_and_sorts(sample_wb, tmp_path):
    from workbench.home import init_home

    root = tmp_path / "h"
    init_home(root, admin="ada")
    settings = root / "workbench.toml"
    settings.write_text(settings.read_text().replace("[users]\n", '[users]\nzoe = "analyst"\n'))
    with workbench.open(root, user="ada") as ada, workbench.open(root, user="zoe") as zoe:
        ada.audiences.create({"name": "Gold buyers", "rules": []})
        zoe.audiences.create({"name": "app users", "rules": []})
        ada.audiences.create({"name": "Lapsed 100%_ buyers", "rules": []})
        names = lambda **kw: [a.name for a in ada.audiences.list(**kw)]  # noqa: E731
        assert names(sort="name") == ["app users", "Gold buyers", "Lapsed 100%_ buyers"]
        assert names(sort="-name") == ["Lapsed 100%_ buyers", "Gold buyers", "app users"]
        assert names(sort="created") == ["Gold buyers", "app users", "Lapsed 100%_ buyers"]
        assert names(sort="-created")[0] == "Lapsed 100%_ buyers"
        assert names(search="BUYERS") == ["Lapsed 100%_ buyers", "Gold buyers"]
        assert names(search="zoe") == ["app users"]
        assert names(search="ada gold") == ["Gold buyers"]
        assert names(search="%_") == ["Lapsed 100%_ buyers"]
        with pytest.raises(InvalidInput, match="unknown sort 'bulk'"):
            ada.audiences.list(sort="bulk")
        with pytest.raises(InvalidInput, match="unknown status 'live'; use one of draft, "):
            ada.audiences.list(status="live")
        frame = ada.audiences.frame()
        assert list(frame.columns)[:3] == ["id", "status", "name"] and len(frame) == 3


def test_list_sorts_by_size_and_share_and_filters_by_status(tmp_path):
    from workbench.home import init_home

    root = tmp_path / "h"
    init_home(root, admin="ada")
    with workbench.open(root, user="ada") as wb:
        made = {name: wb.audiences.create({"name": name, "rules": []}).id
                for name in ("Small share", "Big", "Draft", "Unprocessed")}
        # As processing would have stored them: size of base (the share sorts otherwise).
        stored = {"Small share": (500, 10_000), "Big": (900, 1_000), "Unprocessed": (None, None)}
        with wb.store.begin() as conn:
            for name, (size, base) in stored.items():
                conn.execute(update(audiences_table).where(audiences_table.c.id == made[name])
                             .values(status="active", size=size, base=base))
        names = lambda **kw: [a.name for a in wb.audiences.list(**kw)]  # noqa: E731
        assert names(sort="-size") == ["Big", "Small share", "Unprocessed", "Draft"]
        assert names(sort="size")[2:] == ["Small share", "Big"]  # never processed first
        assert names(sort="-percent")[:2] == ["Big", "Small share"]  # 90% before 5%
        assert names(sort="percent")[2:] == ["Small share", "Big"]
        assert names(status="draft") == ["Draft"]
        assert names(status="active", sort="-size") == ["Big", "Small share", "Unprocessed"]
        frame = wb.audiences.frame(sort="-size", status="active")
        # Nullable integers: 900, not 900.0; <NA>, not NaN.
        assert [str(frame[c].dtype) for c in ("id", "size", "base")] == ["Int64"] * 3
        assert frame["size"].tolist()[:2] == [900, 500] and frame["size"].isna().tolist()[2]
        assert frame["percent_of_base"].tolist()[:2] == [90.0, 5.0]
        assert "900" in frame.to_string() and "900.0" not in frame.to_string()


def test_a_duplicate_name_is_a_warning_on_every_save(audiences):
    first = audiences.create({"name": "Twins", "rules": RULES})
    assert first.warnings == []
    second = audiences.create({"name": " twins ", "rules": []})  # case and spaces aside
    [warning] = second.warnings
    assert warning.field == "name"
    assert str(warning) == (f"name: another audience is already called “twins”: #{first.id} "
                            "(a draft); a different name tells them apart")
    assert audiences.get(second.id).name == "twins"  # saved all the same
    renamed = audiences.update(second.id, {"name": "Twin B", "rules": []}, version=1)
    assert renamed.warnings == []
    again = audiences.update(second.id, {"name": "TWINS", "rules": []}, version=2)
    assert [w.field for w in again.warnings] == ["name"]
    audiences.archive(audiences.activate(first.id).id)  # a retired name may be reused
    assert audiences.update(second.id, {"name": "Twins", "rules": []}, version=3).warnings == []


def test_save_draft_keeps_one_draft_of_a_name(audiences):
    """The analyst notebook's save: run again, it updates the draft it made."""
    first = audiences.save_draft({"name": "Notebook draft", "rules": RULES})
    again = audiences.save_draft({"name": "Notebook draft", "rules": []})
    assert again.id == first.id and again.version == 2 and again.warnings == []
    assert len([a for a in audiences.list(search="Notebook draft")]) == 1
    audiences.activate(first.id)  # frozen: the next save starts a new draft, and says so
    fresh = audiences.save_draft({"name": "Notebook draft", "rules": RULES})
    assert fresh.id != first.id and fresh.status == "draft"
    assert [w.field for w in fresh.warnings] == ["name"]


def test_viewers_read_but_cannot_change(sample_wb):
    draft = sample_wb.audiences.create({"name": "Mine", "rules": RULES})
    with workbench.open(sample_wb.home.root, user="vic") as viewer:
        assert viewer.audiences.get(draft.id).name == "Mine"
        assert viewer.audiences.estimate({"name": "x", "rules": RULES}, as_of=D).size == 3
        for attempt in (lambda: viewer.audiences.create({"name": "x", "rules": []}),
                        lambda: viewer.audiences.update(draft.id, {"name": "x"}, version=1),
                        lambda: viewer.audiences.activate(draft.id),
                        lambda: viewer.audiences.duplicate(draft.id)):
            with pytest.raises(PermissionDenied, match="vic is a viewer"):
                attempt()


def test_members_as_of_a_day_and_before_processing(audiences):
    draft = audiences.create({"name": "Members", "rules": RULES})
    frame = audiences.members(draft.id, as_of=D)
    assert list(frame["customer_id"]) == ["ann", "eve", "fay"]
    with pytest.raises(InvalidInput, match="has not been processed yet"):
        audiences.members(draft.id)


def test_explain_says_which_rules_hold_for_one_customer(audiences):
    definition = {"name": "x", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]},
        {"attribute": "age", "op": "gte", "value": 18},
        {"attribute": "appended.loyalty_tier", "op": "in", "value": ["gold"], "exclude": True},
        {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90}]}
    fay = audiences.explain(definition, "fay", as_of=D)
    assert fay.in_base and not fay.member
    assert [(r.holds, r.outcome) for r in fay.rules] == [
        (True, "holds"), (True, "holds"), (None, "does not exclude"), (False, "does not hold")]
    assert fay.rules[1].value == 40
    ann = audiences.explain(definition, "ann", as_of=D)
    assert not ann.member and ann.rules[2].outcome == "excludes the customer"
    assert "ann is not a member as of 2026-03-10" in ann.lines()[0]
    late = audiences.explain(definition, "late", as_of=D)
    assert not late.in_base and late.lines() == [
        "late is not in the customer base as of 2026-03-10"]
    cy = audiences.explain({"name": "x", "rules": definition["rules"][1:2]}, "cy", as_of=D)
    assert cy.rules[0].outcome == "unknown, so it does not hold"


def test_objects_show_themselves_in_notebooks(audiences):
    draft = audiences.create({"name": "<b>Shown</b>", "rules": RULES})
    html = draft._repr_html_()
    assert "&lt;b&gt;Shown&lt;/b&gt;" in html and "Gender in female" in html
    estimate = audiences.estimate({"name": "x", "rules": RULES}, as_of=D)
    assert "<b>3</b> customers of 6 (50.0% of base) as of 2026-03-10" in estimate._repr_html_()


def test_explain_shows_the_windowed_value_a_rule_tested(audiences):
    definition = {"name": "x", "rules": [
        {"attribute": "rfm.monetary", "op": "gt", "value": 100, "within_days": 30},
        {"attribute": "rfm.frequency", "op": "gte", "value": 2, "within_days": 30},
        {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90}]}
    ann = audiences.explain(definition, "ann", as_of=D)
    # All-time ann spent 300.00 in 3 purchases; in the last 30 days 50.00 in 1.
    assert [str(r.value) for r in ann.rules] == ["50.00", "1", "3"]
    assert [r.holds for r in ann.rules] == [False, False, True]


def test_date_operators_compare_the_date_of_any_timestamp_attribute(wb, write_csv):
    from tests.audience_data import load

    load(wb, write_csv)
    wb.customers.ingest("appended", write_csv(
        "v.csv", ["customer_id", "last_visit"], ["ann", "2026-03-05 10:00"],
        ["bob", "2026-03-06 00:00"]), schema={"last_visit": "timestamp"})
    size = lambda op, value: wb.audiences.estimate(  # noqa: E731
        {"name": "x", "rules": [{"attribute": "appended.last_visit", "op": op,
                                 "value": value}]}, as_of=D).size
    assert size("after", "2026-03-05") == 1
    assert size("eq", "2026-03-05") == 1
    assert size("between", ["2026-03-01", "2026-03-05"]) == 1
    assert size("within_last_days", 5) == 1  # (03-05, 03-10]: bob only
