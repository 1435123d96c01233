"""Exactly once where the store decides it, on SQLite and on PostgreSQL (tests/conftest.py's
BOTH_STORES), against a real OpenSSH server: two "Run now" at once make one run and one file;
a file renamed into place while the store cannot take the result is recorded Complete (by the
same attempt once the store answers, or by the attempt that takes the run over), and is never
sent twice."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

import workbench
from tests.conftest import ADMIN
from tests.conftest import women_export as export
from tests.sshd import skip_reason
from workbench.errors import Busy, Conflict
from workbench.exports.runs import ExportRuns
from workbench.store.runs import RunRecords

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
WORKBENCH = str(Path(sys.executable).with_name("workbench"))


@pytest.fixture
def wb(partnered):
    return partnered


def test_two_run_now_at_once_make_one_run_and_one_file(wb, server):
    export_id = export(wb)
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": ADMIN}
    for _round in range(2):
        both = [subprocess.Popen([WORKBENCH, "export", "run", str(export_id)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        outputs = [p.communicate(timeout=300) for p in both]
        codes = sorted(p.returncode for p in both)
        assert codes == [0, 1], outputs
        [(_, refused)] = [out for p, out in zip(both, outputs, strict=True) if p.returncode]
        assert refused.count("\n") == 1 and "wait for it to end" in refused
    runs = wb.export_runs.history(export_id)
    assert [r.state for r in runs] == ["complete", "complete"]
    assert sorted(p.name for p in server.writable.iterdir()) == sorted(r.file_name
                                                                      for r in runs)


def test_the_store_makes_one_run_of_many_run_now_at_once(wb):
    """The check and the insert are one statement: eight processes' worth of clicks in the
    same instant (threads, each with its own connection) make one run."""
    export_id = export(wb)
    homes = [workbench.open(wb.home.root, user=ADMIN) for _ in range(8)]
    start = threading.Barrier(len(homes))
    made, refused = [], []

    def click(other) -> None:
        start.wait()
        try:
            made.append(other.export_runs.create(export_id).id)
        except Conflict as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=click, args=(other,)) for other in homes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in homes:
        other.close()
    assert len(made) == 1 and len(refused) == 7
    assert all(f"has run #{made[0]} scheduled; wait for it to end" in r for r in refused)


def busy_when_complete(wb, times: int) -> tuple[ExportRuns, list[int]]:
    """``wb``'s export runs on a store that refuses the first ``times`` attempts to record a
    run Complete (as a store held by another process refuses: ``Busy``); and the list of
    refusals made."""
    made = []

    class BusyWhenComplete(RunRecords):
        def finish_attempt(self, run_id, attempt, move, **values):
            if move == "complete" and len(made) < times:
                made.append(attempt)
                raise Busy("the metadata store is busy (another process holds its write lock "
                           "longer than 30 s); try again")
            return super().finish_attempt(run_id, attempt, move, **values)

    runs = ExportRuns(records=BusyWhenComplete(wb.store), exports=wb.exports,
                      destinations=wb.destinations, encryptions=wb.encryptions, home=wb.home,
                      user=wb.user, now=wb.calendar.now, audit=wb.audit_trail,
                      smtp=wb.settings.smtp)
    return runs, made


def test_a_busy_store_after_the_rename_is_waited_for(wb, server, monkeypatch):
    monkeypatch.setattr("workbench.exports.runs.time.sleep", lambda _s: None)
    runs, refusals = busy_when_complete(wb, times=3)
    run = runs.execute(runs.create(export(wb)).id)
    assert refusals == [1, 1, 1] and run.state == "complete" and run.attempts == 1
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]


@pytest.mark.parametrize("trigger", ["manual", "schedule"])
def test_a_file_renamed_whose_result_was_never_recorded_is_found_and_never_sent_twice(
        wb, server, clock, monkeypatch, trigger):
    """The store stays busy past the lease after the rename (the hostile pass's BEGIN
    EXCLUSIVE): the run stays In-Progress, never Failed; the attempt that takes it over
    finds the file on the server, records the run Complete and sends the e-mail once."""
    from datetime import datetime

    from tests.test_mail import mailing, smtp_server
    from tests.test_scheduler import BERLIN

    monkeypatch.setattr("workbench.exports.runs.time.sleep", lambda _s: None)
    monkeypatch.setattr("workbench.exports.runs.LEASE", timedelta(seconds=0))
    changes = {"notify": ["crm-ops@example.com"]}
    if trigger == "schedule":
        changes["schedule"] = {"start": "2026-03-11T06:00", "timezone": "Europe/Berlin",
                               "repeat": {"every": 1, "unit": "days"}}
    with smtp_server() as (inbox, port), mailing(wb, port) as wb:
        export_id = export(wb, **changes)
        if trigger == "schedule":
            now = datetime(2026, 3, 11, 6, 0, tzinfo=BERLIN)
            clock.set(now)
            wb.export_runs.plan(now)
            [run_id] = wb.export_runs.due(now)
        else:
            run_id = wb.export_runs.create(export_id).id
        runs, _ = busy_when_complete(wb, times=1000)
        run = runs.execute(run_id)
        assert run.state == "in_progress" and "reached the server as women_" in run.error
        [delivered] = server.writable.iterdir()
        assert inbox.received == []
        monkeypatch.setattr("workbench.exports.runs.LEASE", timedelta(minutes=3))
        clock.advance(minutes=4)
        with workbench.open(wb.home.root, user=ADMIN) as later:  # the store answers again
            assert later.export_runs.due(clock.now()) == [run_id]
            run = later.export_runs.execute(run_id)
        assert run.state == "complete" and run.attempts == 2 and run.error is None
        assert run.file_name == delivered.name and run.rows == 3
        assert "found the file on the server" in run.details["recorded_by"]
        assert [p.name for p in server.writable.iterdir()] == [delivered.name]
        assert len(inbox.received) == 1 and "complete" in inbox.parsed(0)["Subject"]
