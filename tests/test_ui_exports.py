"""Manage Exports and the export builder, headless, against a real OpenSSH server and real
gpg: a destination added through its form (host key fetched and confirmed), an encryption
through its form, an export built through the wizard (Next blocked until a step is valid), run
now, Complete in History and the decrypted file on the server; pause and activate from the
Actions menu; a viewer gets no actions; no secret in the page's widget state."""

from __future__ import annotations

import json

import pytest

import workbench
from tests.conftest import add_partner
from tests.sshd import skip_reason
from tests.test_delivery_pgp import _decrypt_with_only, keys  # noqa: F401 - real gpg keys
from workbench.ui import App

pytestmark = [pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or ""),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture
def wb(women):
    return women


def widget_state(widget) -> str:
    """Everything the kernel sends the browser about a page: every widget's synced state."""
    import ipywidgets

    return json.dumps([w.get_state() for w in ipywidgets.Widget.widgets.values()], default=str)


def add_destination(app, server):
    app.go("exports", tab=2)
    page = app.page
    page.add_destination.click()
    form = page.form
    form.name.value, form.host.value = "partner", server.host
    form.port.value, form.path.value = server.port, str(server.writable)
    form.username.value = server.user
    assert form.save() is False  # no password, no confirmed host key
    assert "required" in form.fields.notes["password"].value
    assert "wb-invalid" in form.password._dom_classes
    assert "confirm" in form.fields.notes["host_key"].value
    form.password.value = server.password
    form.fetch_key()
    assert form.host_key.fingerprint in form.key_shown.value
    form.confirmed.value = True
    assert form.save() is True
    assert form.password.value == ""  # a typed secret leaves the page once saved
    return page


def test_a_destination_and_an_encryption_are_added_through_their_forms(wb, server, keys):  # noqa: F811
    app = App(wb, background=False)
    page = add_destination(app, server)
    [row] = page.destinations_table.rows
    assert "partner" in row["cells"]["name"] and [a for a, _ in row["actions"]] == [
        "edit", "test", "remove"]
    assert "connection test passed" in row["cells"]["tested"]  # tested on save, in its row
    page.destinations_table.act(row["id"], "test")
    [row] = page.destinations_table.rows
    assert "writable" in row["cells"]["tested"] and page.message.value == ""
    assert "(test 2)" in row["cells"]["tested"]  # tested again: said, even with the same answer
    assert row["cells"]["kind"] == "SFTP" and f"sftp://{server.user}@" in row["cells"]["where"]
    assert server.password not in widget_state(app.widget)
    page.destinations_table.act(row["id"], "edit")
    assert page.form.password.value == "" and "keep the stored" in page.form.password.placeholder
    page.form.path.value = str(server.writable) + "/nowhere"
    assert page.form.save() is True  # saved, the password kept, and warned about
    [row] = page.destinations_table.rows
    assert ": connection test failed" in row["cells"]["tested"], row["cells"]["tested"]
    assert "⚠ tested " in row["cells"]["tested"]
    assert "nowhere" in row["cells"]["tested"]
    page.destinations_table.act(row["id"], "edit")
    page.form.path.value = str(server.writable) + "/"
    page.form.test_on_save.value = False  # the test on save is optional
    assert page.form.save() is True
    [row] = page.destinations_table.rows
    assert "⚠" in row["cells"]["tested"]  # the last test said, until tested again
    assert wb.destinations.test("partner")

    page.add_encryption.click()
    form = page.form
    form.name.value = "partner-pgp"
    form.keys.value = keys.old.armored
    assert form.check_keys() is False and "expired" in form.found.value
    form.keys.value = ""  # a refusal without per-key problems is said too, never a blank
    assert form.check_keys() is False and "wb-error" in form.found.value
    form.keys.value = keys.alice.armored + "\n" + keys.bob.armored
    assert form.check_keys() is True
    assert keys.alice.fingerprint in form.found.value and "bob@example.com" in form.found.value
    assert form.save() is True
    [row] = page.encryptions_table.rows
    assert keys.bob.fingerprint in row["cells"]["keys"]


def test_an_export_is_built_through_the_wizard_run_now_and_delivered(wb, server, keys, tmp_path):  # noqa: F811
    add_partner(wb, server)
    wb.encryptions.add({"name": "partner-pgp", "keys": [keys.alice.armored, keys.bob.armored]})
    app = App(wb, background=False)
    app.go("audience", audience_id=1)
    app.page.act("export")
    builder = app.page
    assert type(builder).__name__ == "ExportBuilder" and builder.step == 0
    # Nothing complains about fields not yet touched; the destination says it is needed.
    assert "wb-error" not in builder.next_name.value and builder.message.value == ""
    assert "delivery date" in builder.next_name.value
    assert "Required" in builder.destination_hint.value
    assert builder.file_name.value == "{audience}_%Y%m%d_{run}.csv"  # never collides
    assert type(builder.zone).__name__ == "Combobox" and "Europe/Berlin" in builder.zone.options
    assert builder.tabs.disabled is False
    builder.tabs.value = 2  # a step tab is Next: blocked too
    assert builder.step == 0 and builder.tabs.value == 0
    assert builder.go(1) is False  # required fields empty: Next is blocked
    assert "Fix the marked fields" in builder.message.value
    assert "wb-invalid" in builder.name._dom_classes
    assert "wb-invalid" in builder.fields.inputs["destination"]._dom_classes
    date_note = builder.fields.notes["schedule.start"].value
    assert "Delivery date/time" not in date_note and "is required: choose a date" in date_note
    assert "choose a date" not in builder.fields.notes["file_name"].value + \
        builder.next_name.value + builder.rest.value  # the date's problem under the date only
    notes = " ".join(note.value for note in builder.fields.notes.values())
    assert "Name" not in notes and "is required" in builder.fields.notes["name"].value
    assert "String should" not in notes and "Input should" not in notes
    builder.name.value = "Women weekly"
    builder.file_name.value = "women_%Y%m%d.csv"
    from datetime import date
    builder.day.value = date(2027, 1, 4)
    builder.time.value = "06:00"
    builder.zone.value = "Europe/Berlin"
    builder.repeats.value = True
    builder.every.value, builder.unit.value = 1, "weeks"
    assert "Fix the marked fields" in builder.message.value  # the destination is still marked
    builder.destination.value = "partner"
    assert builder.fields.marked() == [], builder.fields.marked()
    assert builder.message.value == ""  # every marked field fixed: the complaint goes
    builder.encryption.value = "partner-pgp"
    assert "women_20270104.csv.pgp" in builder.next_name.value
    assert builder.go(1) is True
    assert ("First name", "first_name") in builder.attribute_picker.options  # readable
    builder.attribute_picker.value = "first_name"
    assert "First name" in builder.columns[1].widget.children[0].children[0].value
    builder.columns[1].label.value = "First Name"
    custom = builder.add_column({"template": "{{#if first_name}}{{bogus}}{{/if}}",
                                 "label": "Hello"})
    assert "unknown field &#x27;bogus&#x27;" in custom.problems.value  # as typed
    assert builder.go(2) is False
    custom.template.value = "Hi {{first_name}}"
    assert custom.problems.value == "" and "Hi Ann" in builder.preview.value
    assert builder.go(2) is True
    assert builder.mail_note.value == ""
    builder.notify.value = "ops@example.com, not-an-address"
    assert "E-mail will not be sent: no SMTP host configured" in builder.mail_note.value
    assert builder.save() is False and "wb-error" in builder.fields.notes["notify"].value
    assert "wb-invalid" in builder.notify._dom_classes
    builder.notify.value = "ops@example.com"
    assert builder.save() is True
    export = wb.exports.list()[0]
    assert export.config.columns[2].template == "Hi {{first_name}}"
    page = app.page  # back on the audience, its Exports tab
    assert type(page).__name__ == "AudiencePage" and page.tabs.selected_index == 2
    [row] = page.exports_table.rows
    assert [a for a, _ in row["actions"]] == ["edit", "pause", "cancel", "run", "preview"]

    app.go("exports")
    manage = app.page
    manage.exports_table.act(str(export.id), "run")
    [box] = manage.confirm.children  # asked first: nothing runs until confirmed
    question, buttons = box.children
    assert "Run export Women weekly now?" in question.value and "partner" in question.value
    assert wb.export_runs.history() == []
    assert buttons.children[0].description == "Run now"
    buttons.children[0].click()
    [run] = wb.export_runs.history()
    assert run.state == "complete", run.error
    assert "Complete" in manage.runs_table.rows[0]["cells"]["state"]
    assert "e-mail not sent: no SMTP host configured" in manage.runs_table.rows[0]["cells"][
        "error"]
    assert manage.runs_table.rows[0]["cells"]["destination"] == "partner"
    assert manage.exports_table.rows[0]["cells"]["destination"] == "partner"  # one name
    delivered = server.writable / run.file_name
    plain = tmp_path / "plain.csv"
    wb.exports.write_csv(export.id, plain)
    assert _decrypt_with_only(keys, keys.bob, delivered, tmp_path / "bob.csv") == \
        plain.read_bytes()
    manage.exports_table.act(str(export.id), "pause")
    assert wb.exports.get(export.id).state == "paused"
    assert [a for a, _ in manage.exports_table.rows[0]["actions"]] == [
        "edit", "activate", "cancel", "run", "preview"]
    manage.exports_table.act(str(export.id), "activate")
    assert wb.exports.get(export.id).state == "active"
    manage.state_filter.value = "failed"
    assert manage.runs_table.rows == []
    manage.state_filter.value = "complete"
    assert len(manage.runs_table.rows) == 1
    manage.exports_table.act(str(export.id), "edit")
    edit = app.page
    assert edit.name.value == "Women weekly" and len(edit.columns) == 3
    assert server.password not in widget_state(app.widget)


def test_a_viewer_gets_no_actions_and_no_forms(wb, server):
    add_partner(wb, server)
    wb.exports.create({"name": "Weekly", "audience": 1, "file_name": "w.csv",
                       "schedule": {"start": "2027-01-04T06:00"}, "destination": "partner",
                       "columns": [{"attribute": "customer_id"}]})
    text = wb.home.settings_file.read_text().replace("[users]", '[users]\nvic = "viewer"')
    wb.home.settings_file.write_text(text)
    with workbench.open(wb.home.root, user="vic") as viewer:
        app = App(viewer, background=False)
        app.go("exports")
        page = app.page
        assert [a for a, _ in page.exports_table.rows[0]["actions"]] == ["preview"]
        assert page.destinations_table.rows[0]["actions"] == []
        assert page.add_destination.layout.display == "none"
        page.exports_table.act(page.exports_table.rows[0]["id"], "pause")  # forged: not offered
        assert viewer.exports.list()[0].state == "active"
        assert server.password not in widget_state(app.widget)


def test_what_the_hostile_pass_found_stays_fixed(wb, server, keys):  # noqa: F811
    from workbench.errors import Conflict, PermissionDenied
    from workbench.ui.forms import DestinationForm, EncryptionForm

    app = App(wb, background=False)
    app.go("exports", tab=2)
    page = app.page
    # A key fetched and confirmed for one server is never saved for another.
    form = DestinationForm(app)
    form.host.value, form.port.value = server.host, server.port
    form.fetch_key()
    form.confirmed.value = True
    form.host.value = "sftp.partner.example"
    assert form.host_key is None and "host_key" not in form.data()
    # A refused save keeps what was typed (to fix the rest); Cancel takes it off the page.
    form.password.value = "typed-secret"
    assert form.save() is False and form.password.value == "typed-secret"
    form.widget.children[-1].children[1].click()
    assert form.password.value == ""
    # Nothing pasted is dropped: text beside a key is a key of its own, and refused.
    keys_form = EncryptionForm(app)
    keys_form.keys.value = keys.alice.armored + "\nnot a key at all\n"
    assert len(keys_form.armored()) == 2 and keys_form.check_keys() is False
    assert "key 2" in keys_form.found.value
    keys_form.keys.value = keys.alice_secret + keys.bob.armored
    assert keys_form.check_keys() is False and "private key" in keys_form.found.value
    # Run now twice: the second is refused while the first has not ended.
    add_partner(wb, server)
    export = wb.exports.create({"name": "Weekly", "audience": 1, "file_name": "w_{run}.csv",
                                "schedule": {"start": "2027-01-04T06:00"},
                                "destination": "partner",
                                "columns": [{"attribute": "customer_id"}]})
    wb.export_runs.create(export.id)
    with pytest.raises(Conflict, match="wait for it to end"):
        wb.export_runs.create(export.id)
    # Only those who may add destinations make the server reach out to an address.
    text = wb.home.settings_file.read_text().replace("[users]", '[users]\nvic = "viewer"')
    wb.home.settings_file.write_text(text)
    with workbench.open(wb.home.root, user="vic") as viewer, \
            pytest.raises(PermissionDenied):
        viewer.destinations.fetch_host_key(server.host, server.port)
    del page


def test_run_now_on_stale_members_asks_first_then_records_the_choice(wb, server, clock):
    add_partner(wb, server)
    export = wb.exports.create({"name": "Weekly", "audience": 1, "file_name": "w_{run}.csv",
                                "schedule": {"start": "2027-01-04T06:00"},
                                "destination": "partner",
                                "columns": [{"attribute": "customer_id"}]})
    clock.advance(days=4)  # nothing processed since: the members are 5 days old
    app = App(wb, background=False)
    app.go("exports")
    page = app.page
    page.exports_table.act(str(export.id), "run")
    [box] = page.confirm.children
    question, buttons = box.children
    assert "would deliver stale members" in question.value
    assert "Audience 1 (Women) is processed through 2026-03-10, 5 days before 2026-03-15" \
        in question.value
    assert wb.export_runs.history() == []  # nothing started while it asks
    no, yes = buttons.children[1], buttons.children[0]
    assert (yes.description, no.description) == ("Run anyway", "Don't run")
    no.click()
    assert page.confirm.children == () and wb.export_runs.history() == []
    page.exports_table.act(str(export.id), "run")
    page.confirm.children[0].children[1].children[0].click()
    [run] = wb.export_runs.history()
    assert run.state == "complete" and run.details["allowed_stale"].startswith("audience 1")
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]
    page.exports_table.act(str(export.id), "preview")
    assert "wb-stale" in page.preview.value and "5 days before" in page.preview.value


# -- the wizard's file choices (issue 22): what each file holds, compression, parts ----------


def test_the_destination_picker_names_each_destination_with_its_kind():
    from types import SimpleNamespace as Fake

    from workbench.ui.export_builder import destination_label, destination_places

    listed = [Fake(name="Partner SFTP", type="sftp"), Fake(name="Data lake", type="s3"),
              Fake(name="Second SFTP", type="sftp"), Fake(name="Odd", type="ftps")]
    assert [destination_label(d) for d in listed] == [
        "Partner SFTP (SFTP)", "Data lake (S3)", "Second SFTP (SFTP)", "Odd (FTPS)"]
    assert destination_places(listed) == ("an SFTP server's folder or an S3 bucket's prefix or "
                                          "a destination of kind ftps")
    assert destination_places(listed[:1]) == "an SFTP server's folder"


def test_the_file_choices_words_are_the_configurations_values():
    from workbench.ui.export_builder import (
        file_notes,
        split_choice,
        split_config,
        suggested_name,
        with_change,
    )

    assert suggested_name("w_%Y%m%d.csv", "gzip") == "w_%Y%m%d.csv.gz"
    assert suggested_name("w_%Y%m%d.CSV", "zstd") == "w_%Y%m%d.CSV.zst"
    assert suggested_name("w_%Y%m%d.csv.gz", "gzip") is None
    assert suggested_name("w_%Y%m%d.csv", None) is None
    assert with_change("w_%Y%m%d.csv") == "w_%Y%m%d_{change}.csv"
    assert split_config("", "1000") is None
    assert split_config("rows", "1,000") == {"rows": 1000}
    assert split_config("rows", " ") == {"rows": ""}  # the service says what is allowed
    assert split_config("mb", "5") == {"bytes": 5_000_000}  # decimal megabytes
    assert split_config("mb", "0.5") == {"bytes": 500_000}
    assert split_config("mb", "0") == split_config("mb", "") == {"bytes": 0}  # refused
    for stored in ({"rows": 1000}, {"bytes": 5_242_880}, {"bytes": 1024}, None):
        mode, size = split_choice(stored)
        assert split_config(mode, size) == stored  # bytes not a whole MB are kept exactly
    assert split_choice({"bytes": 5_242_880}) == ("mb", "5.24288")
    assert file_notes("gzip", {"rows": 1000}) == \
        "gzip-compressed; in numbered parts of at most 1,000 rows, then a manifest"
    assert file_notes(None, {"bytes": 5_000_000}) == \
        "in numbered parts of at most 5 MB, then a manifest"
    assert file_notes(None, None) == ""


def test_the_wizard_shows_and_keeps_every_stored_choice(wb, server):
    add_partner(wb, server)
    export = wb.exports.create({
        "name": "Women changes", "audience": 1, "file_name": "women_%Y%m%d.csv.zst",
        "destination": "partner", "schedule": {"start": "2027-01-04T06:00"},
        "columns": [{"attribute": "customer_id"}], "changes": "column", "compression": "zstd",
        "split": {"bytes": 5_242_880}, "max_staleness_days": 3,
        "csv": {"header": True, "field_delimiter": "semicolon", "neutralize_formulas": True}})
    stored = export.config.to_json()
    app = App(wb, background=False)
    app.go("export", export_id=export.id)
    builder = app.page
    assert ("partner (SFTP)", "partner") in builder.destination.options
    assert builder.destination.value == "partner"
    assert builder.destination_hint.value == ""  # picked: "Required" is said no more
    builder.destination.value = ""
    assert "Required: where the file goes (an SFTP server&#x27;s folder)" in \
        builder.destination_hint.value
    builder.destination.value = "partner"
    assert builder.changes.value == "column" and builder.compression.value == "zstd"
    assert "{change}</code> in the file name" not in builder.changes_hint.value  # one file
    assert (builder.split_mode.value, builder.split_size.value) == ("mb", "5.24288")
    assert "zstd-compressed; in numbered parts of at most 5.24288 MB" in builder.next_name.value
    assert "women_20270104_part001.csv.zst</code>, … then <code>women_20270104.manifest.json" \
        in builder.next_name.value  # the parts' names, not the unsplit one
    builder.go(1)
    assert "<th>change</th>" in builder.preview.value and "<td>added</td>" in builder.preview.value
    assert builder.save() is True  # nothing changed: nothing lost, the wizard's unseen too
    assert wb.exports.get(export.id).config.to_json() == stored

    app.go("export", export_id=export.id)
    builder = app.page
    builder.go(1)
    builder.changes.value = "added"
    builder.compression.value = "gzip"
    builder.split_mode.value = "rows"
    builder.split_size.value = "1000"
    assert builder.save() is True
    config = wb.exports.get(export.id).config
    assert (config.changes, config.compression, config.split.rows, config.split.bytes) == (
        "added", "gzip", 1000, None)
    assert config.max_staleness_days == 3 and config.csv.neutralize_formulas is True
    assert config.csv.field_delimiter == "semicolon"

    app.go("export", export_id=export.id)
    builder = app.page
    builder.changes.value, builder.compression.value, builder.split_mode.value = "full", "", ""
    assert builder.save() is True  # "none" is a choice too: not the stored one kept
    config = wb.exports.get(export.id).config
    assert (config.changes, config.compression, config.split) == ("full", None, None)
    assert config.max_staleness_days == 3 and config.csv.neutralize_formulas is True


def test_the_file_choices_say_what_is_wrong_under_their_field(wb, server):
    from datetime import date

    add_partner(wb, server)
    app = App(wb, background=False)
    app.go("audience", audience_id=1)
    app.page.act("export")
    builder = app.page
    assert builder.changes.value == "full" and builder.compression.value == "" and \
        builder.split_mode.value == ""  # a new export: today's behaviour
    assert ("partner (SFTP)", "partner") in builder.destination.options
    builder.name.value, builder.file_name.value = "Women parts", "women_%Y%m%d.csv"
    builder.day.value, builder.time.value = date(2027, 1, 4), "06:00"
    builder.destination.value = "partner"
    assert builder.go(1) is True
    assert builder.use_name.layout.display == "none" and builder.compression_hint.value == ""
    builder.compression.value = "gzip"
    assert "name it <code>women_%Y%m%d.csv.gz</code>" in builder.compression_hint.value
    assert "women_%Y%m%d.csv.gz" in builder.next_name.value  # the Setup step says it too
    assert builder.use_name.layout.display is None
    builder.use_name.click()
    assert builder.file_name.value == "women_%Y%m%d.csv.gz"
    assert "Compressed before encryption" in builder.compression_hint.value
    assert builder.use_name.layout.display == "none"

    builder.split_mode.value = "rows"
    for typed, said in (("0", "must be a whole number of rows, at least 1 (got 0)"),
                        ("", "must be a whole number of rows, at least 1 (got &#x27;&#x27;)"),
                        ("ten", "must be a whole number of rows, at least 1 (got &#x27;ten")):
        builder.split_size.value = typed
        assert builder.go(2) is False
        note = builder.fields.notes["split"].value
        assert said in note and "Value error" not in note, note
        assert "wb-invalid" in builder.fields.inputs["split"]._dom_classes
    builder.split_mode.value = "mb"
    builder.split_size.value = "0"
    assert builder.go(2) is False
    assert "must be a number of MB greater than 0 (got &#x27;0&#x27;); 1 MB is 1,000,000 bytes" \
        in builder.fields.notes["split"].value
    builder.split_size.value = "2.5"
    assert builder.fields.notes["split"].value == ""  # typing takes the complaint away
    assert "in numbered parts of at most 2.5 MB)" in builder.next_name.value
    assert "Next files: <code>women_20270104_part001.csv.gz</code>, … then <code>" \
        "women_20270104.manifest.json</code> (gzip-compressed; in numbered parts " \
        "of at most 2.5 MB" in builder.file_line.value  # on this step too

    builder.changes.value = "both"
    assert "Two files need <code>{change}</code>" in builder.changes_hint.value
    assert "women_{change}.csv.gz" not in builder.changes_hint.value
    assert "women_%Y%m%d_{change}.csv.gz" in builder.changes_hint.value
    builder.changes.value = "column"
    assert "first delivery holds everyone" in builder.changes_hint.value
    assert "a run delivers only the changes" in builder.preview.value
    assert "Two files" not in builder.changes_hint.value
    assert builder.go(2) is True
    assert builder.save() is True
    config = wb.exports.list()[0].config
    assert (config.changes, config.compression, config.split.bytes) == ("column", "gzip",
                                                                       2_500_000)
    assert config.file_name == "women_%Y%m%d.csv.gz"


def test_a_run_of_several_files_shows_its_manifest_and_what_it_delivered():
    from types import SimpleNamespace

    from workbench.ui.exports import file_cell

    def run(*files):
        return SimpleNamespace(file_name=files[-1][0], details={"files": [
            {"file_name": name, "change": change, "part": part} for name, change, part in files]})

    parts = run(("w_part001.csv.gz", "full", 1), ("w_part002.csv.gz", "full", 2),
                ("w.manifest.json", "manifest", None))
    assert file_cell(parts) == ('w.<wbr>manifest.<wbr>json <span class="wb-muted">(3 files: '
                                '2 parts, manifest, gzip)</span>')
    both = run(("w_added.csv", "added", None), ("w_removed.csv", "removed", None),
               ("w.manifest.json", "manifest", None))
    assert "(3 files: added + removed, manifest)" in file_cell(both)
    assert file_cell(run(("w_1.csv", "full", None))) == "w_<wbr>1.<wbr>csv"  # one file: its name
