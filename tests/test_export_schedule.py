"""Export schedules (SPEC 7): occurrences across DST, month ends, ends/after/until, summaries,
cancel deadlines and the validation messages. Pure functions: the clock is always passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workbench.errors import InvalidInput, InvalidSchedule, Problem
from workbench.exports.schedule import (
    Schedule,
    cancel_deadline,
    describe_errors,
    next_run,
    occurrences,
    parse_schedule,
    schedule_errors,
    summary,
)

LONG_AGO = datetime(1990, 1, 1, tzinfo=UTC)


def schedule(start: str, timezone: str = "UTC", every: int | None = None, unit: str = "days",
             ends: str | None = None, **more) -> Schedule:
    data = {"start": start, "timezone": timezone, **more}
    if every is not None:
        data["repeat"] = {"every": every, "unit": unit}
    if ends is not None:
        data["ends"] = ends
    return parse_schedule(data)


def shown(moments: list[datetime]) -> list[str]:
    # isoformat carries the offset, so the two 01:30s of a fall-back night differ.
    return [moment.isoformat(timespec="minutes") for moment in moments]


# -- Wall-clock days, weeks and months across DST ---------------------------------------------------

DST_CASES = [
    pytest.param("2026-03-28T02:30", "Europe/Berlin", 1, "days",
                 ["2026-03-28T02:30+01:00", "2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"],
                 id="berlin-spring-gap-runs-at-gap-end"),
    pytest.param("2026-03-07T02:30", "America/New_York", 1, "days",
                 ["2026-03-07T02:30-05:00", "2026-03-08T03:00-04:00", "2026-03-09T02:30-04:00"],
                 id="new-york-spring-gap-runs-at-gap-end"),
    pytest.param("2026-10-24T02:30", "Europe/Berlin", 1, "days",
                 ["2026-10-24T02:30+02:00", "2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"],
                 id="berlin-fall-overlap-runs-once-first"),
    pytest.param("2026-10-31T01:30", "America/New_York", 1, "days",
                 ["2026-10-31T01:30-04:00", "2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"],
                 id="new-york-fall-overlap-runs-once-first"),
    pytest.param("2026-03-22T02:30", "Europe/Berlin", 1, "weeks",
                 ["2026-03-22T02:30+01:00", "2026-03-29T03:00+02:00", "2026-04-05T02:30+02:00"],
                 id="weekly-gap-then-back-to-wall-time"),
    pytest.param("2026-03-22T06:00", "Europe/Berlin", 1, "weeks",
                 ["2026-03-22T06:00+01:00", "2026-03-29T06:00+02:00", "2026-04-05T06:00+02:00"],
                 id="weekly-keeps-local-time-spring"),
    pytest.param("2026-10-18T06:00", "America/New_York", 1, "weeks",
                 ["2026-10-18T06:00-04:00", "2026-10-25T06:00-04:00", "2026-11-01T06:00-05:00"],
                 id="weekly-keeps-local-time-fall"),
    pytest.param("2026-02-15T09:00", "America/New_York", 1, "months",
                 ["2026-02-15T09:00-05:00", "2026-03-15T09:00-04:00", "2026-04-15T09:00-04:00"],
                 id="monthly-keeps-local-time-spring"),
    pytest.param("2026-09-25T01:30", "Europe/Berlin", 1, "months",
                 ["2026-09-25T01:30+02:00", "2026-10-25T01:30+02:00", "2026-11-25T01:30+01:00"],
                 id="monthly-keeps-local-time-fall"),
    pytest.param("2026-10-24T02:30", "Europe/Berlin", 3, "days",
                 ["2026-10-24T02:30+02:00", "2026-10-27T02:30+01:00", "2026-10-30T02:30+01:00"],
                 id="every-3-days-keeps-local-time"),
    pytest.param("2018-11-03T00:30", "America/Sao_Paulo", 1, "days",
                 ["2018-11-03T00:30-03:00", "2018-11-04T01:00-02:00", "2018-11-05T00:30-02:00"],
                 id="midnight-gap-runs-at-gap-end"),
    pytest.param("2011-12-29T10:00", "Pacific/Apia", 1, "days",
                 ["2011-12-29T10:00-10:00", "2011-12-31T00:00+14:00", "2011-12-31T10:00+14:00"],
                 id="skipped-day-runs-when-the-clock-lands"),
]


@pytest.mark.parametrize("start, zone, every, unit, expected", DST_CASES)
def test_wall_clock_repeats_across_dst(start, zone, every, unit, expected):
    found = occurrences(schedule(start, zone, every, unit), after=LONG_AGO, limit=3)
    assert shown(found) == expected
    assert all(moment.tzinfo == ZoneInfo(zone) for moment in found)


def test_an_ambiguous_time_runs_once_on_the_fall_back_day():
    daily = schedule("2026-10-20T01:30", "America/New_York", 1, "days")
    found = occurrences(daily, after=LONG_AGO, limit=20)
    on_the_day = [moment for moment in found if moment.date() == date(2026, 11, 1)]
    assert shown(on_the_day) == ["2026-11-01T01:30-04:00"]
    gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in zip(found, found[1:], strict=False)}
    assert gaps == {timedelta(hours=24), timedelta(hours=25)}


# -- Hours are elapsed time -------------------------------------------------------------------------

HOURLY_CASES = [
    pytest.param("2026-03-29T00:00", "Europe/Berlin", 1,
                 ["2026-03-29T00:00+01:00", "2026-03-29T01:00+01:00", "2026-03-29T03:00+02:00",
                  "2026-03-29T04:00+02:00"], id="berlin-spring"),
    pytest.param("2026-10-25T01:00", "Europe/Berlin", 1,
                 ["2026-10-25T01:00+02:00", "2026-10-25T02:00+02:00", "2026-10-25T02:00+01:00",
                  "2026-10-25T03:00+01:00"], id="berlin-fall-runs-both-02:00s"),
    pytest.param("2026-03-07T22:00", "America/New_York", 6,
                 ["2026-03-07T22:00-05:00", "2026-03-08T05:00-04:00", "2026-03-08T11:00-04:00",
                  "2026-03-08T17:00-04:00"], id="new-york-spring-every-6"),
    pytest.param("2026-10-31T20:00", "America/New_York", 6,
                 ["2026-10-31T20:00-04:00", "2026-11-01T01:00-05:00", "2026-11-01T07:00-05:00",
                  "2026-11-01T13:00-05:00"], id="new-york-fall-every-6-lands-on-the-second-01:00"),
    pytest.param("2026-03-29T02:30", "Europe/Berlin", 2,
                 ["2026-03-29T03:00+02:00", "2026-03-29T05:00+02:00", "2026-03-29T07:00+02:00",
                  "2026-03-29T09:00+02:00"], id="start-in-gap-counts-from-gap-end"),
]


@pytest.mark.parametrize("start, zone, every, expected", HOURLY_CASES)
def test_hours_are_elapsed_time_across_dst(start, zone, every, expected):
    found = occurrences(schedule(start, zone, every, "hours"), after=LONG_AGO, limit=4)
    assert shown(found) == expected
    steps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in zip(found, found[1:], strict=False)}
    assert steps == {timedelta(hours=every)}


# -- Month ends ---------------------------------------------------------------------------------------

MONTH_END_CASES = [
    pytest.param("2027-01-31", 1, ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31"],
                 id="31st-common-year"),
    pytest.param("2028-01-31", 1, ["2028-01-31", "2028-02-29", "2028-03-31", "2028-04-30", "2028-05-31"],
                 id="31st-leap-year"),
    pytest.param("2027-01-30", 1, ["2027-01-30", "2027-02-28", "2027-03-30", "2027-04-30", "2027-05-30"],
                 id="30th"),
    pytest.param("2027-01-29", 1, ["2027-01-29", "2027-02-28", "2027-03-29", "2027-04-29", "2027-05-29"],
                 id="29th-common-year"),
    pytest.param("2028-01-29", 1, ["2028-01-29", "2028-02-29", "2028-03-29", "2028-04-29", "2028-05-29"],
                 id="29th-leap-year"),
    pytest.param("2028-02-29", 12, ["2028-02-29", "2029-02-28", "2030-02-28", "2031-02-28", "2032-02-29"],
                 id="feb-29-yearly"),
    pytest.param("2026-12-31", 2, ["2026-12-31", "2027-02-28", "2027-04-30", "2027-06-30", "2027-08-31"],
                 id="31st-every-2-months"),
    pytest.param("2027-01-15", 1, ["2027-01-15", "2027-02-15", "2027-03-15", "2027-04-15", "2027-05-15"],
                 id="15th"),
]


@pytest.mark.parametrize("start, every, expected", MONTH_END_CASES)
def test_month_ends(start, every, expected):
    monthly = schedule(f"{start}T06:00", "Europe/Berlin", every, "months")
    found = occurrences(monthly, after=LONG_AGO, limit=5)
    assert [moment.date().isoformat() for moment in found] == expected
    assert {moment.strftime("%H:%M") for moment in found} == {"06:00"}


# -- ends, after, until, limit ------------------------------------------------------------------------

ENDS_CASES = [
    pytest.param("2026-12-01T23:00", 1, "days", "2026-12-03",
                 ["2026-12-01T23:00+01:00", "2026-12-02T23:00+01:00", "2026-12-03T23:00+01:00"],
                 id="daily-23:00-on-the-ends-day"),
    pytest.param("2026-12-03T06:00", 1, "days", "2026-12-03", ["2026-12-03T06:00+01:00"],
                 id="ends-on-the-start-day"),
    pytest.param("2026-12-03T19:00", 4, "hours", "2026-12-03",
                 ["2026-12-03T19:00+01:00", "2026-12-03T23:00+01:00"], id="hourly-until-local-midnight"),
    pytest.param("2027-01-31T23:59", 1, "months", "2027-04-30",
                 ["2027-01-31T23:59+01:00", "2027-02-28T23:59+01:00", "2027-03-31T23:59+02:00",
                  "2027-04-30T23:59+02:00"], id="monthly-last-day-is-the-ends-day"),
    pytest.param("2026-12-01T06:00", 1, "weeks", "2026-12-14",
                 ["2026-12-01T06:00+01:00", "2026-12-08T06:00+01:00"], id="weekly-stops-before"),
]


@pytest.mark.parametrize("start, every, unit, ends, expected", ENDS_CASES)
def test_ends_is_inclusive(start, every, unit, ends, expected):
    found = occurrences(schedule(start, "Europe/Berlin", every, unit, ends=ends), after=LONG_AGO)
    assert shown(found) == expected


def test_after_is_exclusive_and_may_be_in_any_zone():
    daily = schedule("2026-12-01T06:00", "Europe/Berlin", 1, "days")
    at_second_run = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # 06:00 in Berlin
    assert shown(occurrences(daily, after=at_second_run, limit=1)) == ["2026-12-03T06:00+01:00"]
    just_before = at_second_run - timedelta(seconds=1)
    assert shown(occurrences(daily, after=just_before, limit=1)) == ["2026-12-02T06:00+01:00"]


def test_until_is_inclusive_and_limit_caps():
    daily = schedule("2026-12-01T06:00", "Europe/Berlin", 1, "days")
    until = datetime(2026, 12, 4, 6, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert len(occurrences(daily, after=LONG_AGO, until=until)) == 4
    assert len(occurrences(daily, after=LONG_AGO, limit=7)) == 7
    assert occurrences(daily, after=LONG_AGO, limit=0) == []


def test_one_time_schedule_runs_once_at_start():
    once = schedule("2026-03-29T02:30", "Europe/Berlin")
    assert shown(occurrences(once, after=LONG_AGO)) == ["2026-03-29T03:00+02:00"]
    assert next_run(once, after=LONG_AGO) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert next_run(once, after=datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) is None


def test_next_run_is_none_after_the_last_run():
    weekly = schedule("2026-12-01T06:00", "America/New_York", 1, "weeks", ends="2026-12-31")
    last = datetime(2026, 12, 29, 6, 0, tzinfo=ZoneInfo("America/New_York"))
    assert next_run(weekly, after=last - timedelta(minutes=1)) == last
    assert next_run(weekly, after=last) is None


def test_naive_after_is_refused():
    with pytest.raises(ValueError, match="after must be a timezone-aware datetime"):
        occurrences(schedule("2026-12-01T06:00"), after=datetime(2026, 1, 1))


SKIP_AHEAD_CASES = [
    ("2026-01-31T06:00", "Europe/Berlin", 1, "months"),
    ("2026-12-31T02:30", "Europe/Berlin", 5, "months"),
    ("2026-03-01T02:30", "America/New_York", 3, "days"),
    ("2026-03-05T01:30", "America/New_York", 2, "weeks"),
    ("2026-03-05T01:30", "America/New_York", 7, "hours"),
]


@pytest.mark.parametrize("start, zone, every, unit", SKIP_AHEAD_CASES)
def test_starting_near_after_gives_the_same_runs_as_counting_from_start(start, zone, every, unit):
    repeating = schedule(start, zone, every, unit)
    everything = occurrences(repeating, after=LONG_AGO, limit=400)
    for index in (0, 7, 50, 199, 200, 350):
        for nudge in (timedelta(0), timedelta(seconds=-1), timedelta(hours=-5), timedelta(days=2)):
            after = everything[index] + nudge
            expected = [m for m in everything if m.astimezone(UTC) > after.astimezone(UTC)][:5]
            assert occurrences(repeating, after=after, limit=5) == expected


# -- Manage Exports table, cancel deadline, JSON --------------------------------------------------------

SUMMARY_CASES = [
    ({"start": "2026-12-01T06:00"}, {"type": "one-time", "repeats": "Never", "ends": "2026-12-01"}),
    ({"start": "2026-12-01T06:00", "repeat": {"every": 1, "unit": "days"}},
     {"type": "recurring", "repeats": "Every day", "ends": "Never"}),
    ({"start": "2026-12-01T06:00", "repeat": {"every": 2, "unit": "weeks"}, "ends": "2027-06-30"},
     {"type": "recurring", "repeats": "Every 2 weeks", "ends": "2027-06-30"}),
    ({"start": "2026-12-01T06:00", "repeat": {"every": 6, "unit": "hours"}},
     {"type": "recurring", "repeats": "Every 6 hours", "ends": "Never"}),
    ({"start": "2026-12-01T06:00", "repeat": {"every": 1, "unit": "hours"}},
     {"type": "recurring", "repeats": "Every hour", "ends": "Never"}),
    ({"start": "2026-12-01T06:00", "repeat": {"every": 1, "unit": "months"}},
     {"type": "recurring", "repeats": "Every month", "ends": "Never"}),
]


@pytest.mark.parametrize("data, expected", SUMMARY_CASES)
def test_summary_for_the_manage_exports_table(data, expected):
    assert summary(parse_schedule(data)) == expected


def test_cancel_deadline_is_elapsed_time_across_dst():
    berlin = ZoneInfo("Europe/Berlin")
    nightly = schedule("2026-10-25T00:30", "Europe/Berlin", 1, "days", cancel_after_minutes=360)
    scheduled = occurrences(nightly, after=LONG_AGO, limit=1)[0]
    deadline = cancel_deadline(scheduled, nightly)
    assert deadline.isoformat() == "2026-10-25T05:30:00+01:00"  # six real hours, one of them repeated
    assert deadline.astimezone(UTC) - scheduled.astimezone(UTC) == timedelta(hours=6)
    assert deadline.tzinfo == berlin
    assert schedule("2026-10-25T00:30").cancel_after_minutes == 360


def test_spec_json_round_trips():
    data = {"start": "2026-12-01T06:00", "timezone": "Europe/Berlin",
            "repeat": {"every": 1, "unit": "weeks"}, "ends": "2027-06-30", "cancel_after_minutes": 360}
    parsed = Schedule.model_validate(data)
    assert parsed.start == datetime(2026, 12, 1, 6, 0) and parsed.ends == date(2027, 6, 30)
    assert parsed.model_dump(mode="json") == data
    assert Schedule.model_validate_json(parsed.model_dump_json()) == parsed


# -- Validation messages name the field -------------------------------------------------------------

START = {"start": "2026-12-01T06:00"}
DAILY = {"every": 1, "unit": "days"}

INVALID_CASES = [
    pytest.param({}, "schedule.start: is required", id="missing-start"),
    pytest.param({"start": "2026-12-01T06:00+01:00"},
                 "schedule.start: must be a local wall-clock time without a UTC offset", id="offset"),
    pytest.param({"start": "2026-12-01T05:00Z"},
                 "schedule.start: must be a local wall-clock time without a UTC offset", id="zulu"),
    pytest.param({"start": datetime(2026, 12, 1, 6, tzinfo=UTC)},
                 "schedule.start: must be a local wall-clock time without a UTC offset", id="aware"),
    pytest.param({"start": "next tuesday"},
                 "schedule.start: must be a local date and time like '2026-12-01T06:00'", id="not-a-time"),
    pytest.param({"start": 1764568800},
                 "schedule.start: must be a local date and time like '2026-12-01T06:00'", id="a-number"),
    pytest.param({"start": "2026-02-30T06:00"}, "schedule.start: '2026-02-30T06:00' is not a real date",
                 id="no-such-day"),
    pytest.param({"start": "2026-12-01T06:00:30"}, "schedule.start: must be to the minute", id="seconds"),
    pytest.param({**START, "timezone": "Mars/Olympus"}, "schedule.timezone: unknown timezone 'Mars/Olympus'",
                 id="bad-timezone"),
    pytest.param({**START, "timezone": "Europe"}, "schedule.timezone: unknown timezone 'Europe'",
                 id="timezone-folder"),
    pytest.param({**START, "timezone": "../../etc/passwd"}, "schedule.timezone: unknown timezone",
                 id="timezone-path"),
    pytest.param({**START, "repeat": "weekly"}, 'schedule.repeat: must be null (one run) or an object',
                 id="repeat-not-object"),
    pytest.param({**START, "repeat": {"every": 0, "unit": "days"}},
                 "schedule.repeat.every: must be at least 1", id="every-0"),
    pytest.param({**START, "repeat": {"every": 1001, "unit": "days"}},
                 "schedule.repeat.every: must be at most 1000", id="every-1001"),
    pytest.param({**START, "repeat": {"every": 1.5, "unit": "days"}},
                 "schedule.repeat.every: must be a whole number from 1 to 1000, not 1.5",
                 id="every-fraction"),
    pytest.param({**START, "repeat": {"every": True, "unit": "days"}},
                 "schedule.repeat.every: must be a whole number", id="every-bool"),
    pytest.param({**START, "repeat": {"every": 1, "unit": "fortnights"}},
                 "schedule.repeat.unit: must be one of hours, days, weeks, months, not 'fortnights'",
                 id="unit-fortnights"),
    pytest.param({**START, "repeat": {"every": 1}}, "schedule.repeat.unit: is required", id="unit-missing"),
    pytest.param({**START, "repeat": {**DAILY, "at": "06:00"}},
                 "schedule.repeat.at: unknown field; repeat has every, unit", id="repeat-extra"),
    pytest.param({**START, "repeat": DAILY, "ends": "2026-11-30"},
                 "schedule.ends: 2026-11-30 is before the start date, 2026-12-01", id="ends-before-start"),
    pytest.param({**START, "ends": "2027-06-30"}, "schedule.ends: only a repeating schedule has an end",
                 id="ends-one-time"),
    pytest.param({**START, "repeat": DAILY, "ends": "30/06/2027"},
                 "schedule.ends: must be a date like '2027-06-30'", id="ends-format"),
    pytest.param({**START, "repeat": DAILY, "ends": "2027-02-29"},
                 "schedule.ends: '2027-02-29' is not a real date", id="ends-no-such-day"),
    pytest.param({**START, "cancel_after_minutes": 0}, "schedule.cancel_after_minutes: must be at least 1",
                 id="cancel-0"),
    pytest.param({**START, "cancel_after_minutes": 10081},
                 "schedule.cancel_after_minutes: must be at most 10080 (one week)", id="cancel-too-long"),
    pytest.param({**START, "cancel_after_minutes": "60"},
                 "schedule.cancel_after_minutes: must be a whole number from 1 to 10080, not '60'",
                 id="cancel-string"),
    pytest.param({**START, "every": 1}, "schedule.every: unknown field; a schedule has start, timezone",
                 id="extra-field"),
    pytest.param(["2026-12-01T06:00"], "schedule: must be an object", id="not-an-object"),
]


@pytest.mark.parametrize("data, message", INVALID_CASES)
def test_each_invalid_field_is_named(data, message):
    problems = schedule_errors(data)
    assert len(problems) == 1, problems
    # The JSON path (where a form places it); str() names it as the form does (``messages``).
    assert f"{problems[0].field}: {problems[0].message}".startswith(message)
    assert str(problems[0]).startswith(problems[0].label + ": ")
    with pytest.raises(InvalidSchedule) as caught:
        parse_schedule(data)
    assert isinstance(caught.value, InvalidInput) and caught.value.problems == problems


def test_every_problem_is_listed_at_once():
    problems = schedule_errors({"start": "2026-12-01T06:00", "timezone": "Nowhere",
                                "repeat": {"every": 0, "unit": "fortnights"}, "cancel_after_minutes": 0})
    assert [problem.field for problem in problems] == [
        "schedule.timezone", "schedule.repeat.every", "schedule.repeat.unit", "schedule.cancel_after_minutes"]


def test_embedded_errors_keep_their_path():
    from pydantic import BaseModel, ValidationError

    class Export(BaseModel):
        schedule: Schedule

    with pytest.raises(ValidationError) as caught:
        Export.model_validate({"schedule": {**START, "repeat": {"every": 0, "unit": "days"}}})
    assert describe_errors(caught.value, prefix="") == [
        Problem("schedule.repeat.every", "must be at least 1", label="Repeat every")]
    assert schedule_errors(START) == []
