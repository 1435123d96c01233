"""Days as the workbench counts them: in its timezone, never the machine's, and within bounds.

A day a job is asked for is checked here once: a day after today would count events that do not
exist yet (and, processed, would pin "last processed" in the future for good); a day before 1900
is a typing error, not a customer base.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from .clock import Clock
from .errors import InvalidInput

EARLIEST = date(1900, 1, 1)
_WRITTEN_AS_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class NoSuchDay(ValueError):
    """Written YYYY-MM-DD, but not on the calendar (2026-02-30)."""


def parse_day(text: object) -> date:
    """A day written exactly YYYY-MM-DD: the one way a day typed by a person or stored as text
    is read. ``date.fromisoformat`` alone also takes 20261128 and 2026-W48-6, which nobody
    writes meaning a day. Raises ``ValueError``, ``NoSuchDay`` when only the calendar objects."""
    if not isinstance(text, str) or not _WRITTEN_AS_DAY.fullmatch(text):
        raise ValueError(f"{text!r} is not written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise NoSuchDay(str(exc)) from None


class Calendar:
    """The workbench's clock read in its timezone."""

    def __init__(self, zone: ZoneInfo, clock: Clock | None = None):
        self.zone = zone
        self.clock = clock or Clock()

    def now(self) -> datetime:
        """Now, aware, in the workbench timezone."""
        return self.clock.now(self.zone)

    def today(self) -> date:
        return self.now().date()

    def yesterday(self) -> date:
        """The default day of processing and estimates."""
        return self.today() - timedelta(days=1)

    def day(self, value: date | str | None = None, *, what: str = "as-of day") -> date:
        """A day given as a date or YYYY-MM-DD, checked; None is yesterday."""
        if value is None:
            return self.yesterday()
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            try:
                value = parse_day(str(value))
            except ValueError:
                raise InvalidInput(f"{what} {value!r} is not a date YYYY-MM-DD") from None
        today = self.today()
        if value > today:
            raise InvalidInput(f"{what} {value} is after today ({today} in {self.zone.key}); "
                               "events after today do not exist yet")
        if value < EARLIEST:
            raise InvalidInput(f"{what} {value} is before {EARLIEST}")
        return value


class Dated:
    """The days an opened workbench speaks of, local (``Workbench``) or a team's
    (``RemoteWorkbench``): its calendar's, in the workbench timezone."""

    calendar: Calendar

    def today(self) -> date:
        """Today in the workbench timezone (never the machine's)."""
        return self.calendar.today()

    def yesterday(self) -> date:
        """The default day of processing and estimates."""
        return self.calendar.yesterday()

    def day(self, value: date | str | None = None) -> date:
        """A day given as a date or YYYY-MM-DD, checked; None is yesterday."""
        return self.calendar.day(value)
