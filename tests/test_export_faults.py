"""The fault suite of delivery: one test per promise of docs/exports.md ("what we promise |
the fault | the test that shows it"), each against a real OpenSSH server on loopback.

Store-sensitive promises (one run by hand at once, a result recorded through a busy store)
run on SQLite and PostgreSQL in tests/test_export_races.py. The same promises for S3
destinations (a connection cut mid-multipart, a lost copy answer found by the takeover, the
sweep of temporary keys and incomplete uploads) are in tests/test_delivery_s3.py, against
moto's S3 server, which needs no OpenSSH.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.audience_data import D
from tests.conftest import women_export as export
from tests.sshd import skip_reason
from tests.test_cli import run as cli
from workbench.errors import SftpError
from workbench.store.runs import RunRecords

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
WORKBENCH = str(Path(sys.executable).with_name("workbench"))


@pytest.fixture
def wb(partnered):
    return partnered


def leftovers(server) -> list[str]:
    return sorted(p.name for p in server.writable.iterdir())


def stalled_upload(server, wb, run_id: int) -> Path:
    """A named pipe where the run's temporary file goes: the server's open of it for writing
    waits (for a reader that never comes), so the upload is caught mid-way, for certain."""
    name = f".women_{run_id}.csv.part-{wb.store.workbench_id()}-{run_id}-1"
    fifo = server.writable / name
    os.mkfifo(fifo, 0o666)
    os.chown(fifo, *_ids(server.user))
    return fifo


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def wait_until(check, timeout: float = 60.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(step)
    raise AssertionError("timed out waiting")


# -- a dropped connection ---------------------------------------------------------------------

def test_a_connection_dropped_mid_upload_leaves_nothing_under_the_final_name(wb, server,
                                                                            tmp_path):
    """The session's sshd process is killed while a large file streams: one line saying
    what happened, nothing under the final name; the temporary file the server kept is
    recorded and removed by the next sweep."""
    from types import SimpleNamespace

    from workbench.delivery.upload import upload

    payload = tmp_path / "big.bin"
    payload.write_bytes(os.urandom(64 * 1024 * 1024))
    target = wb.destinations.target("partner")
    killed, recorded = threading.Event(), []

    def kill_session() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not killed.is_set():
            part = [p for p in server.writable.iterdir() if ".part-" in p.name]
            if part and part[0].stat().st_size > 1024 * 1024:
                server.end_sessions()
                killed.set()
            time.sleep(0.01)

    killer = threading.Thread(target=kill_session)
    killer.start()
    with pytest.raises(SftpError) as raised, open(payload, "rb") as source:
        upload(target, source, "final.csv", SimpleNamespace(
            workbench=wb.store.workbench_id(), run_id=9, attempt=1, live=lambda *_: False,
            writing=recorded.append, staging=lambda _s: None))
    killer.join()
    assert killed.is_set() and "\n" not in str(raised.value)
    assert "closed during the transfer" in str(raised.value) or "Failure" not in str(
        raised.value)
    assert not (server.writable / "final.csv").exists()
    # The server may have kept the partial file; it was recorded before a byte was written.
    assert recorded[0].endswith(f".final.csv.part-{wb.store.workbench_id()}-9-1")


def test_a_partial_file_left_by_a_run_is_swept_at_the_next_contact(wb, server):
    """What a stopped attempt left on the server (here made by hand: a run that was killed)
    is removed when the workbench next delivers to that folder; another workbench's
    temporary files and the partner's own files are left alone."""
    ours = f".old.csv.part-{wb.store.workbench_id()}-77-1"
    theirs = ".old.csv.part-0123abcd-77-1"
    for name in (ours, theirs, "partner_file.csv"):
        (server.writable / name).write_text("rows")
    run = wb.export_runs.execute(wb.export_runs.create(export(wb)).id)
    assert run.state == "complete"
    assert leftovers(server) == sorted([run.file_name, theirs, "partner_file.csv"])


# -- kill -9 mid-upload: the kernel dies too, the run is taken over, nothing stays --------------

def test_kill_9_of_the_cli_mid_upload_ends_the_run_once_and_sweeps_its_partial(wb, server,
                                                                                clock):
    import psutil

    from tests.test_mail import mailing, smtp_server

    export_id = export(wb, notify=["crm-ops@example.com"])
    run_id = wb.export_runs.create(export_id).id
    fifo = stalled_upload(server, wb, run_id)
    # What `export run` does once it has made the run, in a process of its own.
    script = ("import sys, workbench; from workbench.exports.notebook import run_export; "
              f"run_export(workbench.open(), {run_id})")
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    runner = subprocess.Popen([sys.executable, "-c", script], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: RunRecords(wb.store).get(run_id)["partial"])  # the upload began
    kernels = [p for p in psutil.Process(runner.pid).children(recursive=True)]
    assert kernels, "the run's kernel"
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    # The kernel dies with the process that runs its notebook: no run goes on unrecorded.
    wait_until(lambda: not any(k.is_running() and k.status() != psutil.STATUS_ZOMBIE
                               for k in kernels), timeout=10)
    assert wb.export_runs.get(run_id).state == "in_progress"
    assert fifo.exists()  # the partial file on the partner's server
    # Its lease runs out; the scheduler's next tick takes it over (a run by hand: Failed),
    # removes what it left, and e-mails once.
    clock.advance(minutes=4)
    with smtp_server() as (inbox, port), mailing(wb, port) as again:
        from workbench.scheduler import Scheduler

        lines: list[str] = []
        Scheduler(again, log=lines.append).tick()
        run = again.export_runs.get(run_id)
        assert run.state == "failed" and "a run started by hand is one attempt" in run.error
        assert run.attempts == 2
        assert leftovers(server) == [] and RunRecords(again.store).get(run_id)[
            "partial"] is None
        assert len(inbox.received) == 1 and "failed" in inbox.parsed(0)["Subject"]
        notebook = Path(RunRecords(again.store).get(run_id)["notebook"])
    # The takeover's notebook is the run's audit record of how it ended.
    assert notebook.is_file() and "one attempt" in notebook.read_text()
    server.end_sessions()  # the server's session still waiting


# -- audit notebooks -------------------------------------------------------------------------

def test_processing_notebooks_never_share_a_path_and_a_refused_run_keeps_none(wb):
    """Two `process --as-of D` started together, the clock pinned (the same second for both):
    every run has a notebook of its own; one refused while the other holds the lock records
    none and says so in one line."""
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    runs = [subprocess.Popen([WORKBENCH, "process", "--as-of", str(D)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    outputs = [r.communicate(timeout=300) for r in runs]
    refused = [err for r, (_, err) in zip(runs, outputs, strict=True) if r.returncode != 0]
    assert all(err.count("\n") == 1 and "another processing run is in progress" in err
               for err in refused), refused
    recorded = [r["notebook"] for r in wb.processing.runs(limit=10) if r["notebook"]]
    notebooks = sorted(str(p) for p in (wb.home.runs_dir / "processing").iterdir())
    assert sorted(recorded) == notebooks and len(notebooks) == 3 - len(refused)


# -- owner-only files from their creation --------------------------------------------------

def test_what_a_run_writes_is_the_owners_only_from_its_creation(wb, server):
    """With a permissive umask: run notebooks (also while they run), the processing lock and
    the run's work files are 0600 from the moment they exist (the CLI sets umask 077 for
    itself and what it starts)."""
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    export_id = export(wb)
    seen: dict[str, int] = {}
    stop = threading.Event()

    def watch() -> None:  # every file of the home, as soon as it appears
        while not stop.is_set():
            for path in wb.home.root.rglob("*"):
                if path.is_file() and str(path) not in seen:
                    try:
                        seen[str(path)] = path.stat().st_mode & 0o777
                    except FileNotFoundError:
                        pass
            time.sleep(0.005)

    watcher = threading.Thread(target=watch)
    watcher.start()
    old = os.umask(0o022)
    try:
        for args in (["process", "--as-of", str(D)], ["export", "run", str(export_id)]):
            done = subprocess.run([WORKBENCH, *args], env=env, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr
    finally:
        os.umask(old)
        stop.set()
        watcher.join()
    inside = {str(Path(path).relative_to(wb.home.root)): mode for path, mode in seen.items()}
    made = {path: mode for path, mode in inside.items()
            if path.startswith(("runs/", "tmp/", "data/", ".processing.lock"))}
    assert any(p.startswith("runs/exports/") for p in made) and \
        any(p.startswith("runs/processing/") for p in made) and ".processing.lock" in made
    assert {p: oct(m) for p, m in made.items() if m & 0o077} == {}


# -- what a partner or the run history must never see -------------------------------------

def test_a_file_name_that_looks_like_a_temporary_upload_is_refused(wb):
    from workbench.errors import InvalidExport

    with pytest.raises(InvalidExport, match="look like an upload's temporary name"):
        export(wb, file_name=".x.csv.part-1-1")


def test_a_complete_run_shows_no_error_of_an_earlier_attempt(wb, server, clock):
    from datetime import datetime

    from tests.test_scheduler import BERLIN

    destination = wb.destinations.get("partner")
    wb.destinations.update("partner", {"name": "partner", "host": server.host, "port": 1,
                                       "path": str(server.writable), "username": server.user,
                                       "host_key": server.host_key_line()},
                           version=destination.version)
    wb.exports.create({"name": "Daily", "audience": 1, "file_name": "d_{run}.csv",
                       "destination": "partner", "columns": [{"attribute": "customer_id"}],
                       "schedule": {"start": "2026-03-11T06:00", "timezone": "Europe/Berlin",
                                    "repeat": {"every": 1, "unit": "days"}}})
    now = datetime(2026, 3, 11, 6, 0, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    [run_id] = wb.export_runs.due(now)
    assert wb.export_runs.execute(run_id).state == "scheduled"  # refused: retried later
    add_partner_back = wb.destinations.get("partner")
    wb.destinations.update("partner", {"name": "partner", "host": server.host,
                                       "port": server.port, "path": str(server.writable),
                                       "username": server.user, "password": server.password,
                                       "host_key": server.host_key_line()},
                           version=add_partner_back.version)
    clock.set(RunRecords(wb.store).get(run_id)["next_attempt_at"])
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2 and run.error is None
    history = cli("export", "history", home=wb.home.root).stdout
    assert "attempt 1 failed" not in history and run.file_name in history


def test_a_run_that_did_not_complete_is_said_in_one_line_with_its_state_once(wb, server):
    from workbench.cli.runs import unfinished

    export_id = export(wb)
    run_id = wb.export_runs.create(export_id).id
    wb.exports.cancel(export_id)
    run = wb.export_runs.execute(run_id)
    assert unfinished(run, "n.ipynb") == (
        f"export run #{run_id} canceled: the export was canceled before this run started "
        "(audit notebook: n.ipynb)")
    run.state, run.error = "in_progress", None
    assert unfinished(run, "n.ipynb").startswith(f"export run #{run_id} is in-progress: its "
                                                 "attempt could not record how it ended")
    assert "None" not in unfinished(run, "n.ipynb") and leftovers(server) == []


def test_the_time_a_run_was_recorded_uses_the_workbench_clock(wb, server, clock):
    run = wb.export_runs.execute(wb.export_runs.create(export(wb)).id)
    assert run.scheduled_for == clock.now()
    assert RunRecords(wb.store).get(run.id)["finished_at"] == clock.now()
    assert timedelta(0) == run.scheduled_for - clock.now()


def test_sigterm_to_export_run_mid_upload_ends_the_run_and_removes_its_partial(wb, server):
    """`export run` stopped (SIGTERM, as cron and systemd stop jobs) while its upload is under
    way: one line with the run's state, the run ended Failed at once (one attempt, by hand),
    its temporary file removed, nothing under the final name."""

    export_id = export(wb)
    fifo = stalled_upload(server, wb, 1)  # the run this export's first `export run` makes
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    runner = subprocess.Popen([WORKBENCH, "export", "run", str(export_id)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: RunRecords(wb.store).get(1)["partial"] if wb.export_runs.history()
               else None)
    runner.send_signal(signal.SIGTERM)
    _, err = runner.communicate(timeout=120)
    assert runner.returncode == 1 and err.count("\n") == 1, err
    assert err.startswith("workbench: stopped: export run #1 failed: interrupted")
    run = wb.export_runs.get(1)
    assert run.state == "failed" and RunRecords(wb.store).get(1)["partial"] is None
    assert not fifo.exists() and leftovers(server) == []
    server.end_sessions()  # the server's session still waiting


def test_a_rename_whose_answer_was_lost_is_never_failed_and_is_found_later(wb, server, clock,
                                                                           monkeypatch):
    """The connection goes while the rename is answered (the server did it): the run is not
    Failed (it may be delivered); the attempt that takes it over finds the file and records
    it Complete; it is never sent twice."""
    import paramiko

    renamed = paramiko.SFTPClient.rename

    def rename_then_drop(self, old, new):
        renamed(self, old, new)
        raise EOFError()

    monkeypatch.setattr(paramiko.SFTPClient, "rename", rename_then_drop)
    run_id = wb.export_runs.create(export(wb)).id
    run = wb.export_runs.execute(run_id)
    assert run.state == "in_progress" and "was lost while" in run.error
    monkeypatch.setattr(paramiko.SFTPClient, "rename", renamed)
    clock.advance(minutes=4)
    assert wb.export_runs.due(clock.now()) == [run_id]
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2 and run.details["sha256"]
    assert leftovers(server) == [run.file_name]


# -- sets of files: parts and their manifest ----------------------------------------------------

def test_kill_9_between_parts_then_the_take_over_sends_the_rest_once(wb, server, clock):
    """A scheduled split run is killed (-9) while its second part streams: part 1 is on the
    server, part 2 only as a temporary file. The attempt that takes it over sends parts 2
    and 3, then the manifest; part 1 is never sent again and the temporary file is swept."""

    from tests.test_scheduler import BERLIN

    wb.exports.create({"name": "Parts", "audience": 1, "file_name": "parts_{run}.csv",
                       "destination": "partner", "columns": [{"attribute": "customer_id"}],
                       "split": {"rows": 1},
                       "schedule": {"start": "2026-03-11T06:00", "timezone": "Europe/Berlin",
                                    "repeat": {"every": 1, "unit": "days"}}})
    now = datetime(2026, 3, 11, 6, 0, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    [run_id] = wb.export_runs.due(now)
    stalled = f".parts_{run_id}_part002.csv.part-{wb.store.workbench_id()}-{run_id}-1"
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
    first = server.writable / f"parts_{run_id}_part001.csv"
    sent = first.stat().st_mtime_ns
    server.end_sessions()  # the session waiting on the pipe
    clock.advance(minutes=4)
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2, run.error
    assert leftovers(server) == sorted([first.name, f"parts_{run_id}_part002.csv",
                                        f"parts_{run_id}_part003.csv", run.file_name])
    assert first.stat().st_mtime_ns == sent
    manifest = json.loads((server.writable / run.file_name).read_text())
    assert [p["file_name"] for p in manifest["parts"]] == [
        f"parts_{run_id}_part00{n}.csv" for n in (1, 2, 3)]
    assert [p["rows"] for p in manifest["parts"]] == [1, 1, 1] and manifest["as_of"] == str(D)


@pytest.mark.parametrize("trigger", ["schedule", "manual"])
def test_a_lost_rename_answer_mid_set_is_found_and_the_rest_sent(wb, server, clock,
                                                                 monkeypatch, trigger):
    """The answer to part 2's rename is lost with the connection (the server did it): the
    run is not Failed; the take-over of a scheduled run finds part 2 there and sends part 3
    and the manifest. A run by hand is one attempt: it fails naming the files of the set
    that reached the server without their manifest."""
    import paramiko

    from tests.test_scheduler import BERLIN

    renamed, count = paramiko.SFTPClient.rename, []

    def second_answer_lost(self, old, new):
        renamed(self, old, new)
        count.append(new)
        if len(count) == 2:
            raise EOFError()

    monkeypatch.setattr(paramiko.SFTPClient, "rename", second_answer_lost)
    if trigger == "manual":
        run_id = wb.export_runs.create(export(wb, split={"rows": 1})).id
    else:
        export(wb, split={"rows": 1}, schedule={
            "start": "2026-03-11T06:00", "timezone": "Europe/Berlin",
            "repeat": {"every": 1, "unit": "days"}})
        now = datetime(2026, 3, 11, 6, 0, tzinfo=BERLIN)
        clock.set(now)
        wb.export_runs.plan(now)
        [run_id] = wb.export_runs.due(now)
    run = wb.export_runs.execute(run_id)
    assert run.state == "in_progress" and "was lost while" in run.error
    monkeypatch.setattr(paramiko.SFTPClient, "rename", renamed)
    parts = [f"women_{run_id}_part00{n}.csv" for n in (1, 2, 3)]
    assert leftovers(server) == parts[:2]
    sent = (server.writable / parts[1]).stat().st_mtime_ns
    clock.advance(minutes=4)
    run = wb.export_runs.execute(run_id)
    assert (server.writable / parts[1]).stat().st_mtime_ns == sent  # never sent twice
    if trigger == "manual":
        assert run.state == "failed" and "without the manifest" in run.error
        assert ", ".join(parts[:2]) in run.error and leftovers(server) == parts[:2]
        return
    assert run.state == "complete" and run.attempts == 2
    assert leftovers(server) == sorted([*parts, f"women_{run_id}.manifest.json"])
    assert [f["file_name"] for f in run.details["files"]] == [*parts, run.file_name]


def test_an_attempt_whose_kernel_never_claimed_the_run_does_not_report_its_state(
        wb, server, tmp_path, monkeypatch):
    """Two schedulers at once: one delivers the run; the other's kernel fails before it claims
    it (a kernel that does not start). That attempt says its own failure, not the other's
    Complete (a CI run printed "complete" twice), and touches nothing."""
    import nbformat

    from workbench import notebooks
    from workbench.errors import NotebookFailed
    from workbench.exports.notebook import run_export

    run = wb.export_runs.execute(wb.export_runs.create(export(wb)).id)
    assert run.state == "complete"
    failing = tmp_path / "notebooks"
    failing.mkdir()
    book = nbformat.v4.new_notebook()  # no kernel named: papermill cannot start one
    book.cells = [nbformat.v4.new_code_cell("import workbench")]
    nbformat.write(book, failing / "run_export.ipynb")
    monkeypatch.setattr(notebooks, "NOTEBOOKS", failing)
    with pytest.raises(NotebookFailed, match="the notebook could not run"):
        run_export(wb, run.id)
    again = wb.export_runs.get(run.id)
    assert (again.state, again.attempts, again.file_name) == ("complete", 1, run.file_name)
    assert leftovers(server) == [run.file_name]
