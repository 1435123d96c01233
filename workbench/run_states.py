"""An export run: the states it moves through, who moves it, and the run as it is read (pure:
the standard library only, so the store, the export service and the UI share this one table).

::

    (new) ─make─▶ scheduled ─claim─▶ in_progress ─complete─▶ complete
                   │     ▲              │  │  │
                   │     └────retry─────┘  │  └─fail───▶ failed
                   └─cancel─▶ canceled ◀─refuse┘
    (new) ─miss─▶ canceled
    in_progress ─claim─▶ in_progress: a new attempt, once its lease ran out (its process died)

Every change of state in the store is conditional on the run being in one of the move's
"from" states (``MOVES``), so two processes never both move one run; the stored values are
the enum's values.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class RunState(StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def label(self) -> str:
        """As people read it: ``in-progress``."""
        return self.value.replace("_", "-")

    @property
    def ended(self) -> bool:
        """A run in this state never moves again."""
        return self in ENDED


ENDED = frozenset({RunState.COMPLETE, RunState.FAILED, RunState.CANCELED})
NEW: frozenset[RunState] = frozenset()  # a run that is being made

# Who moves a run, from which states, to which: the starter (a person's "run now"), the
# scheduler (plan), or the attempt that claimed the run (the only one that holds it).
MOVES: dict[str, tuple[str, frozenset[RunState], RunState]] = {
    "make": ("starter or scheduler", NEW, RunState.SCHEDULED),
    "miss": ("scheduler", NEW, RunState.CANCELED),  # its window passed before it was made
    # In progress: only once its lease ran out (the attempt that held it died).
    "claim": ("attempt", frozenset({RunState.SCHEDULED, RunState.IN_PROGRESS}),
              RunState.IN_PROGRESS),
    "complete": ("attempt", frozenset({RunState.IN_PROGRESS}), RunState.COMPLETE),
    "fail": ("attempt", frozenset({RunState.IN_PROGRESS}), RunState.FAILED),
    "retry": ("attempt", frozenset({RunState.IN_PROGRESS}), RunState.SCHEDULED),
    "refuse": ("attempt", frozenset({RunState.IN_PROGRESS}), RunState.CANCELED),
    "cancel": ("scheduler", frozenset({RunState.SCHEDULED}), RunState.CANCELED),  # unstarted
}


@dataclass
class Run:
    """One run of an export as the service reports it: what was sent, never a secret."""

    id: int
    export_id: int
    export: str
    audience: str
    state: RunState
    scheduled_for: datetime
    type: str
    format: str
    destination: str
    created_by: str
    attempts: int
    rows: int | None
    bytes: int | None
    as_of: date | None
    file_name: str | None
    error: str | None
    details: dict

    def __post_init__(self) -> None:
        self.state = RunState(self.state)  # as stored: its value

    @property
    def notification(self) -> str | None:
        """What became of its e-mail: "e-mail sent to 2 recipients", "e-mail not sent: no
        SMTP host configured"; None when it had no recipients (or has not ended)."""
        return (self.details or {}).get("notification")

    def to_json(self) -> dict:
        return {"id": self.id, "export_id": self.export_id, "export": self.export,
                "audience": self.audience, "state": self.state.value,
                "scheduled_for": self.scheduled_for.isoformat(), "type": self.type,
                "format": self.format, "destination": self.destination,
                "created_by": self.created_by, "attempts": self.attempts, "rows": self.rows,
                "bytes": self.bytes, "as_of": self.as_of and self.as_of.isoformat(),
                "file_name": self.file_name, "error": self.error, "details": self.details}

    def _repr_html_(self) -> str:
        return (f"<b>run #{self.id}</b> of {html.escape(self.export)}: {self.state} · "
                f"{self.rows if self.rows is not None else '—'} rows · "
                f"{html.escape(self.file_name or '—')}"
                + (f"<br><span style='color:#a00'>{html.escape(self.error)}</span>"
                   if self.error else ""))
