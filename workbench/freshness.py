"""How far behind the calendar processed results are, said the same way everywhere.

Processing for day D runs in the night after D, so results are current when they are through
yesterday. Anything older is said out loud: "processed through 2026-11-28, 7 days behind" on
the dashboard's banner, the audience page, ``audience list`` and ``show``, the analyst API's
reprs; and an export refuses to deliver members older than its ``max_staleness_days``.
Pure: the caller passes the days (from the workbench's clock).
"""

from __future__ import annotations

from datetime import date, timedelta


def days_behind(processed_through: date | None, yesterday: date) -> int | None:
    """Days between the last processed day and yesterday: 0 current, more behind, less than
    0 processed ahead of the clock (a clock pinned ahead, or moved back, when it ran); None:
    never processed."""
    if processed_through is None:
        return None
    return (yesterday - processed_through).days


def behind(processed_through: date | None, days: int | None) -> str | None:
    """``processed through 2026-11-28, 7 days behind`` when results are ``days`` (from
    ``days_behind``) older than yesterday, or what it means that they are newer; None when
    they are current or there are none."""
    if not days:
        return None
    if days < 0:
        yesterday = processed_through + timedelta(days=days)
        return (f"processed through {processed_through}, {plural(-days, 'day')} after "
                f"yesterday ({yesterday}): processed with the clock set ahead")
    return f"processed through {processed_through}, {plural(days, 'day')} behind"


def sentence(text: str) -> str:
    """A message as the start of a sentence: its first letter upper-case, the rest as it is
    (names in it keep their case)."""
    return text[:1].upper() + text[1:]


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def stale_reason(processed_through: date, day: date, limit: int) -> str | None:
    """Why members processed through ``processed_through`` must not be delivered as of
    ``day`` under ``max_staleness_days`` = ``limit``: too old, or from after that day (what
    a run on that day could not have known). None when fresh enough."""
    age = (day - processed_through).days
    if age < 0:
        return (f"processed through {processed_through}, after {day} (processed with the "
                "clock set ahead): not the members as of that day")
    if age <= limit:
        return None
    return (f"processed through {processed_through}, {plural(age, 'day')} before {day} "
            f"(max_staleness_days is {limit})")
