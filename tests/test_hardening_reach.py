"""Issue 22's new reach, attacked as a hostile user would (S3 destinations, webhook and Slack
notices, changes-only files, splitting): each finding that broke something, fixed and pinned.

Delivery runs go to the real OpenSSH server of tests/sshd.py; notices to the real HTTP
receiver of tests/receiver.py. docs/exports.md says what was decided (the "Hostile input"
paragraphs of its S3, notices and changes-only sections)."""

from __future__ import annotations

import contextlib
import re
import subprocess
from datetime import timedelta

import pytest

from tests.sshd import skip_reason
from tests.test_export_files import LATER, export, next_day, run_now
from tests.test_export_files import wb as files_wb  # noqa: F401 - "Young women", "partner"
from workbench.delivery import webhook
from workbench.errors import DeliveryError, InvalidExport
from workbench.exports.models import ExportConfig
from workbench.run_states import RunState
from workbench.settings import Secret

needs_sshd = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
S3 = {"name": "lake", "type": "s3", "bucket": "drop", "region": "us-east-1",
      "access_key_id": "AKIAHOSTILE", "secret_access_key": "s3cr3t-hostile-value"}


# -- where a destination or a notice may point -------------------------------------------------

@pytest.mark.parametrize("field, value, said", [
    ("endpoint", "https://169.254.169.254", "Endpoint: 169.254.169.254 is a link-local address"),
    ("endpoint", "https://[::ffff:169.254.169.254]:443", "link-local address"),
    ("endpoint", "https://[fe80::1]", "link-local address"),
    ("endpoint", "https://0.0.0.0:9000", "0.0.0.0 is not the address of one server"),
    ("endpoint", "https://a b", "Endpoint: the host must be a DNS name or an IP address"),
    ("endpoint", "https://münchen.example", "(give xn--mnchen-3ya.example)"),
    ("endpoint", "http://127.0.0.1.nip.io:9000", "must be https"),
    ("bucket", "192.168.1.10", "Bucket: a bucket name"),
    # 600 characters, 1,200 bytes: S3 would refuse every key under it (KeyTooLongError).
    ("prefix", "\u00e9" * 600, "Prefix: is 1,200 bytes in UTF-8; at most 700"),
])
def test_an_s3_destination_pointing_nowhere_sane_is_refused_naming_the_field(wb, field, value,
                                                                              said):
    with pytest.raises(InvalidExport) as refused:
        wb.destinations.add({**S3, field: value})
    message = str(refused.value)
    assert said in message and "\n" not in message
    assert S3["secret_access_key"] not in message
    assert wb.destinations.list() == []  # nothing stored


@pytest.mark.parametrize("url, said", [
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("https://[::ffff:169.254.169.254]/x", "link-local address"),
    ("https://hooks.example.com/p\u00e9/TOKEN", "must be ASCII after the host: percent-encode "
                                               "U+00E9 (as %C3%A9)"),
    ("https://hooks.example.com/\u202eTOKEN", "percent-encode U+202E"),
    ("https://münchen.example/TOKEN", "(give xn--mnchen-3ya.example)"),
    ("https://hooks.example.com/" + "T" * 3000, "at most 2,048 characters (got 3,026)"),
    ("https://user:pw@hooks.example.com/TOKEN", "must not carry a user name or password"),
    ("file:///etc/passwd", "is not a URL"),
    ("http://[::ffff:127.0.0.1]/TOKEN", "must be https"),
])
def test_a_notice_url_that_could_never_be_sent_or_reaches_metadata_is_refused(wb, url, said):
    with pytest.raises(InvalidExport) as refused:
        wb.notices.add({"name": "ops", "type": "slack", "url": url})
    message = str(refused.value)
    assert said in message and "\n" not in message
    assert "TOKEN" not in message and "pw" not in message  # the URL is a secret
    assert wb.notices.list() == []


def test_an_ipv6_notice_host_is_shown_as_a_url_writes_it(wb):
    from tests.receiver import running_receiver

    with running_receiver() as receiver:
        target = wb.notices.add({"name": "v6", "type": "slack",
                                 "url": f"https://[::1]:{receiver.port}/TOKEN"})
    assert target.host == f"[::1]:{receiver.port}"


def test_a_stored_url_http_client_cannot_encode_fails_in_one_line_not_a_traceback():
    # A target saved before URLs were checked as now: its send is a refusal, never an
    # exception that escapes Test (a traceback in the UI) or a bare class name on the run.
    with pytest.raises(DeliveryError) as failed:
        webhook.post(Secret("http://127.0.0.1:9/caf\u00e9"), b"{}", dict, backoff=(0,))
    assert str(failed.value) == "the connection failed (UnicodeEncodeError)"


# -- split sizes -----------------------------------------------------------------------------

@pytest.mark.parametrize("split, said", [
    ({"rows": 10 ** 30}, "Rows per part: must be a whole number of rows, at most 1,000,000,000 "
                         "(got a number too large)"),
    ({"bytes": 10 ** 30}, "at most 100,000,000,000"),
    ({"rows": 1.0}, "Rows per part: must be a whole number of rows, at least 1 (got 1.0)"),
    ({"rows": "5"}, "at least 1 (got '5')"),
    ({"bytes": 1023}, "Bytes per part: must be a whole number of bytes, at least 1,024 (got 1023)"),
])
def test_split_sizes_name_what_is_allowed(split, said):
    config = {"name": "x", "audience": 1, "file_name": "x.csv", "destination": "d",
              "schedule": {"start": "2027-01-04T06:00"}, "columns": [{"attribute": "customer_id"}],
              "split": split}
    with pytest.raises(InvalidExport, match=re.escape(said)):
        ExportConfig.parse(config)


@needs_sshd
def test_a_split_into_more_parts_than_a_file_may_have_is_refused_at_save(files_wb,  # noqa: F811
                                                                        monkeypatch):
    monkeypatch.setattr("workbench.exports.models.MAX_PARTS", 2)
    with pytest.raises(InvalidExport) as refused:
        export(files_wb, split={"rows": 1})  # 3 members: 3 parts
    assert str(refused.value).endswith(
        "Rows per part: 1 rows a part would cut the 3 members of audience 1 (Young women) into 3 "
        "parts; at most 2 parts a file: give at least 2 rows")
    assert export(files_wb, split={"rows": 2})  # 2 parts: saved


@needs_sshd
def test_a_run_whose_split_outgrew_the_limit_fails_before_sending_anything(
        files_wb, server, monkeypatch):  # noqa: F811
    export_id = export(files_wb, split={"rows": 1}, compression="gzip",
                       file_name="young_{run}.csv.gz")  # 3 parts: saved under the real limit
    monkeypatch.setattr("workbench.exports.runs.MAX_PARTS", 2)  # the audience grew past it
    run = files_wb.export_runs.execute(files_wb.export_runs.create(export_id).id)
    assert run.state == RunState.FAILED
    assert run.error == ("split: parts of at most 1 rows would cut the full file (3 rows) into "
                         "more than 2 parts, the most a file may have; nothing was delivered: "
                         "make the parts larger (at least 2 rows)")
    assert list(server.writable.iterdir()) == []


# -- changes-only: the baseline on disk ------------------------------------------------------

@needs_sshd
@pytest.mark.parametrize("damage", ["deleted", "corrupted"])
def test_a_lost_baseline_fails_the_run_saying_so_and_sends_nothing(files_wb, server, clock,  # noqa: F811
                                                                  home, damage):
    export_id = export(files_wb, changes="added")
    first = run_now(files_wb, export_id)
    kept = home / "data" / "exports" / f"export-{export_id}" / f"run-{first.id}.parquet"
    if damage == "deleted":
        kept.unlink()
    else:
        kept.write_bytes(b"PAR1 not really")
    next_day(files_wb, clock)
    sent = sorted(p.name for p in server.writable.iterdir())
    run = files_wb.export_runs.execute(files_wb.export_runs.create(export_id).id)
    assert run.state == RunState.FAILED
    state = "is gone from the home" if damage == "deleted" else \
        "is damaged (not a readable Parquet file)"
    assert run.error.startswith(f"changes: the record of what run #{first.id} delivered "
                                f"(data/exports/export-{export_id}/run-{first.id}.parquet) "
                                f"{state}; this run measures its changes against it, so "
                                "nothing was delivered")
    assert str(home) not in run.error and "\n" not in run.error
    assert sorted(p.name for p in server.writable.iterdir()) == sent  # no full list as "added"
    # The way out the error gives: one full run, then changes-only starts from the full list.
    config = files_wb.exports.get(export_id).config.to_json()
    files_wb.exports.update(export_id, {**config, "changes": "full"})
    run_now(files_wb, export_id)
    files_wb.exports.update(export_id, config)
    again = run_now(files_wb, export_id)
    assert [f["change"] for f in again.details["files"]] == ["full"]


@needs_sshd
def test_a_run_still_choosing_its_baseline_keeps_the_id_files_it_may_read(
        files_wb, server, clock, home):  # noqa: F811
    """A scheduled run completing while another run of the export writes its files (it has
    chosen its baseline but not recorded which yet) must not prune that baseline away."""
    export_id = export(files_wb, changes="added")
    first = run_now(files_wb, export_id)
    next_day(files_wb, clock)
    files_wb.export_runs.plan(LATER)
    scheduled = files_wb.export_runs.due(LATER)
    assert scheduled
    by_hand = files_wb.export_runs.create(export_id).id
    records = files_wb.export_runs._records
    assert records.claim(by_hand, lease=timedelta(minutes=3), now=clock.now()) == 1
    assert files_wb.export_runs.execute(scheduled[0]).state == RunState.COMPLETE
    folder = home / "data" / "exports" / f"export-{export_id}"
    assert (folder / f"run-{first.id}.parquet").exists()


# -- the home's disk -------------------------------------------------------------------------

@contextlib.contextmanager
def mounted_tmpfs(folder, options: str):
    """A small tmpfs over ``folder`` (root only; skipped elsewhere): a real full or read-only
    file system, not a fake."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here (root only)")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@needs_sshd
def test_a_full_or_read_only_home_fails_the_run_in_one_line_and_sends_nothing(
        files_wb, server, home):  # noqa: F811
    padded = [{"attribute": "customer_id"},
              {"template": "{{customer_id}}" + "x" * 9900, "label": "pad"}]  # ~30 KB of CSV
    export_id = export(files_wb, compression="gzip", changes="added", columns=padded,
                       file_name="young_{change}_{run}.csv.gz")
    with mounted_tmpfs(home / "tmp", "size=24k"):  # the run's work folder: full mid-write
        run = files_wb.export_runs.execute(files_wb.export_runs.create(export_id).id)
    assert (run.state, run.error) == (RunState.FAILED, (
        "the home's disk is full (No space left on device) while the run wrote its files; "
        "nothing was delivered: make room (or fix its permissions) and run it again"))
    with mounted_tmpfs(home / "data" / "exports" / f"export-{export_id}", "ro,size=24k"):
        run = files_wb.export_runs.execute(files_wb.export_runs.create(export_id).id)
    assert run.state == RunState.FAILED
    assert run.error.startswith(f"the home's folder data/exports/export-{export_id} is "
                                "read-only (Read-only file system)")
    assert list(server.writable.iterdir()) == []
    assert run_now(files_wb, export_id).details["files"][0]["change"] == "full"  # room again


@needs_sshd
def test_removed_without_change_in_the_name_is_refused_its_first_file_is_the_full_list(
        files_wb, server):  # noqa: F811
    with pytest.raises(InvalidExport) as refused:
        export(files_wb, changes="removed", file_name="drop_%Y%m%d_{run}.csv")
    assert str(refused.value).endswith(
        'File name: "removed" delivers the full list first (no delivery to measure against '
        "yet): put {change} in the file name so that list is never read as removals")
    first = run_now(files_wb, export(files_wb, changes="removed"))  # young_{change}_{run}.csv
    assert [f["file_name"] for f in first.details["files"]] == [f"young_full_{first.id}.csv"]


@needs_sshd
def test_the_wizard_warns_about_removed_without_change_and_shows_the_refusal(files_wb):  # noqa: F811
    from datetime import date

    from workbench.ui import App

    app = App(files_wb, background=False)
    app.go("audience", audience_id=1)
    app.page.act("export")
    builder = app.page
    builder.name.value, builder.file_name.value = "Drops", "drop_%Y%m%d.csv"
    builder.day.value, builder.time.value = date(2027, 1, 4), "06:00"
    builder.destination.value = "partner"
    assert builder.go(1) is True
    builder.changes.value = "removed"
    assert "The first file is the full list" in builder.changes_hint.value
    assert "drop_%Y%m%d_{change}.csv" in builder.changes_hint.value
    assert builder.save() is False
    shown = " ".join(note.value for note in builder.fields.notes.values())
    assert "never read as removals" in shown
    assert files_wb.exports.list() == []


# -- kill -9 while the manifest streams --------------------------------------------------------

@needs_sshd
def test_kill_9_mid_manifest_then_the_take_over_sends_only_the_manifest(partnered, server,
                                                                       clock):
    """Every part is on the server, the manifest only as a temporary file when the process is
    killed: the take-over sends the manifest alone, listing the parts as they are there."""
    import json
    import os
    import signal
    import sys
    from datetime import datetime

    from tests.test_export_faults import _ids, leftovers, wait_until
    from tests.test_scheduler import BERLIN
    from workbench.store.runs import RunRecords

    wb = partnered
    wb.exports.create({"name": "Parts", "audience": 1, "file_name": "parts_{run}.csv",
                       "destination": "partner", "columns": [{"attribute": "customer_id"}],
                       "split": {"rows": 2},
                       "schedule": {"start": "2026-03-11T06:00", "timezone": "Europe/Berlin",
                                    "repeat": {"every": 1, "unit": "days"}}})
    now = datetime(2026, 3, 11, 6, 0, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    [run_id] = wb.export_runs.due(now)
    stalled = f".parts_{run_id}.manifest.json.part-{wb.store.workbench_id()}-{run_id}-1"
    os.mkfifo(server.writable / stalled, 0o666)
    os.chown(server.writable / stalled, *_ids(server.user))
    script = ("import workbench; from workbench.exports.notebook import run_export; "
              f"run_export(workbench.open(), {run_id})")
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    runner = subprocess.Popen([sys.executable, "-c", script], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: (RunRecords(wb.store).get(run_id)["partial"] or "").endswith(stalled))
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    parts = sorted(p for p in leftovers(server) if "_part" in p)
    sent = {name: (server.writable / name).stat().st_mtime_ns for name in parts}
    server.end_sessions()  # the session waiting on the pipe
    clock.advance(minutes=4)
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2, run.error
    assert leftovers(server) == sorted([*parts, f"parts_{run_id}.manifest.json"])
    assert {name: (server.writable / name).stat().st_mtime_ns for name in parts} == sent
    manifest = json.loads((server.writable / run.file_name).read_text())
    assert [p["file_name"] for p in manifest["parts"]] == parts
    assert [p["bytes"] for p in manifest["parts"]] == [
        (server.writable / name).stat().st_size for name in parts]


# -- compressed names --------------------------------------------------------------------------

@pytest.mark.parametrize("name, compression, suggested", [
    ("young.csv.gz.pgp", "gzip", None),
    ("young.csv.GZ", "gzip", None),
    ("young.csv.zstd", "zstd", None),
    ("young.csv", "zstd", "young.csv.zst"),
    ("young.csv.pgp", "gzip", "young.csv.gz.pgp"),
    # The other compression's suffix is replaced, never a second one added (x.csv.gz.zst).
    ("young.csv.gz.pgp", "zstd", "young.csv.zst.pgp"),
    ("young.csv.zst", "gzip", "young.csv.gz"),
])
def test_a_compressed_name_is_suggested_with_one_compression_suffix(name, compression,
                                                                    suggested):
    from workbench.exports.fileset import suggested_name

    assert suggested_name(name, compression) == suggested


# -- no secret anywhere ----------------------------------------------------------------------

@needs_sshd
def test_no_secret_of_a_notice_target_or_an_s3_destination_shows_anywhere(
        files_wb, server, home):  # noqa: F811
    """A guard, not a fix: every place a hostile user could read (run details and errors,
    the run's notebook, the CLI's output and --json, reprs, HTML, the audit trail) is free of
    the notice URL's token, the signing secret and the S3 secret key."""
    import json

    from tests.receiver import running_receiver
    from tests.test_cli import run as cli

    secrets = ("TOKENPATH", "whsec-hostile-0123456789", "S3-SECRET-hostile-value")
    with running_receiver() as receiver:
        files_wb.notices.add({"name": "hook", "type": "webhook", "secret": secrets[1],
                              "url": receiver.url(f"/{secrets[0]}")})
        files_wb.destinations.add({**S3, "endpoint": "http://127.0.0.1:9",
                                   "secret_access_key": secrets[2]})
        to_sftp = export(files_wb, notify=["hook"])
        to_lake = export(files_wb, name="To the lake", destination="lake", notify=["hook"])
        shown = [cli("export", "run", to_sftp, home=home), cli("export", "run", to_lake, home=home),
                 cli("export", "show", to_lake, "--json", home=home),
                 cli("destination", "show", "lake", "--json", home=home),
                 cli("export", "history", to_lake, home=home)]
        assert shown[0].returncode == 0 and shown[1].returncode == 1, shown[1].stderr
        assert len(receiver.received) == 2  # both runs told the webhook
    runs = files_wb.export_runs.history()
    assert runs[0].error == "cannot connect to 127.0.0.1:9 (endpoint unreachable)"
    places = {
        "cli": "".join(done.stdout + done.stderr for done in shown),
        "runs": json.dumps([run.to_json() for run in runs], default=str),
        "notebooks": "".join(path.read_text() for path in
                             (home / "runs" / "exports").glob("*.ipynb")),
        "repr": repr(files_wb.notices.list()) + repr(files_wb.destinations.target("lake"))
        + repr(files_wb.destinations.list()),
        "html": "".join(target._repr_html_() for target in files_wb.notices.list()),
        "audit": files_wb.audit().to_csv(),
    }
    assert places["notebooks"] and "127.0.0.1:9" in places["runs"]
    assert {where: [s for s in secrets if s in text] for where, text in places.items()} == \
        dict.fromkeys(places, [])


@needs_sshd
def test_an_export_names_at_most_8_notice_targets(files_wb):  # noqa: F811
    """Told all at once, a run's notices take at most 35 s even if every receiver hangs; a
    ninth target would wait behind a hanging one (and the scheduler with it)."""
    for n in range(9):
        files_wb.notices.add({"name": f"t{n}", "type": "slack",
                              "url": f"https://hooks.example.com/services/{n}"})
    with pytest.raises(InvalidExport) as refused:
        export(files_wb, notify=[f"t{n}" for n in range(9)])
    assert str(refused.value).endswith("Email recipients: names 9 notice targets; at most 8 an "
                                       "export")
    assert export(files_wb, notify=[f"t{n}" for n in range(8)] + ["ops@example.com"])
