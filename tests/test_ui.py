"""The dashboards' widgets, headless: set values on the components and read their models,
estimates and the calls they make. Work that runs in a thread in Voilà runs at once here."""

from __future__ import annotations

import time

import pytest

import workbench
from tests.audience_data import D, load
from workbench.ui import App
from workbench.ui.work import Debounced

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def wb(wb, write_csv):
    load(wb, write_csv)
    champions = wb.audiences.activate(wb.audiences.create({"name": "Buyers", "rules": [
        {"attribute": "rfm.frequency", "op": "gte", "value": 1}]}).id)
    wb.audiences.create({"name": "Women draft", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]})
    wb.processing.run(D)
    assert champions.id == 1
    return wb


def as_user(wb, name: str, role: str):
    text = wb.home.settings_file.read_text().replace("[users]", f'[users]\n{name} = "{role}"')
    wb.home.settings_file.write_text(text)
    return workbench.open(wb.home.root, user=name)


def names(table) -> list[str]:
    import re

    return [re.sub(r"<[^>]+>", "", row["cells"]["name"]) for row in table.rows]


def test_the_dashboard_lists_searches_and_sorts(wb):
    app = App(wb, background=False)
    page = app.page
    assert sorted(names(page.table)) == ["Buyers", "Women draft"]
    buyers = next(r for r in page.table.rows if "Buyers" in r["cells"]["name"])
    assert "Live" in buyers["cells"]["status"] and buyers["cells"]["size"] == "3"
    assert buyers["cells"]["last_processed_on"] == str(D)
    draft = next(r for r in page.table.rows if "Women" in r["cells"]["name"])
    assert "Draft" in draft["cells"]["status"] and draft["cells"]["size"] == "—"
    page.search.value = "wom"
    assert names(page.table) == ["Women draft"]
    page.search.value = "ada"  # the creator
    assert len(page.table.rows) == 2
    page.search.value = "nobody"
    assert page.table.rows == [] and "No audience matches" in page.table.empty
    page.search.value = ""
    page.table.sort = "name"  # a click on the Name header
    assert page.sort.value == "name" and names(page.table) == ["Buyers", "Women draft"]
    page.sort.value = "-name"
    assert page.table.sort == "-name" and names(page.table) == ["Women draft", "Buyers"]
    page.sort.value = "-last_processed"
    assert names(page.table)[0] == "Buyers"
    page.table.click("1")
    assert type(app.page).__name__ == "AudiencePage" and app.location.query == {"audience": "1"}


def test_the_dashboard_filters_by_status_sorts_by_size_and_estimates_the_unprocessed(wb):
    fresh = wb.audiences.activate(wb.audiences.create({"name": "Women live", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)  # not processed yet
    app = App(wb, background=False)
    page = app.page
    page.table.sort = "-size"  # a click on the Size header
    assert page.sort.value == "-size" and names(page.table)[0] == "Buyers"
    page.status.value = "active"
    assert names(page.table) == ["Buyers", "Women live"]
    cells = page.table.rows[1]["cells"]
    estimate = wb.audiences.estimate(fresh.definition)
    assert f"≈{estimate.size:,} " in cells["size"] and "est.</span>" in cells["size"]
    assert "not processed yet" in cells["size"] and "≈" in cells["percent"]
    assert page.list.estimated(fresh).size == estimate.size
    page.status.value = "draft"
    assert names(page.table) == ["Women draft"]
    page.search.value = "nobody"
    assert "among the draft ones" in page.table.empty
    page.search.value, page.status.value = "", "archived"
    assert page.table.rows == [] and page.table.empty == "No archived audiences."
    page.sort.value = "percent"
    assert page.table.sort == "percent"


def test_the_builder_estimates_live_and_saves_a_draft(wb):
    app = App(wb, background=False)
    app.go("builder")
    builder = app.page
    row = builder.add_rule("age")
    row.editor.low.value, row.editor.high.value = "25", "40"
    expected = wb.audiences.estimate({"name": "x", "rules": [
        {"attribute": "age", "op": "between", "value": [25, 40]}]})
    assert builder.draft.estimate.size == expected.size and str(expected.size) in builder.size.value
    assert "Age between 25 and 40" in builder.summary.value
    exclude = builder.add_rule("gender")
    exclude.editor.picker.selected = ["male"]
    exclude.mode.value = True
    assert builder.definition()["rules"][1] == {"attribute": "gender", "op": "in",
                                                "value": ["male"], "exclude": True}
    assert "Excluding" in builder.summary.value
    assert builder.save_draft() is False  # no name
    assert "wb-invalid" in builder.name._dom_classes and "required" in builder.name_problem.value
    builder.name.value = "Adults, not men"  # fixed: the complaint goes
    assert builder.name_problem.value == "" and "wb-invalid" not in builder.name._dom_classes
    assert builder.save_draft() is True
    saved = wb.audiences.get(builder.draft.audience_id)
    assert saved.status == "draft" and saved.created_by == "ada"
    assert saved.definition.model_dump(exclude_none=True)["rules"] == builder.definition()["rules"]
    assert app.location.query == {"audience": str(saved.id), "page": "edit"}


def test_problems_and_warnings_appear_next_to_their_rule(wb):
    app = App(wb, background=False)
    app.go("builder")
    builder = app.page
    builder.add_rule("gender")
    age = builder.add_rule("age")
    age.editor.low.value = "abc"
    assert "✖" in age.problems.value and "wb-invalid" in age.widget._dom_classes
    gender = builder.rules[0]  # nothing ticked yet: left out of the estimate, not marked wrong
    assert "Pick at least one value" in gender.problems.value and "✖" not in gender.problems.value
    assert "abc" not in gender.problems.value
    age.editor.low.value = "30"
    assert age.problems.value == "" and "wb-invalid" not in age.widget._dom_classes
    gender.editor.picker.selected = ["female"]
    assert gender.problems.value == "" and builder.draft.estimate is not None
    tag = builder.add_rule("tag")
    tag.editor.picker.selected = ["no_such_tag"]
    assert "⚠" in tag.problems.value and "no_such_tag" in tag.problems.value


def test_an_unfinished_rule_cannot_be_saved_and_says_why(wb):
    app = App(wb, background=False)
    app.go("builder")
    builder = app.page
    builder.name.value = "Half done"
    tag = builder.add_rule("tag")
    assert builder.draft.estimate.size == wb.audiences.estimate({"name": "x", "rules": []}).size
    assert builder.save_draft() is False
    assert "✖" in tag.problems.value and "non-empty list" in tag.problems.value


def test_a_stale_draft_is_a_clear_conflict(wb):
    app = App(wb, background=False)
    app.go("builder", audience_id=2)
    builder = app.page
    draft = wb.audiences.get(2)
    wb.audiences.update(2, {**draft.definition.model_dump(), "name": "Renamed elsewhere"},
                        version=draft.version)
    builder.name.value = "My name"
    assert builder.save_draft() is False
    assert "changed this draft since you opened it" in builder.message.value
    assert wb.audiences.get(2).name == "Renamed elsewhere"


def test_activate_asks_first_then_freezes(wb):
    app = App(wb, background=False)
    app.go("audience", audience_id=2)
    page = app.page
    assert page.overview.allowed == ["edit", "activate", "duplicate"]
    page.act("activate")
    assert "freezes" in page.confirm.children[0].children[0].value
    assert wb.audiences.get(2).status == "draft"  # not before the confirmation
    assert page.confirm_action("activate")
    assert wb.audiences.get(2).status == "active" and app.page.overview.allowed == [
        "duplicate", "archive", "export"]
    # Activated today and not processed: the page says a backfill is filling its history in
    # (the tests' settings turn the backfill off; this says what a home with one shows).
    assert "processed nightly" in app.page.chart_box.children[0].value
    wb.settings.backfill_days = 30
    app.go("audience", audience_id=2)
    assert "last 30 days are being processed in the background" in \
        app.page.chart_box.children[0].value


def test_the_audience_page_shows_history_composition_and_summary(wb):
    app = App(wb, background=False)
    app.go("audience", audience_id=1)
    page = app.page
    audience = wb.audiences.get(1)
    data = page.history_chart.to_dict()
    values = next(iter(data["datasets"].values()))
    assert values[-1]["size"] == audience.size  # the last point is the size shown
    assert f"{audience.size:,}" in page.size.value
    assert (page.start.min, page.end.max) == (D, D)
    assert "Number of purchases" in page.widget.children[-1].children[1].children[4].value
    assert data["vconcat"][1]["title"] == "Added and removed per day"  # bars under the line
    size_axis = data["vconcat"][0]["layer"][0]["encoding"]["y"]
    assert size_axis["scale"]["zero"] is True
    page.zoom.value = True  # the axis spans the data
    zoomed = page.history_chart.to_dict()["vconcat"][0]["layer"][0]["encoding"]["y"]
    assert zoomed["scale"]["zero"] is False
    history = wb.processing.history(1).iloc[-1]
    assert f'+{history["added"]:,}</span> / <span class="wb-removed">−{history["removed"]:,}' \
        in page.changed.value and "yesterday" in page.changed.value
    page.attribute.value = "gender"
    genders = [r["cells"]["bucket"] for r in page.composition_table.rows]
    page.attribute.value = "age"
    ages = [r["cells"]["bucket"] for r in page.composition_table.rows]
    assert genders != ages and "35–44" in ages
    total = sum(int(r["cells"]["count"]) for r in page.composition_table.rows)
    assert total == audience.size
    labels = [c["label"] for c in page.composition_table.columns]
    assert labels[2:] == ["% of this audience", "% of total base", "Base's own share",
                          "Index vs base"]
    page.attribute.value = "monetary"
    buckets = [r["cells"]["bucket"] for r in page.composition_table.rows]
    assert "$100–$250" in buckets and "$1,000+" in buckets  # the currency setting (USD)
    frame = wb.processing.composition(1, attribute="monetary").set_index("bucket")
    row = next(r for r in page.composition_table.rows if r["cells"]["bucket"] == "$0–$50")
    expected = frame.loc["0–50"]
    assert row["cells"]["index"] == f'{expected["index"]:.0f}'
    assert round(expected["percent_of_audience"] / expected["base_share"] * 100) == \
        round(expected["index"])
    chart = page.composition_chart.children[0].spec
    assert chart["layer"][0]["encoding"]["y"]["title"] == "Monetary spend (USD)"
    assert [layer["mark"]["type"] for layer in chart["layer"]] == ["bar", "tick", "text"]


def test_a_viewer_sees_everything_and_can_do_nothing(wb):
    with as_user(wb, "vic", "viewer") as viewer:
        app = App(viewer, background=False)
        assert app.page.create.layout.display == "none"
        app.go("audience", audience_id=1)
        assert app.page.overview.allowed == []
        app.page.act("archive")  # a forged click: nothing happens
        assert viewer.audiences.get(1).status == "active"
        app.go("audience", audience_id=2)
        assert app.page.overview.allowed == []
        app.go("builder", audience_id=2)  # the draft's edit page: shown read-only
        assert type(app.page).__name__ == "AudiencePage" and app.page.audience.id == 2
        assert "Viewers cannot edit audiences" in app.page.message.value
        assert app.location.query == {"audience": "2"}
        opened_at(app, {"page": "new"})
        assert type(app.page).__name__ == "RefusedPage"
        assert app.page.text == "Viewers cannot create audiences."


def test_a_table_without_actions_shows_no_actions_column():
    from workbench.ui.widgets import Table

    table = Table(columns=[{"key": "name", "label": "Name"},
                           {"key": "actions", "label": "Actions"}])
    table.rows = [{"id": "1", "cells": {"name": "partner"}, "actions": []}]
    assert [c["key"] for c in table.shown_columns()] == ["name"]  # a viewer's rows
    table.rows = [{"id": "1", "cells": {"name": "partner"}, "actions": [("edit", "Edit")]}]
    assert [c["key"] for c in table.shown_columns()] == ["name", "actions"]


def test_an_action_the_service_refuses_shows_one_line(wb, server=None):
    from workbench.store.exports import ExportRecords  # an export delivering audience 1

    app = App(wb, background=False)
    app.go("audience", audience_id=1)
    page = app.page
    wb.audiences.archive = lambda _id: (_ for _ in ()).throw(
        __import__("workbench.errors", fromlist=["Conflict"]).Conflict(
            "audience 1 is delivered by export(s) 3 (Weekly); cancel them first"))
    page.act("archive")
    assert page.confirm_action("archive") is False
    assert "Not done: audience 1 is delivered" in page.message.value
    assert "Traceback" not in page.message.value
    del ExportRecords


def opened_at(app, query: dict) -> None:
    """What the browser does when the page appears: report its address."""
    app.location.ready = False
    app.location.initial = query
    app.location.ready = True


def test_a_shared_link_opens_its_page(wb):
    app = App(wb, background=False)
    opened_at(app, {"audience": "2", "page": "edit"})
    assert type(app.page).__name__ == "AudienceBuilder" and app.page.draft.audience_id == 2
    opened_at(app, {"audience": "1"})
    assert type(app.page).__name__ == "AudiencePage"
    opened_at(app, {"audience": "999"})
    assert type(app.page).__name__ == "AudiencePage"  # stays where it was
    app.go("dashboard")
    opened_at(app, {"audience": "nope"})
    assert "points nowhere" in app.page.message.value


def test_a_page_shown_later_shows_the_audiences_as_they_are_then(wb):
    app = App(wb, background=False)  # a preheated kernel, before anyone visits
    wb.audiences.create({"name": "Made meanwhile", "rules": []})
    assert "Made meanwhile" not in names(app.page.table)
    opened_at(app, {})
    assert "Made meanwhile" in names(app.page.table)


def test_debounced_work_answers_only_the_latest_request():
    answers, busy = [], []
    debounced = Debounced(lambda x: x * 2, lambda result, error: answers.append(result),
                          busy=busy.append, delay=0.05)
    for value in range(5):
        debounced.request(value)
    deadline = time.monotonic() + 5
    while not answers and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert answers == [8] and busy[0] is True and busy[-1] is False


def test_a_role_changed_since_the_kernel_started_applies_when_the_page_opens(wb):
    with as_user(wb, "eve", "admin") as eve:
        app = App(eve, background=False)  # a preheated kernel: eve was an admin then
        assert app.page.create.layout.display is None
        settings = eve.home.settings_file
        settings.write_text(settings.read_text().replace('eve = "admin"', 'eve = "viewer"'))
        opened_at(app, {})
        assert app.wb.user.role.value == "viewer" and app.page.create.layout.display == "none"
        assert "eve (viewer)" in app._user_label.value


def test_a_draft_keeps_rules_the_builder_cannot_show(wb):
    old = wb.audiences.activate(wb.audiences.create({"name": "Old", "rules": []}).id)
    draft = wb.audiences.create({"name": "Uses old", "rules": [
        {"attribute": "audience", "op": "in", "value": [old.id, 1]}]})
    app = App(wb, background=False)
    app.go("builder", audience_id=draft.id)
    assert app.page.definition()["rules"][0]["value"] == [old.id, 1]
    app.page.draft.kept.append({"attribute": "appended.gone", "op": "is_known"})
    assert app.page.definition()["rules"][-1] == {"attribute": "appended.gone", "op": "is_known"}


def test_the_page_models_answer_without_widgets(wb):
    from workbench.ui.audience import AudienceOverview
    from workbench.ui.builder import AudienceDraft
    from workbench.ui.dashboard import AudienceList
    from workbench.ui.exports import ExportsOverview

    found = AudienceList(wb, sort="name")
    found.search = "wom"
    found.refresh()
    assert [a.name for a in found.audiences] == ["Women draft"] and found.can_create
    draft = AudienceDraft(wb)
    age = {"attribute": "age", "op": "between", "value": [25, 40]}
    estimable = draft.estimable({"name": "", "description": "", "rules": [
        {"attribute": "gender", "op": "in", "value": []}, age]})
    assert draft.waiting == [0] and estimable["rules"] == [age]
    assert estimable["name"] == "untitled"  # a name is needed to save only
    saved = draft.save({"name": "Adults", "rules": [age]})
    assert (draft.audience_id, draft.version) == (saved.id, saved.version)
    overview = AudienceOverview(wb, 1)
    overview.load()
    assert overview.processed_days() == (D, D) and overview.exports() == ([], [])
    assert not overview.estimated and overview.allowed == ["duplicate", "archive", "export"]
    exports = ExportsOverview(wb)
    exports.refresh()
    assert exports.runs() == [] and exports.busy is None and exports.audiences() == []


def test_the_builder_makes_groups_moves_rules_and_switches_any_all(wb):
    app = App(wb, background=False)
    app.go("builder")
    builder = app.page
    assert "every</b> rule below holds (AND)" in builder.how.value
    age = builder.add_rule("age")
    assert "✖" not in age.problems.value and "Type a bound" in age.problems.value  # not red
    age.editor.low.value = "30"
    group = builder.add_group()
    assert "left out of the estimate" in group.empty.value and group.label == "group 2"
    female = builder.add_rule("gender", into=group)
    female.editor.picker.selected = ["female"]
    visited = builder.add_rule("tag", into=group)
    visited.editor.picker.selected = ["store_visit"]
    visited.editor.window.kind.value = "ago"
    visited.editor.window.first.value, visited.editor.window.second.value = "0", "400"
    rules = builder.definition()["rules"]
    assert rules[1] == {"any": [
        {"attribute": "gender", "op": "in", "value": ["female"], "exclude": False},
        {"attribute": "tag", "op": "has", "value": ["store_visit"], "min_count": 1,
         "days_ago": [0, 400], "exclude": False}], "exclude": False}
    expected = wb.audiences.estimate({"name": "x", "rules": rules})
    assert builder.draft.estimate.size == expected.size
    assert "Gender in female or has tag store_visit between 0 and 400 days ago" in \
        builder.summary.value
    group.kind.value = "all"
    assert builder.draft.estimate.size == wb.audiences.estimate(
        {"name": "x", "rules": builder.definition()["rules"]}).size
    assert [r.place.value for r in builder.rules] == ["", "group 2", "group 2"]
    female.place.value = ""  # out of the group: to the end of the top level
    assert builder.definition()["rules"][2]["attribute"] == "gender"
    assert [r.place.value for r in builder.rules] == ["", "group 2", ""]
    visited.editor.picker.selected = ["no_such_tag"]
    assert "rule 2.1" not in visited.problems.value and "⚠" in visited.problems.value
    builder.remove_rule(group)
    assert [r.attribute.name for r in builder.rules] == ["age", "gender"]
    assert builder.groups == [] and not any(r.place.layout.display is None
                                            for r in builder.rules)


def test_a_stored_group_opens_in_the_builder_as_it_was_written(wb):
    rules = [{"attribute": "age", "op": "between", "value": [30, None], "exclude": False},
             {"all": [{"attribute": "gender", "op": "in", "value": ["male"], "exclude": False},
                      {"any": [{"attribute": "rfm.monetary", "op": "between",
                                "value": [100, None], "within_days": 365, "exclude": False}],
                       "exclude": False}], "exclude": True}]
    draft = wb.audiences.create({"name": "Grouped draft", "rules": rules})
    app = App(wb, background=False)
    app.go("builder", audience_id=draft.id)
    builder = app.page
    assert builder.definition()["rules"] == rules
    assert [g.label for g in builder.groups] == ["group 2", "group 2.2"]
    picker = [label for label, _ in builder.picker.options]
    assert "Demographics: Age" in picker and "Purchases (RFM): Total spend" in picker
    assert not any(label.startswith("Appended data: Appended") for label in picker)


def test_the_builder_warns_of_a_duplicate_name_beside_the_name(wb):
    app = App(wb, background=False)
    app.go("builder")
    builder = app.page
    builder.name.value = wb.audiences.get(1).name.upper()
    assert builder.save_draft() is True  # saved: a warning, not a refusal
    assert "⚠" in builder.name_problem.value and "already called" in builder.name_problem.value
    assert "wb-invalid" not in builder.name._dom_classes


def test_the_builder_keeps_a_holdout_and_says_what_is_wrong_with_it(wb):
    app = App(wb, background=False)
    app.go("builder")
    builder = app.page
    builder.name.value = "Held out"
    builder.holdout.value = "70"
    assert "from 0 to 50" in builder.holdout_problem.value
    assert "wb-invalid" in builder.holdout._dom_classes
    builder.holdout.value = "20"
    assert builder.holdout_problem.value == "" and "held out (20%)" in builder.share.value
    assert builder.save_draft() is True
    saved = wb.audiences.get(builder.draft.audience_id)
    assert saved.definition.holdout_percent == 20
    app.go("builder", audience_id=saved.id)
    assert app.page.holdout.value == "20"
