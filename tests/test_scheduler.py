"""The scheduler: runs planned once per occurrence (across DST, after a gap: canceled with the
reason), paused and canceled exports make none, retries with back-off inside the window then
Failed, a crashed run taken over, two schedulers deliver once, processing caught up."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import workbench
from tests.conftest import ADMIN, add_partner
from workbench.query.duckdb import DuckDBEngine
from workbench.store.runs import RunRecords

BERLIN = ZoneInfo("Europe/Berlin")




@pytest.fixture
def wb(women, server):
    add_partner(women, server)
    return women


def daily(wb, start="2026-03-11T06:00", window=60, **changes) -> int:
    """A daily export of "Women" from the morning after D (the clock's night: conftest.NOW)."""
    return wb.exports.create({
        "name": "Women daily", "audience": 1, "file_name": "women_{run}.csv",
        "schedule": {"start": start, "timezone": "Europe/Berlin",
                     "repeat": {"every": 1, "unit": "days"}, "cancel_after_minutes": window},
        "destination": "partner", "columns": [{"attribute": "customer_id"}], **changes}).id


def states(wb) -> list[tuple[str, str]]:
    return [(r.scheduled_for.astimezone(BERLIN).isoformat(timespec="minutes"), r.state)
            for r in reversed(wb.export_runs.history())]


def test_runs_are_planned_once_and_missed_ones_are_canceled_with_the_reason(wb, clock):
    export_id = daily(wb)
    now = datetime(2026, 3, 13, 6, 30, tzinfo=BERLIN)
    clock.set(now)
    assert wb.export_runs.plan(now) == [f"export #{export_id} Women daily: 3 run(s) created"]
    assert wb.export_runs.plan(now) == []  # a second tick makes nothing new
    assert states(wb) == [("2026-03-11T06:00+01:00", "canceled"),
                          ("2026-03-12T06:00+01:00", "canceled"),
                          ("2026-03-13T06:00+01:00", "scheduled")]
    assert "the scheduler was not running" in wb.export_runs.history()[-1].error
    assert len(wb.export_runs.due(now)) == 1


def test_catch_up_across_a_dst_change(wb, clock):
    daily(wb, start="2027-03-26T02:30")
    now = datetime(2027, 3, 29, 2, 45, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    assert states(wb) == [("2027-03-26T02:30+01:00", "canceled"),
                          ("2027-03-27T02:30+01:00", "canceled"),
                          ("2027-03-28T03:00+02:00", "canceled"),  # 02:30 did not exist
                          ("2027-03-29T02:30+02:00", "scheduled")]


def test_paused_and_canceled_exports_make_no_runs(wb, clock):
    paused, canceled = daily(wb), daily(wb, name="Other")
    wb.exports.pause(paused)
    wb.exports.cancel(canceled)
    now = datetime(2026, 3, 13, 6, 30, tzinfo=BERLIN)
    clock.set(now)
    assert wb.export_runs.plan(now) == [] and wb.export_runs.history() == []


def test_server_down_retries_with_back_off_then_fails_and_sends_one_email(wb, server, clock):
    from tests.test_mail import mailing, smtp_server

    daily(wb, notify=["crm-ops@example.com"])
    destination = wb.destinations.get("partner")
    wb.destinations.update("partner", {"name": "partner", "host": server.host, "port": 1,
                                       "path": str(server.writable), "username": server.user,
                                       "host_key": server.host_key_line()},
                           version=destination.version)
    now = datetime(2026, 3, 11, 6, 0, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    [run_id] = wb.export_runs.due(now)
    waits = []
    with smtp_server() as (inbox, port), mailing(wb, port) as wb:
        while True:
            run = wb.export_runs.execute(run_id)
            if run.state != "scheduled":
                break
            assert inbox.received == []  # a retry is not an ending: no e-mail yet
            retry = RunRecords(wb.store).get(run_id)["next_attempt_at"]
            waits.append(round((retry - now).total_seconds() / 60))
            assert wb.export_runs.due(now) == [] and \
                run.error.startswith(f"attempt {run.attempts}")
            now = retry
            clock.set(now)
        assert waits == [1, 2, 4, 8, 16]  # the next (32 min) would pass the 60-minute window
        assert run.state == "failed" and run.attempts == 6 and "refused" in run.error.lower()
        assert len(inbox.received) == 1
        message = inbox.parsed(0)
        assert "failed" in message["Subject"] and "refused" in message.get_content().lower()
        assert server.password not in inbox.received[0].original_content.decode()


class StoppedWhileWriting(DuckDBEngine):
    def write_csv(self, *args, **kwargs):  # Ctrl-C while the rows are written
        raise KeyboardInterrupt


def test_a_run_stopped_mid_delivery_ends_failed_and_says_so_by_email(wb, server):
    from tests.test_mail import mail_to, smtp_server

    run_id = wb.export_runs.create(daily(wb, notify=["crm-ops@example.com"])).id
    with smtp_server() as (inbox, port):
        mail_to(wb, port)
        with workbench.open(wb.home.root, user=ADMIN) as stopping:
            stopping.engine = StoppedWhileWriting(stopping.home, stopping.settings)
            with pytest.raises(KeyboardInterrupt):
                stopping.export_runs.execute(run_id)
        run = wb.export_runs.get(run_id)
        assert run.state == "failed" and run.error.startswith("interrupted")
        assert len(inbox.received) == 1 and "failed" in inbox.parsed(0)["Subject"]
    assert list(server.writable.iterdir()) == []


def test_a_run_left_in_progress_by_a_crash_is_taken_over(wb, server, clock):
    daily(wb)
    now = datetime(2026, 3, 11, 6, 20, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    [run_id] = wb.export_runs.due(now)
    records = RunRecords(wb.store)
    # An attempt claimed it 15 minutes ago and its process died: no heartbeat since.
    assert records.claim(run_id, lease=timedelta(minutes=3), now=now - timedelta(minutes=15))
    assert wb.export_runs.due(now) == [run_id]  # its lease ran out
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]


def test_a_crashed_run_started_by_hand_or_out_of_its_window_is_failed_not_redone(wb, server, clock):
    run_id = wb.export_runs.create(daily(wb)).id
    records = RunRecords(wb.store)
    assert records.claim(run_id, lease=timedelta(minutes=3),
                         now=clock.now() - timedelta(hours=1))
    run = wb.export_runs.execute(run_id)
    assert run.state == "failed" and "a run started by hand is one attempt" in run.error
    assert list(server.writable.iterdir()) == []


def test_a_canceled_export_delivers_nothing_more(wb, server, clock):
    export_id = daily(wb)
    now = datetime(2026, 3, 11, 6, 5, tzinfo=BERLIN)
    clock.set(now)
    wb.export_runs.plan(now)
    [run_id] = wb.export_runs.due(now)
    wb.exports.cancel(export_id)
    run = wb.export_runs.execute(run_id)
    assert run.state == "canceled" and "the export was canceled" in run.error
    assert list(server.writable.iterdir()) == []


def test_two_schedulers_at_the_same_moment_deliver_once(wb, server, clock):
    export_id = daily(wb)
    # A run planned a minute ago (as a tick would have), due now for both schedulers.
    records = RunRecords(wb.store)
    records.create_scheduled(export_id, [(clock.now() - timedelta(minutes=1), None)], "ada")
    [run_id] = [r["id"] for r in records.list(export_id)]
    # Keep the nightly processing out of this tick: its time is not reached.
    text = wb.home.settings_file.read_text().replace('processing_time = "00:00"',
                                                     'processing_time = "23:59"')
    wb.home.settings_file.write_text(text)
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    ticks = [subprocess.Popen([sys.executable, "-m", "workbench", "scheduler", "--once"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outputs = [tick.communicate(timeout=120) for tick in ticks]
    assert all(tick.returncode == 0 for tick in ticks), outputs
    run = wb.export_runs.get(run_id)
    assert run.state == "complete" and run.attempts == 1
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]
    said = "".join(out for out, _ in outputs)
    assert said.count(f"export run #{run_id} (Women daily) complete") == 1


def test_processing_is_caught_up_for_the_days_missed(wb, clock):
    from workbench.scheduler import Scheduler

    lines = []
    clock.set(datetime(2026, 3, 13, 1, 0, tzinfo=UTC))
    Scheduler(wb, log=lines.append).tick()
    assert any("processing 2026-03-11 to 2026-03-12" in line for line in lines), lines
    assert wb.audiences.get(1).last_processed_on.isoformat() == "2026-03-12"
    assert [str(d) for d in wb.processing.history(1)["day"]] == [
        "2026-03-10", "2026-03-11", "2026-03-12"]


def test_the_scheduler_stops_cleanly_on_sigterm(wb):
    import signal
    import time

    text = wb.home.settings_file.read_text().replace('processing_time = "00:00"',
                                                     'processing_time = "23:59"')
    wb.home.settings_file.write_text(text)
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    scheduler = subprocess.Popen([sys.executable, "-m", "workbench", "scheduler", "--interval",
                                  "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
    deadline = time.monotonic() + 30
    first = scheduler.stdout.readline()
    assert "scheduler started" in first and time.monotonic() < deadline
    time.sleep(1.5)  # at least one tick
    scheduler.send_signal(signal.SIGTERM)
    out, err = scheduler.communicate(timeout=60)
    assert scheduler.returncode == 0, err
    assert out.strip().splitlines()[-1].endswith("scheduler stopped") and err == ""
