"""The one place the workbench reads the time of day.

Every service receives a ``Clock`` (``Workbench.clock``) and asks it for "now"; nothing else in
the package calls ``datetime.now``, ``date.today`` or ``time.time``. Waiting (timeouts, leases
kept alive, back-off sleeps) measures durations with ``time.monotonic``, which is not a date.

``WORKBENCH_NOW`` (an ISO 8601 instant with its UTC offset, ``2026-11-29T06:00:00+00:00``) stands
the clock still at that instant, for this process and every process it starts (a CLI command,
a papermill kernel, the scheduler). It is for tests, a demo pinned to a day and the replay of a
night's run; it is read at each reading, so a test that moves it moves every workbench of its
process and whatever it starts next. A workbench whose clock is pinned says so where it matters
(``workbench scheduler`` at start, ``Clock.pinned``).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache

from .errors import InvalidInput, SettingsError

VARIABLE = "WORKBENCH_NOW"
# A pinned instant stays where every date sum the workbench makes (a day before, two years of
# events, a timezone of +14 h) is a real date.
EARLIEST, LATEST = datetime(1900, 1, 2, tzinfo=UTC), datetime(9998, 12, 31, tzinfo=UTC)


class Clock:
    """Now, as the system says, unless ``WORKBENCH_NOW`` pins it."""

    def __init__(self):
        _ = self.pinned  # a bad WORKBENCH_NOW stops a workbench as it opens, not at 3 a.m.

    def now(self, zone: tzinfo = UTC) -> datetime:
        """An aware datetime in ``zone``."""
        text = os.environ.get(VARIABLE)
        now = _pinned(text, VARIABLE) if text else datetime.now(UTC)
        return now.astimezone(zone)

    def today(self, zone: tzinfo) -> date:
        """The calendar day in ``zone`` (the workbench's, never the machine's)."""
        return self.now(zone).date()

    @property
    def pinned(self) -> datetime | None:
        """The instant ``WORKBENCH_NOW`` holds the clock at, if it does."""
        text = os.environ.get(VARIABLE)
        return _pinned(text, VARIABLE) if text else None


class FixedClock(Clock):
    """A clock that stands at one instant until it is set again: for callers that need a
    "now" of their own (a replay in a notebook, unit tests of one service)."""

    def __init__(self, at: datetime):
        self.set(at)

    def set(self, at: datetime) -> None:
        self._at = _checked(at, "clock")

    def now(self, zone: tzinfo = UTC) -> datetime:
        return self._at.astimezone(zone)

    @property
    def pinned(self) -> datetime | None:
        return self._at


def as_clock(value: Clock | datetime | str | None) -> Clock:
    """A clock from what a caller gave: a clock, an instant (ISO text or an aware datetime:
    a ``FixedClock`` there), or None (the system's)."""
    if value is None or isinstance(value, Clock):
        return value or Clock()
    if isinstance(value, str):
        return FixedClock(_pinned(value, "clock"))
    if isinstance(value, datetime):
        return FixedClock(value)
    raise InvalidInput(f"clock: expected a Clock, an aware datetime or an ISO instant like "
                       f"2026-11-29T06:00:00+00:00, not {type(value).__name__}")


@lru_cache(maxsize=8)
def _pinned(text: str, what: str) -> datetime:
    shown = f"{what}={_shown(text)}"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{shown} is not an instant like 2026-11-29T06:00:00+00:00") \
            from None
    return _checked(at, shown)


def _checked(at: datetime, shown: str) -> datetime:
    if at.tzinfo is None:
        raise SettingsError(f"{shown} needs its UTC offset, like 2026-11-29T06:00:00+00:00 "
                            "(a local time is ambiguous)")
    try:
        at = at.astimezone(UTC)
    except OverflowError:
        at = None
    if at is None or not EARLIEST <= at <= LATEST:
        raise SettingsError(f"{shown} is outside the years 1900 to 9998")
    return at


def _shown(text: str) -> str:
    """A value in a one-line message: quoted, control characters escaped, cut."""
    quoted = repr(text)
    return quoted if len(quoted) <= 60 else quoted[:58] + "…'"
