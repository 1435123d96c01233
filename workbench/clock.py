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

from .errors import SettingsError

VARIABLE = "WORKBENCH_NOW"


class Clock:
    """Now, as the system says, unless ``WORKBENCH_NOW`` pins it."""

    def __init__(self):
        _ = self.pinned  # a bad WORKBENCH_NOW stops a workbench as it opens, not at 3 a.m.

    def now(self, zone: tzinfo = UTC) -> datetime:
        """An aware datetime in ``zone``."""
        text = os.environ.get(VARIABLE)
        now = _pinned(text) if text else datetime.now(UTC)
        return now.astimezone(zone)

    def today(self, zone: tzinfo) -> date:
        """The calendar day in ``zone`` (the workbench's, never the machine's)."""
        return self.now(zone).date()

    @property
    def pinned(self) -> datetime | None:
        """The instant ``WORKBENCH_NOW`` holds the clock at, if it does."""
        text = os.environ.get(VARIABLE)
        return _pinned(text) if text else None


class FixedClock(Clock):
    """A clock that stands at one instant until it is set again: for callers that need a
    "now" of their own (a replay in a notebook, unit tests of one service)."""

    def __init__(self, at: datetime):
        self.set(at)

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock's instant needs a timezone")
        self._at = at

    def now(self, zone: tzinfo = UTC) -> datetime:
        return self._at.astimezone(zone)

    @property
    def pinned(self) -> datetime | None:
        return self._at


def as_clock(value: Clock | datetime | str | None) -> Clock:
    """A clock from what a caller gave: a clock, an instant (a ``FixedClock`` there), or None
    (the system's)."""
    if value is None or isinstance(value, Clock):
        return value or Clock()
    if isinstance(value, str):
        return FixedClock(_pinned(value))
    return FixedClock(value)


@lru_cache(maxsize=8)
def _pinned(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(f"{VARIABLE}={text!r} is not an instant like "
                            "2026-11-29T06:00:00+00:00") from None
    if at.tzinfo is None:
        raise SettingsError(f"{VARIABLE}={text!r} needs its UTC offset, like "
                            "2026-11-29T06:00:00+00:00 (a local time is ambiguous)")
    return at.astimezone(UTC)
