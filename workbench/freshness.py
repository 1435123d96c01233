"""How far behind the calendar processed results are, said the same way everywhere.

Processing for day D runs in the night after D, so results are current when they are through
yesterday. Anything older is said out loud: "processed through 2026-11-28, 7 days behind" on
the dashboard's banner, the audience page, ``audience list`` and ``show``, the analyst API's
reprs; and an export refuses to deliver members older than its ``max_staleness_days``.
Pure: the caller passes the days (from the workbench's clock).
"""

from __future__ import annotations

from datetime import date


def days_behind(processed_through: date | None, yesterday: date) -> int | None:
    """Days between the last processed day and yesterday (0: current); None: never processed."""
    if processed_through is None:
        return None
    return max(0, (yesterday - processed_through).days)


def behind(processed_through: date | None, days: int | None) -> str | None:
    """``processed through 2026-11-28, 7 days behind`` when results are ``days`` (from
    ``days_behind``) older than yesterday; None when they are current or there are none."""
    if not days:
        return None
    return f"processed through {processed_through}, {plural(days, 'day')} behind"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def stale_reason(processed_through: date, day: date, limit: int) -> str | None:
    """Why members processed through ``processed_through`` are too old for a delivery on
    ``day`` under ``max_staleness_days`` = ``limit``; None when they are fresh enough."""
    age = (day - processed_through).days
    if age <= limit:
        return None
    return (f"processed through {processed_through}, {plural(age, 'day')} before {day} "
            f"(max_staleness_days is {limit})")
