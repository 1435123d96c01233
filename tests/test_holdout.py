"""Holdout groups (SPEC 6): the rule, its bounds and refusals, the freeze, processing's sizes and
memberships per group, members --group, and exports of either group."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import pytest
from sqlalchemy import update
from sqlglot import exp

from tests.audience_data import BASE, D, load
from tests.test_cli import run
from tests.test_export_configs import config, setup  # noqa: F401 - the shared setup fixture
from workbench.audiences.holdout import holdout_condition, in_holdout, threshold
from workbench.errors import Conflict, InvalidDefinition, InvalidInput
from workbench.store.schema import audiences as audiences_table

EVERYONE = {"name": "Everyone", "rules": [], "holdout_percent": 50}
IDS = [f"C{n:07d}" for n in range(4000)]


# -- the rule ------------------------------------------------------------------------------------

def engine_holdout(audience_id: int, percent: int, ids: list[str]) -> list[bool]:
    """The rule as the engines run it (the SQL processing writes), here on DuckDB."""
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t AS SELECT unnest(?) AS customer_id", [ids])
    query = exp.select(exp.alias_(holdout_condition(audience_id, percent), "h")).from_("t") \
        .order_by("customer_id")
    return [row[0] for row in connection.execute(query.sql("duckdb")).fetchall()]


def test_the_rule_is_the_md5_of_audience_and_customer_as_documented():
    # The worked example of docs/audiences.md, number for number.
    import hashlib

    assert hashlib.md5(b"17:C0000042").hexdigest()[:8] == "1e3aca53"
    assert int("1e3aca53", 16) == 507_169_363
    assert threshold(10) == 429_496_729 and threshold(20) == 858_993_459
    assert not in_holdout(17, "C0000042", 10) and in_holdout(17, "C0000042", 20)
    assert engine_holdout(17, 10, ["C0000042"]) == [False]
    assert engine_holdout(17, 20, ["C0000042"]) == [True]
    assert threshold(50) == 2 ** 31 and threshold(0) == 0


@pytest.mark.parametrize("percent", [1, 10, 25, 50])
def test_the_share_held_out_is_close_to_the_percent(percent):
    held = [in_holdout(7, customer, percent) for customer in IDS]
    assert abs(100 * sum(held) / len(IDS) - percent) < 2.5  # 4,000 ids: ±2.5 points is > 3σ
    assert engine_holdout(7, percent, IDS) == held  # the engine's SQL agrees, id by id


def test_the_bounds_hold_nobody_and_half():
    assert not any(engine_holdout(3, 0, IDS)) and not any(in_holdout(3, c, 0) for c in IDS)
    share = sum(engine_holdout(3, 50, IDS)) / len(IDS)
    assert 0.47 < share < 0.53


def test_a_customer_keeps_its_group_and_audiences_split_independently():
    first = [in_holdout(5, c, 20) for c in IDS]
    assert first == [in_holdout(5, c, 20) for c in IDS]  # stable: nothing but the two ids
    other = [in_holdout(6, c, 20) for c in IDS]
    both = sum(a and b for a, b in zip(first, other, strict=True))
    assert 0.02 < both / len(IDS) < 0.06  # independent: about 20% of 20% held out by both
    # A larger percent keeps everyone it held at a smaller one (the first P% of the range).
    assert all(in_holdout(5, c, 30) for c, held in zip(IDS, first, strict=True) if held)


@pytest.mark.parametrize(("value", "shown"), [
    (70, "70"), (-1, "-1"), (51, "51"), (2.5, "2.5"), ("10", '"10"'), (True, "true"),
    (None, "null")])
def test_a_percent_outside_0_to_50_is_refused_in_one_line(value, shown):
    from workbench.audiences.definition import AudienceDefinition

    with pytest.raises(InvalidDefinition) as raised:
        AudienceDefinition.parse({"name": "x", "holdout_percent": value})
    assert [str(p) for p in raised.value.problems] == [
        f"holdout_percent: a whole number from 0 to 50, not {shown}"]


def test_a_definition_without_it_has_no_holdout():
    from workbench.audiences.definition import AudienceDefinition

    assert AudienceDefinition.parse({"name": "x"}).holdout_percent == 0
    assert AudienceDefinition.parse({"name": "x", "holdout_percent": 50}).holdout_percent == 50


# -- the freeze ----------------------------------------------------------------------------------

def test_the_percent_is_frozen_at_activation(wb, write_csv):
    load(wb, write_csv)
    draft = wb.audiences.create({**EVERYONE, "holdout_percent": 10})
    draft = wb.audiences.update(draft.id, EVERYONE, version=draft.version)  # a draft: editable
    assert wb.audit_trail.entries(audience=draft.id)[0].changes == {
        "holdout_percent": [10, 50]}
    active = wb.audiences.activate(draft.id)
    with pytest.raises(Conflict, match="active and frozen"):
        wb.audiences.update(active.id, {**EVERYONE, "holdout_percent": 0},
                            version=active.version)
    with pytest.raises(Exception, match="audience is active and frozen"):  # even raw SQL
        with wb.store.begin() as conn:
            conn.execute(update(audiences_table).where(audiences_table.c.id == active.id)
                         .values(definition=json.dumps({**EVERYONE, "holdout_percent": 0})))
    assert wb.audiences.get(active.id).definition.holdout_percent == 50
    copy = wb.audiences.duplicate(active.id)  # the way to change it: a new draft keeps it
    assert copy.definition.holdout_percent == 50


# -- processing ----------------------------------------------------------------------------------

@pytest.fixture
def everyone(wb, write_csv):
    """The hand-made base with "Everyone" (id 1, holdout 50%) and "Women" (id 2, none)."""
    load(wb, write_csv)
    for definition in (EVERYONE, {"name": "Women", "rules": [
            {"attribute": "gender", "op": "in", "value": ["female"]}]}):
        wb.audiences.activate(wb.audiences.create(definition).id)
    return wb


def held_out(audience_id: int, customers, percent: int = 50) -> list[str]:
    return sorted(c for c in customers if in_holdout(audience_id, c, percent))


def test_processing_records_both_groups_sizes_adding_up_to_the_size(everyone):
    wb = everyone
    report = wb.processing.run(D)
    holdout = held_out(1, BASE)
    assert 0 < len(holdout) < len(BASE)  # this base splits: both groups are tested
    assert report.days[0].holdouts == {1: len(holdout), 2: 0}
    history = wb.processing.history(1).to_dict("records")
    assert [(r["size"], r["treatment"], r["holdout"]) for r in history] == [
        (6, 6 - len(holdout), len(holdout))]
    audience = wb.audiences.get(1).to_json()
    assert (audience["size"], audience["treatment_size"], audience["holdout_size"],
            audience["holdout_percent"]) == (6, 6 - len(holdout), len(holdout), 50)
    women = wb.audiences.get(2).to_json()
    assert (women["treatment_size"], women["holdout_size"]) == (3, 0)
    assert f"  #1 Everyone: 6 (+6 / -0); holdout {len(holdout)}" in report.lines()
    assert "  #2 Women: 3 (+3 / -0)" in report.lines()
    frame = report.frame()
    assert frame.set_index("audience_id")["holdout"].to_dict() == {1: len(holdout), 2: 0}


def test_members_per_group_are_what_processing_kept_and_what_the_rule_says(everyone):
    wb = everyone
    wb.processing.run(D)
    holdout = list(wb.audiences.members(1, group="holdout")["customer_id"])
    treatment = list(wb.audiences.members(1, group="treatment")["customer_id"])
    assert holdout == held_out(1, BASE)
    assert sorted(holdout + treatment) == sorted(wb.audiences.members(1)["customer_id"])
    # Evaluated as of a day (not from the kept files): the same groups.
    assert list(wb.audiences.members(1, D, group="holdout")["customer_id"]) == holdout
    assert list(wb.audiences.members(1, D, group="treatment")["customer_id"]) == treatment
    assert list(wb.audiences.members(2, group="holdout")["customer_id"]) == []
    with pytest.raises(InvalidInput, match="group: treatment or holdout, not 'control'"):
        wb.audiences.members(1, group="control")


def test_groups_as_of_a_day_of_an_audience_with_windowed_rules(everyone):
    # Rules that join event aggregates: the group condition still names one customer_id.
    wb = everyone
    visitors = wb.audiences.activate(wb.audiences.create({
        "name": "Visitors", "holdout_percent": 50, "rules": [
            {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90},
            {"attribute": "rfm.monetary", "op": "gte", "value": 0, "within_days": 365}]}).id)
    wb.processing.run(D)
    members = list(wb.audiences.members(visitors.id)["customer_id"])
    assert members == ["ann", "bob", "dee"]
    for group in ("holdout", "treatment"):
        kept = list(wb.audiences.members(visitors.id, group=group)["customer_id"])
        assert list(wb.audiences.members(visitors.id, D, group=group)["customer_id"]) == kept
    assert list(wb.audiences.members(visitors.id, group="holdout")["customer_id"]) == \
        held_out(visitors.id, members)


def test_two_processed_days_keep_each_staying_customer_in_its_group(everyone):
    wb = everyone
    early = D - timedelta(days=10)  # dee joins the base the day after
    wb.processing.run(date_from=early, date_to=D)
    groups = {}
    for day in (early, D):
        membership = wb.processing._records.day(1, day)["membership"]
        rows = duckdb.sql(f"SELECT customer_id, holdout FROM "
                          f"'{wb.home.root / membership}' WHERE audience_id = 1").fetchall()
        groups[day] = dict(rows)
    staying = set(groups[early]) & set(groups[D])
    assert "dee" in set(groups[D]) - set(groups[early]) and len(staying) >= 4
    assert {c: groups[early][c] for c in staying} == {c: groups[D][c] for c in staying}
    assert {c for c, held in groups[D].items() if held} == set(held_out(1, BASE))
    # Re-processing a day replaces it: the same groups, one history row a day.
    wb.processing.run(D)
    history = wb.processing.history(1)
    assert len(history) == 11 and history["holdout"].tolist()[::10] == [
        len(held_out(1, groups[early])), len(held_out(1, BASE))]


def test_a_day_processed_before_holdouts_existed_is_all_treatment(everyone):
    wb = everyone
    wb.processing.run(D)
    # What an upgraded home holds: a history row without a holdout count (NULL).
    from workbench.store.schema import audience_history

    with wb.store.begin() as conn:
        conn.execute(update(audience_history).where(audience_history.c.audience_id == 2)
                     .values(holdout=None))
    assert len(wb.audiences.members(2, group="treatment")) == 3
    assert len(wb.audiences.members(2, group="holdout")) == 0
    assert wb.processing.history(2)["holdout"].tolist() == [0]


# -- exports -------------------------------------------------------------------------------------

def test_exports_deliver_the_treatment_unless_asked_for_the_holdout(setup, tmp_path):  # noqa: F811
    wb = setup
    # "Women" (id 1) has no holdout in the shared setup: a second audience with one.
    holdout = wb.audiences.activate(wb.audiences.create({
        "name": "Women held out", "holdout_percent": 50,
        "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    wb.processing.run(D)
    women = ["ann", "eve", "fay"]
    expected = held_out(holdout.id, women)
    assert 0 < len(expected) < 3

    def delivered(**changes) -> list[str]:
        target = tmp_path / "out.csv"
        wb.exports.write_csv(config(audience=holdout.id, columns=[
            {"attribute": "customer_id"}], csv={"header": False, "record_delimiter": "LF",
                                                 "field_delimiter": "comma"}, **changes), target)
        return target.read_text().splitlines()

    assert delivered() == [c for c in women if c not in expected]
    assert delivered(group="treatment") == delivered()
    assert delivered(group="holdout") == expected
    saved = wb.exports.create(config(audience=holdout.id, group="holdout"))
    assert wb.exports.get(saved.id).config.group == "holdout"
    with pytest.raises(Exception, match="Group: must be one of 'treatment' or 'holdout'"):
        wb.exports.create(config(audience=holdout.id, group="control"))


def test_the_export_wizard_keeps_an_export_of_the_holdout_one(setup):  # noqa: F811
    from workbench.ui.export_builder import ExportDraft

    wb = setup
    held = wb.audiences.activate(wb.audiences.create({
        "name": "Held", "holdout_percent": 10, "rules": []}).id)
    saved = wb.exports.create(config(audience=held.id, group="holdout"))
    draft = ExportDraft(wb, export_id=saved.id)
    edited = {k: v for k, v in draft.stored.items() if k != "group"}  # the wizard's fields
    assert draft.problems({**edited, "name": "Renamed"}) == []
    draft.save({**edited, "name": "Renamed"})
    assert wb.exports.get(saved.id).config.group == "holdout"


def test_without_a_holdout_every_member_is_delivered(setup, tmp_path):  # noqa: F811
    with pytest.raises(Exception) as refused:  # a holdout export of it would be empty
        setup.exports.create(config(group="holdout"))
    assert [str(p) for p in refused.value.problems] == [
        "Group: audience 1 (Women) has no holdout (holdout_percent 0), so a holdout export "
        "would be empty; use treatment"]
    target = tmp_path / "out.csv"
    setup.exports.write_csv(config(columns=[{"attribute": "customer_id"}], csv={
        "header": False, "record_delimiter": "LF", "field_delimiter": "comma"}), target)
    assert target.read_text().splitlines() == ["ann", "eve", "fay"]


# -- the command line ----------------------------------------------------------------------------

def test_cli_members_by_group_and_show_gives_both_sizes(everyone, home):
    everyone.processing.run(D)
    holdout = held_out(1, BASE)
    done = run("audience", "members", "1", "--group", "holdout", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["customer_id", *holdout]
    done = run("audience", "members", "1", "--group", "treatment", home=home)
    assert done.stdout.splitlines() == ["customer_id", *sorted(BASE - set(holdout))]
    shown = run("audience", "show", "1", home=home)
    assert f"treatment: {6 - len(holdout)} (exports deliver these)" in shown.stdout
    assert f"holdout: {len(holdout)} (50% of members, kept out of exports)" in shown.stdout
    as_json = json.loads(run("audience", "show", "1", "--json", home=home).stdout)
    assert (as_json["treatment_size"], as_json["holdout_size"]) == (6 - len(holdout),
                                                                   len(holdout))
    wrong = run("audience", "members", "1", "--group", "control", home=home)
    assert wrong.returncode == 2 and "invalid choice: 'control'" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()[-1]) < 200


# -- the chart -----------------------------------------------------------------------------------

def test_the_groups_chart_draws_treatment_and_holdout_per_day():
    import pandas as pd

    from workbench import charts

    history = pd.DataFrame({"day": [D - timedelta(days=1), D], "size": [10, 12],
                            "treatment": [8, 9], "holdout": [2, 3]})
    spec = charts.holdout_groups(history, 20, start=D).to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]
    assert spec["layer"][0]["mark"]["strokeDash"] == [5, 3]
    fold = spec["layer"][0]["transform"][0]["fold"]
    assert fold == ["Treatment (exported)", "Holdout 20% (not exported)"]
    values = spec["datasets"][next(iter(spec["datasets"]))]
    assert values == [{"day": str(D), "Treatment (exported)": 9,
                       "Holdout 20% (not exported)": 3}]
