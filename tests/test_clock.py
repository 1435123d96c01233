"""One clock: the package reads the time only through workbench/clock.py; WORKBENCH_NOW pins it
for a process and the processes it starts; a bad value is one line naming the variable."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import workbench
from tests.conftest import ADMIN, NOW
from workbench.clock import VARIABLE, Clock, FixedClock, as_clock
from workbench.days import Calendar
from workbench.errors import InvalidInput, SettingsError

PACKAGE = Path(workbench.__file__).parent
# What reads the wall clock. Durations (time.monotonic, perf_counter) are not dates.
READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
         ("time", "time"), ("time", "time_ns"), ("time", "localtime"), ("time", "gmtime")}


def clock_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, node.func.attr) in READS:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_nothing_but_the_clock_reads_the_time():
    reads = [hit for path in sorted(PACKAGE.rglob("*.py")) if path.name != "clock.py"
             for hit in clock_reads(path)]
    assert reads == []
    assert clock_reads(PACKAGE / "clock.py")  # the one place that does (the guard works)


def test_the_tests_pin_the_clock_before_anything_is_created(clock):
    assert Clock().now() == NOW and Clock().pinned == NOW
    clock.advance(days=1, hours=2)
    assert Clock().now() == NOW + timedelta(days=1, hours=2)


def test_a_pinned_clock_reaches_the_processes_a_test_starts(clock):
    clock.set(datetime(2031, 7, 4, 12, 30, tzinfo=UTC))
    done = subprocess.run([sys.executable, "-c", "from workbench.clock import Clock; "
                                                 "print(Clock().now().isoformat())"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "2031-07-04T12:30:00+00:00"


def test_the_calendar_counts_days_in_the_workbench_timezone(clock):
    clock.set(datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    assert Calendar(ZoneInfo("UTC")).today() == date(2026, 3, 10)
    tokyo = Calendar(ZoneInfo("Asia/Tokyo"))
    assert tokyo.today() == date(2026, 3, 11) and tokyo.yesterday() == date(2026, 3, 10)
    assert tokyo.now().utcoffset() == timedelta(hours=9)


@pytest.mark.parametrize(("value", "said"), [
    ("tomorrow", "is not an instant"), ("2026-13-01T00:00", "is not an instant"),
    ("2026-11-29T06:00", "needs its UTC offset"),
    ("9999-12-31T23:59:59-05:00", "is outside the years 1900 to 9998"),
    ("0001-01-01T00:00:00+05:00", "is outside the years 1900 to 9998"),
    ("9999-12-31T12:00:00+00:00", "is outside the years 1900 to 9998"),
    ("1899-12-31T23:00:00+00:00", "is outside the years 1900 to 9998")])
def test_a_bad_pinned_instant_is_one_line_naming_the_variable(monkeypatch, value, said):
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(SettingsError) as raised:
        Clock().now()
    message = str(raised.value)
    assert message.startswith(f"{VARIABLE}={value!r} {said}") and "\n" not in message


def test_a_long_pinned_value_is_cut_in_the_message(monkeypatch):
    monkeypatch.setenv(VARIABLE, "x" * 100_000)
    with pytest.raises(SettingsError) as raised:
        Clock()
    assert len(str(raised.value)) < 200


def test_init_with_a_bad_pinned_clock_writes_nothing(tmp_path, monkeypatch):
    from tests.test_cli import run

    monkeypatch.setenv(VARIABLE, "bogus")
    done = run("init", "--home", tmp_path / "h")
    assert done.returncode == 2 and "WORKBENCH_NOW='bogus'" in done.stderr
    assert not (tmp_path / "h").exists()


def test_a_bad_pinned_instant_stops_the_cli_with_exit_2(home, monkeypatch):
    from tests.test_cli import run

    monkeypatch.setenv(VARIABLE, "2026-11-29T06:00")
    done = run("audience", "list", home=home)
    assert done.returncode == 2 and "needs its UTC offset" in done.stderr
    assert done.stderr.count("\n") == 1


def test_a_workbench_can_be_given_its_own_clock(home):
    fixed = FixedClock(datetime(2027, 1, 2, 3, 4, tzinfo=UTC))
    with workbench.open(home, user=ADMIN, clock=fixed) as wb:
        assert wb.today() == date(2027, 1, 2) and wb.clock is fixed
    with workbench.open(home, user=ADMIN, clock="2028-02-29T10:00:00+00:00") as wb:
        assert wb.yesterday() == date(2028, 2, 28)
    assert isinstance(as_clock(None), Clock) and not isinstance(as_clock(None), FixedClock)
    with pytest.raises(SettingsError, match="^clock needs its UTC offset"):
        FixedClock(datetime(2027, 1, 2))
    with pytest.raises(SettingsError, match="^clock='' is not an instant"):
        as_clock("")
    for wrong in (date(2027, 1, 2), 12345, b"2027-01-02T00:00+00:00"):
        with pytest.raises(InvalidInput, match="^clock: expected a Clock"):
            as_clock(wrong)


def test_what_the_store_stamps_comes_from_the_clock(wb, clock):
    clock.set(datetime(2029, 5, 6, 7, 8, tzinfo=UTC))
    audience = wb.audiences.create({"name": "Everyone", "rules": []})
    assert audience.created_on == date(2029, 5, 6)
    assert audience.updated_at.replace(tzinfo=UTC) == datetime(2029, 5, 6, 7, 8, tzinfo=UTC)
