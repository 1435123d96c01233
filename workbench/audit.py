"""The audit trail (SPEC 8): every change, who made it, when, what changed and through which
entry point. Services call ``AuditTrail.record`` after each change they make; reads are not
recorded.

A change is ``{field: [before, after]}`` of the fields that changed only (a creation:
``{field: [after]}``); nested settings are named by their path (``schedule.time``). A secret is
never a value here: it is ``{field: "set" | "changed"}``, said as "password changed".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .store.audit import AuditRecords

# The entry points a change comes through: the package from Python, the command line, the
# dashboards, the team service's HTTP API, the scheduler.
VIAS = ("python", "cli", "page", "api", "scheduler")
SUBJECTS = ("audience", "export", "run", "destination", "encryption", "data", "processing",
            "notice")
COLUMNS = ["at", "user", "via", "action", "subject", "subject_id", "changes"]
# A value longer than this is cut in the trail: it says what changed, not a copy of the store.
LONGEST = 200


def checked_via(via: str) -> str:
    if via not in VIAS:
        raise ValueError(f"via must be one of {', '.join(VIAS)}, not {via!r}")
    return via


@dataclass(frozen=True)
class Entry:
    """One change as read back."""

    id: int
    at: datetime
    user: str
    via: str
    action: str
    subject: str
    subject_id: int | None
    audience_id: int | None
    export_id: int | None
    changes: dict

    @property
    def text(self) -> str:
        return describe(self.changes)

    def to_json(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat(), "user": self.user, "via": self.via,
                "action": self.action, "subject": self.subject, "subject_id": self.subject_id,
                "audience_id": self.audience_id, "export_id": self.export_id,
                "changes": self.changes}


# -- what changed (pure) -------------------------------------------------------------------------

def flat(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted paths; lists stay whole values."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list]:
    """``{field: [before, after]}`` of the fields whose value differs."""
    old, new = flat(before), flat(after)
    return {name: [_short(old.get(name)), _short(new.get(name))]
            for name in sorted(old.keys() | new.keys()) if old.get(name) != new.get(name)}


def created(after: Mapping[str, Any]) -> dict[str, list]:
    """``{field: [value]}`` of a new thing's fields that hold something."""
    return {name: [_short(value)] for name, value in flat(after).items()
            if value not in (None, "", [], {})}


def secrets(names: list[str], how: str = "changed") -> dict[str, str]:
    """Secrets given in a change: named, never valued."""
    return {name: how for name in names}


def _short(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str) and len(value) > LONGEST:
        return value[:LONGEST - 1] + "…"
    return value


def describe(changes: Mapping[str, Any]) -> str:
    """``name: 'A' → 'B'; port: 22 → 2222; password changed`` (a creation: ``name: 'A'``)."""
    parts = []
    for name, change in changes.items():
        if isinstance(change, str):
            parts.append(f"{name.replace('_', ' ')} {change}")
        elif len(change) == 1:
            parts.append(f"{name}: {_said(change[0])}")
        else:
            parts.append(f"{name}: {_said(change[0])} → {_said(change[1])}")
    return "; ".join(parts) or "(nothing changed)"


def _said(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(_said(v) for v in value) or "(none)"
    return repr(value) if isinstance(value, str) else str(value)


# -- the trail -----------------------------------------------------------------------------------

class AuditTrail:
    """What the services record changes with: who (``user``) and through what (``via``) are
    the workbench's, given once when it is opened; the time is its clock's."""

    def __init__(self, records: AuditRecords, *, user: str, via: str,
                 now: Callable[[], datetime]):
        self._records = records
        self._user = user
        self._via = checked_via(via)
        self._now = now

    def record(self, action: str, subject: str, subject_id: int | None = None, *,
               audience_id: int | None = None, export_id: int | None = None,
               changes: Mapping[str, Any] | None = None) -> None:
        if subject not in SUBJECTS:
            raise ValueError(f"unknown audit subject {subject!r}")
        self._records.add(at=self._now().astimezone(UTC), user=self._user, via=self._via,
                          action=action, subject=subject, subject_id=subject_id,
                          audience_id=audience_id, export_id=export_id,
                          changes=dict(changes or {}))

    def entries(self, *, audience: int | None = None, export: int | None = None,
                since: date | datetime | None = None, subjects: tuple[str, ...] = (),
                limit: int = 200) -> list[Entry]:
        """Newest first. ``audience``: changes to it, its exports and their runs; ``export``:
        to it and its runs; ``since``: from the start of that day (the workbench timezone);
        ``subjects``: only those kinds of things."""
        if isinstance(since, date) and not isinstance(since, datetime):
            since = datetime.combine(since, time(), tzinfo=self._now().tzinfo)
        return [Entry(**row) for row in self._records.list(
            audience=audience, export=export, since=since, subjects=subjects, limit=limit)]

    def frame(self, **where) -> pd.DataFrame:
        """The entries as a DataFrame (``COLUMNS``), the changes as readable text."""
        import pandas as pd

        rows = [{"at": e.at, "user": e.user, "via": e.via, "action": e.action,
                 "subject": e.subject, "subject_id": e.subject_id, "changes": e.text}
                for e in self.entries(**where)]
        return pd.DataFrame(rows, columns=COLUMNS)
