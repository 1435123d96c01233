"""Export runs against a real OpenSSH server and real gpg: the file on the server is the CSV,
byte for byte (decrypted with each key when encrypted); a host key mismatch or a file already
there fails the run and sends nothing; a run is delivered once; the CLI runs it through
papermill and the audit notebook holds no secret."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.audience_data import D
from tests.conftest import add_partner
from tests.sshd import skip_reason
from tests.test_cli import run as cli
from tests.test_delivery_pgp import _decrypt_with_only, keys  # noqa: F401 - real gpg keys
from workbench.errors import Conflict

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
NOW = datetime(2026, 3, 11, 12, tzinfo=UTC)  # noon on the day after D (women are as of D)




@pytest.fixture
def wb(women, server):
    add_partner(women, server)
    return women


def export(wb, **changes) -> int:
    config = {"name": "Women daily", "audience": 1, "file_name": "women_{run}_%Y%m%d.csv",
              "schedule": {"start": "2026-03-12T06:00", "timezone": "Europe/Berlin",
                           "repeat": {"every": 1, "unit": "days"}},
              "destination": "partner",
              "csv": {"header": True, "record_delimiter": "CRLF", "field_delimiter": "comma"},
              "columns": [{"attribute": "customer_id"},
                          {"attribute": "first_name", "label": "First Name"}]}
    return wb.exports.create({**config, **changes}).id


def test_a_run_delivers_the_csv_under_its_final_name(wb, server, tmp_path):
    export_id = export(wb)
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete" and run.error is None
    assert (run.rows, run.as_of, run.attempts) == (3, D, 1)
    assert run.file_name == f"women_{run.id}_20260311.csv"  # the run's time in Berlin
    delivered = (server.writable / run.file_name).read_bytes()
    assert delivered == b"customer_id,First Name\r\nann,Ann\r\neve,Eve\r\nfay,O'Brien\r\n"
    assert run.bytes == len(delivered)
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]  # no .part left
    assert [r.id for r in wb.export_runs.history(export_id)] == [run.id]
    frame = wb.export_runs.frame(export_id)  # the same runs for pandas
    assert frame.loc[0, ["id", "state", "rows", "file_name"]].tolist() == \
        [run.id, "complete", 3, run.file_name]
    assert str(frame["rows"].dtype) == "Int64" and str(frame["bytes"].dtype) == "Int64"


def test_an_encrypted_run_decrypts_with_each_key(wb, server, tmp_path, keys):  # noqa: F811
    wb.encryptions.add({"name": "pgp", "keys": [keys.alice.armored, keys.bob.armored]})
    export_id = export(wb, encryption="pgp")
    plain = tmp_path / "plain.csv"
    wb.exports.write_csv(export_id, plain)
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete" and run.file_name.endswith(".csv.pgp")
    assert run.details["encrypted_to"] == [keys.alice.fingerprint, keys.bob.fingerprint]
    delivered = server.writable / run.file_name
    for key in (keys.alice, keys.bob):
        assert _decrypt_with_only(keys, key, delivered, tmp_path / f"{key.fingerprint}.csv") \
            == plain.read_bytes()


def test_a_key_gpg_refuses_at_run_time_fails_the_run_and_sends_nothing(wb, server, clock,
                                                                       keys):  # noqa: F811
    # The key expired since it was saved (in 2020, when it was valid): gpg refuses it while
    # the upload already streams.
    clock.set(datetime(2020, 6, 1, tzinfo=UTC))
    wb.encryptions.add({"name": "pgp", "keys": [keys.alice.armored, keys.old.armored]})
    clock.set(NOW)
    export_id = export(wb, encryption="pgp")
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "failed" and "has expired" in run.error
    assert list(server.writable.iterdir()) == []


def test_a_changed_host_key_fails_the_run_and_sends_nothing(wb, server):
    export_id = export(wb)
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    destination = wb.destinations.get("partner")
    wb.destinations.update("partner", {"name": "partner", "host": server.host,
                                       "port": server.port, "path": str(server.writable),
                                       "username": server.user, "host_key": other},
                           version=destination.version)
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "failed" and "host key" in run.error
    assert list(server.writable.iterdir()) == []


def test_a_file_already_there_is_never_overwritten(wb, server):
    export_id = export(wb, file_name="fixed.csv")
    (server.writable / "fixed.csv").write_text("theirs")
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "failed" and "exists already" in run.error
    assert (server.writable / "fixed.csv").read_text() == "theirs"
    assert sorted(p.name for p in server.writable.iterdir()) == ["fixed.csv"]


def test_a_run_is_delivered_once(wb, server):
    run_id = wb.export_runs.create(export(wb)).id
    assert wb.export_runs.execute(run_id).state == "complete"
    with pytest.raises(Conflict, match="it is not delivered twice"):
        wb.export_runs.execute(run_id)
    assert len(list(server.writable.iterdir())) == 1


def test_the_cli_runs_it_through_papermill_and_keeps_no_secret(wb, server):
    export_id = export(wb)
    done = cli("export", "run", export_id, "--json", home=wb.home.root)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["state"] == "complete" and printed["rows"] == 3
    assert {"id", "export_id", "state", "scheduled_for", "as_of", "rows", "bytes", "file_name",
            "attempts", "error"} <= set(printed)
    notebook = wb.home.root / printed["notebook"]
    text = notebook.read_text()
    assert printed["file_name"] in text and server.password not in text
    history = json.loads(cli("export", "history", "--json", home=wb.home.root).stdout)
    assert [r["id"] for r in history] == [printed["id"]]


def test_recipients_without_an_smtp_host_are_recorded_as_not_mailed(wb, server):
    assert wb.settings.smtp.host == ""  # a new home sends no mail
    quiet = wb.export_runs.execute(wb.export_runs.create(export(wb)).id)
    assert quiet.state == "complete" and quiet.notification is None  # nobody to tell
    told = export(wb, name="Women told", notify=["crm-ops@example.com"])
    run = wb.export_runs.execute(wb.export_runs.create(told).id)
    assert run.state == "complete"
    assert run.notification == "e-mail not sent: no SMTP host configured"
    assert wb.export_runs.get(run.id).to_json()["details"]["notification"] == run.notification


def test_whether_a_run_can_be_mailed_is_decided_before_trying():
    from workbench.exports.notify import sent_note, unsent_reason

    assert unsent_reason([], "") is None and unsent_reason([], None) is None
    assert unsent_reason(["a@example.com"], "  ") == "no SMTP host configured"
    assert unsent_reason(["a@example.com"], None) == "no SMTP host configured"
    assert unsent_reason(["a@example.com"], "mail.example.com") is None
    assert sent_note(2) == "e-mail sent to 2 recipients"


def test_each_run_that_ends_sends_one_email_and_a_failed_email_never_fails_it(wb, server):
    from tests.test_mail import mailing, smtp_server

    export_id = export(wb, notify=["crm-ops@example.com"])
    with smtp_server() as (inbox, port), mailing(wb, port) as mailed:
        run = mailed.export_runs.execute(mailed.export_runs.create(export_id).id)
        assert run.state == "complete" and run.notification == "e-mail sent to 1 recipient"
        message = inbox.parsed(0)
        assert message["To"] == "crm-ops@example.com"
        assert "complete: 3 rows" in message["Subject"]
        body = message.get_content()
        assert run.file_name in body and server.password not in body
        assert server.password not in inbox.received[0].original_content.decode()
    with mailing(wb, 1) as mailed:  # nothing listens on port 1
        later = mailed.export_runs.execute(mailed.export_runs.create(export_id).id)
    assert later.state == "complete" and later.notification.startswith("e-mail not sent:")
