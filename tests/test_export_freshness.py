"""Exports never deliver stale members unasked, against a real OpenSSH server and a real SMTP
server: max_staleness_days is checked with the field named; a scheduled run on stale members
fails with how old they are and what to do, delivers nothing and sends its e-mail; Run now on a
stale export is refused unless allowed (the run records it); the scheduler processes a night
before it runs that night's exports."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.audience_data import D
from tests.conftest import add_partner
from tests.sshd import skip_reason
from tests.test_cli import run as cli
from tests.test_mail import mailing, smtp_server
from workbench.errors import InvalidExport, Stale
from workbench.exports.models import ExportConfig
from workbench.store.runs import RunRecords

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = {"name": "Women daily", "audience": 1, "file_name": "women_{run}.csv",
          "schedule": {"start": "2026-03-11T06:00", "timezone": "Europe/Berlin",
                       "repeat": {"every": 1, "unit": "days"}, "cancel_after_minutes": 30},
          "destination": "partner", "columns": [{"attribute": "customer_id"}],
          "notify": ["crm-ops@example.com"]}


@pytest.fixture
def wb(women, server):
    add_partner(women, server)
    return women


@pytest.mark.parametrize(("value", "said"), [
    (-1, "got -1"), (1.5, "got 1.5"), (float("nan"), "got nan"), (10 ** 30, "got a number too large"),
    (True, "got True"), ("2", "got '2'"), (366, "got 366")])
def test_max_staleness_days_is_a_whole_number_of_days(value, said):
    with pytest.raises(InvalidExport) as raised:
        ExportConfig.parse({**CONFIG, "max_staleness_days": value})
    assert str(raised.value).startswith("invalid export configuration: Max staleness (days): "
                                        "must be a whole number of days from 0 to 365")
    assert said in str(raised.value)
    assert ExportConfig.parse(CONFIG).max_staleness_days == 1  # the default
    assert ExportConfig.parse({**CONFIG, "max_staleness_days": 0}).max_staleness_days == 0


def test_a_stale_scheduled_run_fails_saying_why_delivers_nothing_and_mails(wb, server, clock):
    wb.exports.create(CONFIG)
    # Two nights later, nothing processed since D: the 03-12 run's members are 2 days old.
    now = datetime(2026, 3, 12, 6, 0, tzinfo=BERLIN)
    clock.set(now)
    with smtp_server() as (inbox, port), mailing(wb, port) as wb:
        wb.export_runs.plan(now)
        run_id = wb.export_runs.due(now)[-1]
        # A failure like any other: retried while its window lasts (processing may come).
        while (run := wb.export_runs.execute(run_id)).state == "scheduled":
            assert "stale" in run.error and inbox.received == []
            clock.set(RunRecords(wb.store).get(run_id)["next_attempt_at"])
        assert run.attempts == 5 and run.state == "failed" and run.error == (
            "stale: audience 1 (Women) is processed through 2026-03-10, 2 days before "
            "2026-03-12 (max_staleness_days is 1); nothing was delivered: run processing "
            "(`workbench process`), then the export again")
        assert run.rows is None and run.file_name is None
        assert list(server.writable.iterdir()) == []
        [message] = [inbox.parsed(i) for i in range(len(inbox.received))]
        assert "failed" in message["Subject"] and "2 days before" in message.get_content()


def test_a_larger_max_staleness_days_lets_older_members_go(wb, server, clock):
    export_id = wb.exports.create({**CONFIG, "max_staleness_days": 3}).id
    clock.set(datetime(2026, 3, 13, 9, 0, tzinfo=UTC))
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete" and run.as_of == D and "allowed_stale" not in run.details


def test_run_now_on_stale_members_needs_allowing_and_the_run_says_so(wb, server, clock):
    export_id = wb.exports.create(CONFIG).id
    clock.advance(days=5)
    with pytest.raises(Stale) as raised:
        wb.export_runs.create(export_id)
    assert "would deliver stale members: audience 1 (Women) is processed through 2026-03-10, " \
           "6 days before 2026-03-16" in str(raised.value) and "--allow-stale" in str(raised.value)
    assert wb.export_runs.history(export_id) == []  # nothing was created
    assert wb.exports.preview(export_id).stale.startswith("audience 1 (Women) is processed")
    # The CLI: refused in one line, then delivered when allowed.
    refused = cli("export", "run", export_id, home=wb.home.root)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "--allow-stale" in refused.stderr and list(server.writable.iterdir()) == []
    preview = cli("export", "preview", export_id, home=wb.home.root)
    assert "stale: audience 1 (Women)" in preview.stderr
    done = cli("export", "run", export_id, "--allow-stale", home=wb.home.root)
    assert done.returncode == 0, done.stderr
    assert "delivered stale, as allowed: audience 1 (Women) is processed through " \
           "2026-03-10, 6 days before 2026-03-16" in done.stdout
    [run] = wb.export_runs.history(export_id)
    assert run.state == "complete" and run.as_of == D and run.details["allowed_stale"]
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]


def test_the_scheduler_processes_the_night_before_it_runs_that_nights_exports(wb, server, clock):
    from workbench.scheduler import Scheduler

    wb.exports.create({**CONFIG, "schedule": {**CONFIG["schedule"],
                                              "start": "2026-03-12T06:00"}})
    # The morning of 03-12: the night of 03-11 is not processed yet, the 06:00 run is due.
    clock.set(datetime(2026, 3, 12, 6, 1, tzinfo=BERLIN))
    lines: list[str] = []
    Scheduler(wb, log=lines.append).tick()
    said = [line.split(" ", 1)[1] for line in lines]
    assert said[0] == "processing 2026-03-11" and said[1].endswith(" succeeded")
    assert said[-1].startswith("export run #1 (Women daily) complete")
    [run] = wb.export_runs.history()
    assert run.as_of == date(2026, 3, 11)  # that night's members, not the night before's
    assert [p.name for p in server.writable.iterdir()] == [run.file_name]
