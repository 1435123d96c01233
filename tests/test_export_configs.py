"""Export configurations (SPEC 7): checks with messages that name the field, states, actions per
role and state, file names and template columns. Destinations and encryptions are recorded
straight in the store here (their own tests use a real sshd and real gpg)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import workbench
from tests.audience_data import D, load
from workbench.errors import Conflict, InvalidExport, PermissionDenied
from workbench.exports.files import render_file_name
from workbench.store.exports import DestinationRecords, EncryptionRecords

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)  # before the configurations' start (12-01)
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def config(**changes) -> dict:
    base = {"name": "Gold weekly", "audience": 1, "file_name": "gold_{audience}_%Y%m%d.csv",
            "schedule": {"start": "2026-12-01T06:00", "timezone": "Europe/Berlin",
                         "repeat": {"every": 1, "unit": "weeks"}, "ends": "2027-06-30",
                         "cancel_after_minutes": 360},
            "destination": "partner", "encryption": None,
            "csv": {"header": True, "record_delimiter": "CRLF", "field_delimiter": "tab"},
            "columns": [{"attribute": "customer_id"},
                        {"attribute": "first_name", "label": "First Name"},
                        {"label": "Tier", "template": "{{appended.loyalty_tier}}"}],
            "notify": ["crm-ops@example.com"]}
    return {**base, **changes}


@pytest.fixture
def setup(wb, write_csv):
    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create({"name": "Women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    wb.processing.run(D)
    DestinationRecords(wb.store).insert({
        "name": "partner", "type": "sftp", "host": "127.0.0.1", "port": 22, "path": "/in",
        "username": "u", "host_key": HOST_KEY}, user="ada")
    EncryptionRecords(wb.store).insert({"name": "partner-pgp", "type": "pgp", "keys": "[]",
                                        "key_info": "[]"}, user="ada")
    return wb


def problems(wb, **changes) -> str:
    with pytest.raises(InvalidExport) as raised:
        wb.exports.create(config(**changes))
    return str(raised.value)


def test_a_valid_export_is_saved_with_its_table_fields(setup):
    export = setup.exports.create(config())
    assert (export.state, export.type, export.repeats, export.ends) == (
        "active", "recurring", "Every week", "2027-06-30")
    assert export.destination == "partner" and export.location == "127.0.0.1:22/in"
    assert export.audience == "Women"
    assert export.next_run.isoformat() == "2026-12-01T06:00:00+01:00"
    assert export.actions == ["edit", "pause", "cancel", "run", "preview"]
    assert setup.exports.get(export.id).config.csv.field_delimiter == "tab"


@pytest.mark.parametrize(("changes", "message"), [
    ({"name": ""}, "Name: is required"),
    ({"name": "a\x1b[2Jb"}, "Name: the name must not contain control"),
    ({"audience": 99}, "Audience: no audience with id 99"),
    ({"audience": "x"}, "Audience: audience id must be a positive whole number"),
    ({"destination": "nowhere"}, "Destination: no destination named 'nowhere' (known: 'partner')"),
    ({"encryption": "nope"}, "Encryption: no encryption named 'nope' (known: 'partner-pgp')"),
    ({"file_name": "../up.csv"}, "File name: must be a plain file name"),
    ({"file_name": "a/b.csv"}, "File name: must be a plain file name: no / or \\"),
    ({"file_name": "x_%Q.csv"}, "File name: has the strftime code '%Q'"),
    ({"file_name": "x_{user}.csv"}, "File name: has the placeholder {user}"),
    ({"file_name": "x" * 300}, "File name: renders to 300 bytes; at most 220"),
    ({"csv": {"field_delimiter": "colon"}}, "Field delimiter: must be one of 'comma', "
                                            "'tab', 'pipe' or 'semicolon'"),
    ({"csv": {"record_delimiter": "CR"}}, "Record delimiter: must be one of 'LF' or "
                                          "'CRLF'"),
    ({"columns": []}, "Columns: add at least one column"),
    ({"columns": [{"attribute": "shoe_size"}]}, "Column 1 attribute: unknown attribute "
                                                "'shoe_size'"),
    ({"columns": [{"template": "{{first_name}}"}]}, "Column 1: a template column "
                                                     "needs a label"),
    ({"columns": [{"label": "T", "template": "{{#if x}}open"}]},
     "Column 1 template: leaves {{#if}} open"),
    ({"columns": [{"label": "T", "template": "{{appended.nope}}"}]},
     "Column 1 template: unknown field 'appended.nope'"),
    ({"notify": ["ops@example.com", "not an address"]}, "Email recipients: 'not an address' "
                                                        "is neither an e-mail address nor a "
                                                        "notice target"),
    ({"notify": ["b\u202eob@example.com"]}, "Email recipients: not an e-mail address"),
    ({"notify": ["bob@-example-.com"]}, "Email recipients: not an e-mail address"),
    ({"notify": ["x" * 65 + "@example.com"]}, "Email recipients: not an e-mail address"),
    ({"schedule": {"start": "2026-12-01T06:00", "timezone": "localtime"}},
     "Time zone: unknown timezone 'localtime'"),
    ({"schedule": {"start": "2026-01-01T06:00", "timezone": "UTC"}},
     "Delivery date/time: no run after now"),
    ({"schedule": {"start": "2026-12-01T06:00", "timezone": "Mars/Olympus"}},
     "Time zone: unknown timezone 'Mars/Olympus'"),
    ({"extra": 1}, "Extra: is not a known field"),
])
def test_every_problem_names_its_field(setup, changes, message):
    assert message in problems(setup, **changes)


def test_all_problems_are_reported_at_once(setup):
    text = problems(setup, audience=99, destination="nowhere", file_name="a/b")
    assert "Audience:" in text and "Destination:" in text and "File name:" in text


def test_only_active_audiences_are_exported(setup):
    draft = setup.audiences.create({"name": "Draft", "rules": []})
    assert f"Audience: audience {draft.id} (Draft) is draft" in problems(setup,
                                                                         audience=draft.id)


def test_states_move_only_as_allowed_and_canceled_is_final(setup):
    export = setup.exports.create(config())
    assert setup.exports.pause(export.id).state == "paused"
    with pytest.raises(Conflict, match="pause applies to active exports"):
        setup.exports.pause(export.id)
    assert setup.exports.activate(export.id).state == "active"
    canceled = setup.exports.cancel(export.id)
    assert canceled.state == "canceled" and canceled.actions == ["preview"]
    for action in (setup.exports.activate, setup.exports.pause, setup.exports.cancel):
        with pytest.raises(Conflict, match="is canceled; a canceled export never changes"):
            action(export.id)
    with pytest.raises(Conflict, match="is canceled"):
        setup.exports.update(export.id, config(name="Again"))
    # The store itself refuses, whatever path tries.
    from sqlalchemy import text
    with pytest.raises(Conflict, match="export is canceled"):
        with setup.store.begin() as conn:
            conn.execute(text("UPDATE exports SET state = 'active' WHERE id = :i"),
                         {"i": export.id})


@pytest.mark.parametrize(("role", "state", "actions"), [
    ("viewer", "active", ["preview"]),
    ("analyst", "active", ["edit", "pause", "run", "preview"]),
    ("analyst", "paused", ["edit", "activate", "run", "preview"]),
    ("admin", "paused", ["edit", "activate", "cancel", "run", "preview"]),
    ("admin", "canceled", ["preview"]),
])
def test_actions_per_role_and_state(setup, role, state, actions):
    export = setup.exports.create(config())
    if state == "paused":
        setup.exports.pause(export.id)
    if state == "canceled":
        setup.exports.cancel(export.id)
    text = setup.home.settings_file.read_text().replace(
        '[users]', f'[users]\nsomeone = "{role}"')
    setup.home.settings_file.write_text(text)
    with workbench.open(setup.home.root, user="someone") as other:
        assert other.exports.get(export.id).actions == actions


def test_the_service_refuses_what_the_role_does_not_allow(setup):
    export = setup.exports.create(config())
    with workbench.open(setup.home.root, user="visitor") as viewer:
        for call in (lambda: viewer.exports.create(config()),
                     lambda: viewer.exports.pause(export.id),
                     lambda: viewer.exports.cancel(export.id)):
            with pytest.raises(PermissionDenied):
                call()


def test_a_stale_edit_is_refused(setup):
    export = setup.exports.create(config())
    setup.exports.update(export.id, config(name="Renamed"), version=1)
    with pytest.raises(Conflict, match="after the version 1 you edited"):
        setup.exports.update(export.id, config(name="Mine"), version=1)


def test_file_names_render_in_the_exports_timezone_and_stay_plain():
    at = datetime(2026, 12, 1, 6, 0).astimezone()
    name = render_file_name("gold_{audience}_%Y%m%d_%H%M.csv", at=at,
                            audience="A/B test: Gold ✓", export="x", run=7)
    assert name.startswith("gold_A_B_test_Gold_2026") and "/" not in name
    assert render_file_name("a_{run}.csv", at=at, audience="a", export="x", run=7,
                            encrypted=True) == "a_7.csv.pgp"
    assert render_file_name("a.gpg", at=at, audience="a", export="x", run=7,
                            encrypted=True) == "a.gpg"


def test_the_cli_creates_lists_and_shows(setup, tmp_path):
    from tests.test_cli import run

    path = tmp_path / "export.json"
    path.write_text(json.dumps(config(schedule={
        "start": "2099-12-01T06:00", "timezone": "Europe/Berlin",
        "repeat": {"every": 2, "unit": "weeks"}})))
    done = run("export", "create", path, "--json", home=setup.home.root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["repeats"] == "Every 2 weeks"
    listed = run("export", "list", home=setup.home.root)
    assert "Gold weekly" in listed.stdout and "Every 2 weeks" in listed.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config(file_name="../x")))
    refused = run("export", "create", bad, home=setup.home.root)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "File name: must be a plain file name" in refused.stderr


def test_preview_shows_the_next_file_name_and_the_first_rows(setup):
    export = setup.exports.create(config(columns=[
        {"attribute": "customer_id"}, {"attribute": "first_name", "label": "First Name"},
        {"label": "Tier", "template": "{{appended.loyalty_tier}}"},
        {"label": "Spend", "template": "{{#if rfm.frequency}}buyer{{else}}none{{/if}}"},
        {"attribute": "rfm.monetary"}]))
    preview = setup.exports.preview(export.id)
    assert preview.file_name == "gold_Women_20261201.csv"
    assert preview.header == ["customer_id", "First Name", "Tier", "Spend", "rfm.monetary"]
    assert [row[0] for row in preview.rows] == ["ann", "eve", "fay"]  # ordered by customer_id
    ann = preview.rows[0]
    assert ann[1:4] == ["Ann", "gold", "buyer"] and str(ann[4]) == "300.00"
    assert preview.rows[2][3] == "none"  # fay only has a refund
    assert len(setup.exports.preview(export.id, limit=2).rows) == 2


def test_a_canceled_export_has_no_next_run_and_its_preview_says_so(setup):
    export = setup.exports.create(config())
    setup.exports.cancel(export.id)
    preview = setup.exports.preview(export.id)
    assert preview.scheduled_for is None and preview.to_json()["scheduled_for"] is None
    assert preview.file_name == "gold_Women_20261129.csv"  # named as if run now
    assert "no next run" in preview._repr_html_()


@pytest.mark.parametrize(("template", "message"), [
    ("{{first_name.length}}", "unknown field 'first_name.length'"),
    ("{{rfm}}", "{{rfm}} is a group of fields; name one"),
    ("{{#unless customer_id}}{{bogus}}{{/unless}}", "unknown field 'bogus'"),
    ("{{#if customer_id}}a{{else}}{{bogus}}{{/if}}", "unknown field 'bogus'"),
    ("{{#each tags}}{{#each ../tags}}x{{/each}}{{/each}}", "nests {{#each}} inside {{#each}}"),
    ("{{#each tags}}{{bogus}}{{/each}}", "unknown field 'bogus'"),
    ("{{!-- {{first_name}} --}}", "has a comment holding {{ or }}"),
    ("{{first_name}}" * 1000, "characters long; at most 10,000"),
])
def test_templates_are_checked_in_every_branch(setup, template, message):
    assert message in problems(setup, columns=[{"label": "T", "template": template}])


@pytest.mark.parametrize(("changes", "message"), [
    ({"file_name": "a\x00/../b.csv"}, "File name: must not contain control or invisible"),
    ({"file_name": "evil\u202etxt.exe"}, "(found U+202E)"),
    ({"name": "evil\u202eexe"}, "found U+202E"),
    ({"columns": [{"attribute": "customer_id", "label": "a\nb"}]}, "the label must not contain"),
    ({"active": "false"}, "State: must be true or false"),
])
def test_invisible_characters_and_loose_types_are_refused(setup, changes, message):
    assert message in problems(setup, **changes)


def test_html_is_not_escaped_and_lists_print_as_handlebars_does(setup, tmp_path, write_csv):
    setup.customers.ingest("profiles", write_csv("p2.csv", ["customer_id", "first_name"],
                                                 ["ann", 'Mary "Mo" O\'Brien & <Sons>']))
    setup.processing.run(D)
    export = setup.exports.create(config(columns=[
        {"attribute": "customer_id"},
        {"label": "Name", "template": "{{#if first_name}}{{first_name}}{{/if}}"},
        {"attribute": "tags"}, {"label": "Tags", "template": "{{tags}}"}]))
    ann = setup.exports.preview(export.id).rows[0]
    assert ann == ["ann", 'Mary "Mo" O\'Brien & <Sons>', "email_open,store_visit",
                   "email_open,store_visit"]


def test_versions_are_numbers_and_zero_is_stale(setup):
    from workbench.errors import InvalidInput

    export = setup.exports.create(config())
    setup.exports.update(export.id, config(name="Second"))
    for version in (0, "abc", [1], 10**30):
        with pytest.raises((Conflict, InvalidInput)):
            setup.exports.update(export.id, config(name="Third"), version=version)
    assert setup.exports.get(export.id).name == "Second"


def test_renames_and_archives_that_would_strand_an_export_are_refused(setup):
    from workbench.store.exports import DestinationRecords as _Unused  # noqa: F401

    export = setup.exports.create(config())
    with pytest.raises(Conflict, match="is delivered by export"):
        setup.audiences.archive(export.audience_id)
    setup.exports.cancel(export.id)
    assert setup.audiences.archive(export.audience_id).status == "archived"


def test_viewers_never_get_secrets_nor_test_logins(setup):
    with workbench.open(setup.home.root, user="visitor") as viewer:
        with pytest.raises(PermissionDenied, match="export.run needs the analyst role"):
            viewer.destinations.target("partner")
        with pytest.raises(PermissionDenied, match="destination.edit needs the admin role"):
            viewer.destinations.test("partner")


def test_a_file_name_must_fit_on_the_day_its_names_are_longest(setup):
    problems = setup.exports.check(config(file_name="%A" * 26 + ".csv"))  # fits on a Monday
    assert any(p.field == "file_name" for p in problems)
    assert setup.exports.check(config(file_name="%A_%B.csv")) == []
