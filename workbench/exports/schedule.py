"""Export schedules (SPEC 7): when an export runs, as pure functions of the schedule and a given
instant. Nothing here reads the clock: every "now" is a parameter (``after``, ``until``).

The JSON, shared by the UI, the API and the CLI::

    {"start": "2026-12-01T06:00", "timezone": "Europe/Berlin",
     "repeat": {"every": 1, "unit": "weeks"}, "ends": "2027-06-30", "cancel_after_minutes": 360}

Decisions:

- ``start`` is a local wall-clock time to the minute, without a UTC offset: ``timezone`` places
  it, so that a 06:00 export stays at 06:00 local in summer and winter. An offset is refused
  rather than converted (a fixed offset would be an hour off half the year).
- ``timezone`` defaults to UTC; ``repeat`` null means one run at ``start``.
- ``ends`` is a date, inclusive (a run at 23:00 on that day still happens), only for a repeating
  schedule (a one-time schedule ends when it runs), and not before the start's date.
- ``cancel_after_minutes`` is 1..10080 (one week), default 360 (six hours): a failed run is
  retried until then, and a run that could not start by then is canceled.
- Days, weeks and months follow the local wall clock (RFC 5545 recurrence with dateutil's
  rrule). A wall time that does not exist on a spring-forward day runs at the first instant
  after it, the end of the gap (02:30 in Berlin runs at 03:00); an ambiguous one on a fall-back
  day runs once, at its first occurrence (fold=0).
- Hours are elapsed time, counted from the start instant in UTC: "every 6 hours" stays 6 hours
  apart across a DST change, where wall-clock hours would skip or repeat a run.
- Monthly from the 29th, 30th or 31st runs on the last day of shorter months and goes back to the
  start's day when the month has it (Jan 31, Feb 28, Mar 31, Apr 30).
- Occurrences are aware datetimes in the schedule's zone. Compare them in UTC: Python compares
  two datetimes with the same tzinfo by wall time and ignores ``fold``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
)

from ..days import NoSuchDay, parse_day
from ..errors import InvalidSchedule, Problem
from .messages import label
from .messages import message as plain

UNITS = ("hours", "days", "weeks", "months")
MAX_EVERY = 1000
DEFAULT_CANCEL_AFTER_MINUTES = 360
MAX_CANCEL_AFTER_MINUTES = 7 * 24 * 60
MIN_START_YEAR, MAX_START_YEAR = 1900, 9000
SCHEDULE_FIELDS = "start, timezone, repeat, ends, cancel_after_minutes"

_LOCAL_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?")
_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)")
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-/]{1,64}")
_FREQUENCY = {"days": DAILY, "weeks": WEEKLY, "months": MONTHLY}


class Repeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every: int
    unit: Literal["hours", "days", "weeks", "months"]

    @field_validator("every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> int:
        return _whole_number(value, 1, MAX_EVERY)

    @field_validator("unit", mode="before")
    @classmethod
    def _unit(cls, value: Any) -> str:
        if not isinstance(value, str) or value not in UNITS:
            raise ValueError(f"must be one of {', '.join(UNITS)}, not {_shown(value)}")
        return value


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: datetime
    timezone: str = "UTC"
    repeat: Repeat | None = None
    ends: date | None = None
    cancel_after_minutes: int = DEFAULT_CANCEL_AFTER_MINUTES

    @field_validator("start", mode="before")
    @classmethod
    def _local_start(cls, value: Any) -> datetime:
        return _local_time(value)

    @field_validator("timezone", mode="before")
    @classmethod
    def _known_timezone(cls, value: Any) -> str:
        problem = f"unknown timezone {_shown(value)}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        # "localtime", "Factory" and "posixrules" are files of the zone database, not zones.
        if not isinstance(value, str) or not _ZONE_NAME.fullmatch(value) or \
                value in ("localtime", "Factory", "posixrules"):
            raise ValueError(problem)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a directory
            raise ValueError(problem) from None
        return value

    @field_validator("repeat", mode="before")
    @classmethod
    def _repeat_shape(cls, value: Any) -> Any:
        if value is None or isinstance(value, dict | Repeat):
            return value
        raise ValueError('must be null (one run) or an object like {"every": 1, "unit": "weeks"}, '
                         f"not {_shown(value)}")

    @field_validator("ends", mode="before")
    @classmethod
    def _ends_date(cls, value: Any) -> Any:
        if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
            return value
        try:
            return parse_day(value)
        except NoSuchDay as exc:
            raise ValueError(f"{_shown(value)} is not a real date: {exc}") from None
        except ValueError:
            raise ValueError(f"must be a date like '2027-06-30', not {_shown(value)}") from None

    @field_validator("ends")
    @classmethod
    def _ends_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        # info.data holds the fields before this one that passed (defaults included).
        if value is None:
            return value
        if "repeat" in info.data and info.data["repeat"] is None:
            raise ValueError("only a repeating schedule has an end; a one-time schedule runs once "
                             "at start (leave ends out, or give repeat)")
        start = info.data.get("start")
        if start is not None and value < start.date():
            raise ValueError(f"{value.isoformat()} is before the start date, {start.date().isoformat()}")
        return value

    @field_validator("cancel_after_minutes", mode="before")
    @classmethod
    def _cancel_window(cls, value: Any) -> int:
        return _whole_number(value, 1, MAX_CANCEL_AFTER_MINUTES, "(one week)")

    @field_serializer("start", when_used="json")
    def _start_as_written(self, start: datetime) -> str:
        return start.strftime("%Y-%m-%dT%H:%M")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _local_time(value: Any) -> datetime:
    example = "like '2026-12-01T06:00'"
    if value is None or value == "":  # nothing chosen yet (a form's empty date)
        raise ValueError("is required: choose a date")
    if isinstance(value, datetime):
        if value.utcoffset() is not None:
            raise ValueError(_offset_refused(value.isoformat()))
        moment = value
    elif isinstance(value, str):
        parts = _LOCAL_TIME.fullmatch(value)
        if not parts:
            head = _LOCAL_TIME.match(value)
            if head and _OFFSET.fullmatch(value[head.end():]):
                raise ValueError(_offset_refused(value))
            raise ValueError(f"must be a local date and time {example}, not {_shown(value)}")
        year, month, day, hour, minute, second = (int(p or 0) for p in parts.groups())
        try:
            moment = datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise ValueError(f"{_shown(value)} is not a real date and time: {exc}") from None
    else:
        raise ValueError(f"must be a local date and time {example}, not {_shown(value)}")
    if moment.second or moment.microsecond:
        raise ValueError(f"must be to the minute ({example}), not {_shown(value)}")
    if not MIN_START_YEAR <= moment.year <= MAX_START_YEAR:
        raise ValueError(f"the year must be from {MIN_START_YEAR} to {MAX_START_YEAR}, not {moment.year}")
    return moment


def _offset_refused(text: str) -> str:
    return (f"must be a local wall-clock time without a UTC offset, like '2026-12-01T06:00', "
            f"not {_shown(text)}: the timezone field places it, so that it keeps its local time "
            "across daylight-saving changes")


def _whole_number(value: Any, low: int, high: int, note: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be a whole number from {low} to {high}, not {_shown(value)}")
    if value < low:
        raise ValueError(f"must be at least {low}")
    if value > high:
        raise ValueError(f"must be at most {high}{' ' + note if note else ''}")
    return value


def _shown(value: Any) -> str:
    """A value from the JSON as it may appear in a one-line message (cut, escaped)."""
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:39] + "…")
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int) and abs(value) < 10**18 or isinstance(value, float | datetime | date):
        return str(value)
    return {dict: "an object", list: "a list"}.get(type(value), f"a {type(value).__name__}")


# -- Errors as messages that name the field -------------------------------------------------------

def describe_error(error: dict, prefix: str = "schedule") -> Problem:
    """One pydantic error (from ``ValidationError.errors()``) as ``schedule.repeat.every: ...``.
    A model that embeds ``Schedule`` passes its own errors with ``prefix=""``."""
    loc = [str(part) for part in error["loc"]]
    field = ".".join([prefix, *loc] if prefix else loc) or "schedule"
    kind = error["type"]
    if kind == "extra_forbidden":
        parent = loc[-2] if len(loc) > 1 else ""
        has = "repeat has every, unit" if parent == "repeat" else f"a schedule has {SCHEDULE_FIELDS}"
        message = f"unknown field; {has}"
    else:
        message = plain(error)
    return Problem(field, message, label=label(field))


def describe_errors(exc: ValidationError, prefix: str = "schedule") -> list[Problem]:
    return [describe_error(error, prefix) for error in exc.errors()]


def schedule_errors(data: Any, prefix: str = "schedule") -> list[Problem]:
    """Every problem with ``data`` as a schedule, each naming its field; empty when it is valid."""
    try:
        Schedule.model_validate(data)
    except ValidationError as exc:
        return describe_errors(exc, prefix)
    return []


def parse_schedule(data: Any) -> Schedule:
    """A ``Schedule`` from its JSON (a dict), or ``InvalidSchedule`` listing every problem."""
    if isinstance(data, Schedule):
        return data
    try:
        return Schedule.model_validate(data)
    except ValidationError as exc:
        raise InvalidSchedule.listing(describe_errors(exc)) from None


# -- When it runs ---------------------------------------------------------------------------------

def occurrences(schedule: Schedule, *, after: datetime, until: datetime | None = None,
                limit: int = 100) -> list[datetime]:
    """The scheduled instants strictly after ``after`` and at or before ``until`` (both aware),
    in order, at most ``limit``; aware datetimes in the schedule's zone."""
    after_utc = _aware(after, "after").astimezone(UTC)
    until_utc = None if until is None else _aware(until, "until").astimezone(UTC)
    zone, found, last = schedule.zone, [], None
    if limit <= 0:
        return found
    for instant in _instants(schedule, zone, after_utc):
        if instant <= after_utc or instant == last:
            continue
        if until_utc is not None and instant > until_utc:
            break
        found.append(instant.astimezone(zone))
        last = instant
        if len(found) >= limit:
            break
    return found


def next_run(schedule: Schedule, *, after: datetime) -> datetime | None:
    """The first scheduled instant strictly after ``after``; None when the schedule has ended."""
    found = occurrences(schedule, after=after, limit=1)
    return found[0] if found else None


def cancel_deadline(scheduled: datetime, schedule: Schedule) -> datetime:
    """When a run scheduled at ``scheduled`` gives up: ``cancel_after_minutes`` of elapsed time
    later (added in UTC: aware arithmetic in one zone would add wall time across DST)."""
    late = _aware(scheduled, "scheduled").astimezone(UTC) + timedelta(minutes=schedule.cancel_after_minutes)
    return late.astimezone(schedule.zone)


def summary(schedule: Schedule) -> dict[str, str]:
    """``type``, ``repeats`` and ``ends`` as the Manage Exports table shows them."""
    repeat = schedule.repeat
    if repeat is None:
        return {"type": "one-time", "repeats": "Never", "ends": schedule.start.date().isoformat()}
    unit = repeat.unit.removesuffix("s")
    repeats = f"Every {unit}" if repeat.every == 1 else f"Every {repeat.every} {repeat.unit}"
    ends = schedule.ends.isoformat() if schedule.ends else "Never"
    return {"type": "recurring", "repeats": repeats, "ends": ends}


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {moment!r}")
    return moment


def _instants(schedule: Schedule, zone: ZoneInfo, after_utc: datetime) -> Iterator[datetime]:
    """The schedule's instants in UTC, in order, from some point at or before ``after_utc`` (the
    caller filters); stops at ``ends`` or where datetime arithmetic overflows (year 9999)."""
    repeat = schedule.repeat
    try:
        if repeat is None:
            yield _localise(schedule.start, zone)
        elif repeat.unit == "hours":
            yield from _elapsed_hours(schedule, zone, after_utc)
        else:
            for wall in _wall_times(schedule, zone, after_utc):
                yield _localise(wall, zone)
    except OverflowError:
        return


def _elapsed_hours(schedule: Schedule, zone: ZoneInfo, after_utc: datetime) -> Iterator[datetime]:
    first = _localise(schedule.start, zone)
    step = timedelta(hours=schedule.repeat.every)
    number = max(0, (after_utc - first) // step)  # skip straight to the neighbourhood of after
    while True:
        instant = first + number * step
        if schedule.ends and instant.astimezone(zone).date() > schedule.ends:
            return
        yield instant
        number += 1


def _wall_times(schedule: Schedule, zone: ZoneInfo, after_utc: datetime) -> Iterator[datetime]:
    """Local wall times of a days/weeks/months schedule, with rrule, starting from the last
    occurrence safely before ``after`` (three days of margin cover any change of UTC offset)."""
    start, every, unit = schedule.start, schedule.repeat.every, schedule.repeat.unit
    dtstart = start
    try:
        near = after_utc.astimezone(zone).replace(tzinfo=None) - timedelta(days=3)
    except OverflowError:
        near = start
    if near > start and unit in ("days", "weeks"):
        period = timedelta(days=every * (7 if unit == "weeks" else 1))
        dtstart = start + (near - start) // period * period
    elif near > start:
        months = (near.year - start.year) * 12 + near.month - start.month
        index = start.month - 1 + months // every * every
        year, month = start.year + index // 12, index % 12 + 1
        dtstart = start.replace(year=year, month=month,
                                day=min(start.day, calendar.monthrange(year, month)[1]))
    rule: dict[str, Any] = {"dtstart": dtstart, "interval": every}
    if schedule.ends:
        rule["until"] = datetime.combine(schedule.ends, time.max)
    if unit == "months" and start.day > 28:
        # The start's day, or the month's last day when the month is shorter.
        rule.update(bymonthday=tuple(range(28, start.day + 1)), bysetpos=-1)
    return iter(rrule(_FREQUENCY[unit], **rule))


def _localise(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time: the first one when the time is ambiguous (fold=0),
    the end of the gap when the clock skips over it."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap, fold=0 reads the wall time with the offset before the change, giving an instant
    # after the change, and fold=1 one before it: the change lies between. Find its second.
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(instant.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) > wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
