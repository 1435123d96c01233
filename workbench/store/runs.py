"""Export runs in the metadata store: created, claimed atomically, finished.

The claim is one conditional UPDATE: it succeeds for exactly one process, whether the store is
SQLite or PostgreSQL (no file lock), and it takes over a run whose lease expired (its process
died) as a new attempt.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, insert, or_, select, update

from ..errors import NotFound
from . import Store
from .schema import export_runs


class RunRecords:
    def __init__(self, store: Store):
        self._store = store

    def create(self, *, export_id: int, scheduled_for: datetime, trigger: str, user: str) -> int:
        with self._store.begin() as conn:
            return conn.execute(insert(export_runs).values(
                export_id=export_id, state="scheduled", scheduled_for=scheduled_for.astimezone(UTC),
                trigger=trigger, created_by=user, created_at=datetime.now(UTC),
                attempts=0)).inserted_primary_key[0]

    def claim(self, run_id: int, *, lease: timedelta, now: datetime) -> bool:
        """Take the run: True for exactly one caller while it is scheduled or its lease ran out."""
        with self._store.begin() as conn:
            done = conn.execute(update(export_runs).where(and_(
                export_runs.c.id == run_id,
                or_(export_runs.c.state == "scheduled",
                    and_(export_runs.c.state == "in_progress",
                         export_runs.c.lease_until < now.astimezone(UTC))))).values(
                state="in_progress", started_at=now.astimezone(UTC),
                lease_until=(now + lease).astimezone(UTC),
                attempts=export_runs.c.attempts + 1))
            return done.rowcount == 1

    def finish(self, run_id: int, *, state: str, error: str | None = None, **values) -> None:
        if "details" in values and values["details"] is not None:
            values["details"] = json.dumps(values["details"])
        with self._store.begin() as conn:
            conn.execute(update(export_runs).where(export_runs.c.id == run_id).values(
                state=state, finished_at=datetime.now(UTC), lease_until=None,
                error=error and error[:2000], **values))

    def set(self, run_id: int, **values) -> None:
        with self._store.begin() as conn:
            conn.execute(update(export_runs).where(export_runs.c.id == run_id).values(**values))

    def get(self, run_id: int) -> dict:
        with self._store.read() as conn:
            row = conn.execute(select(export_runs).where(export_runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no export run with id {run_id}")
        return _row(row)

    def list(self, export_id: int | None = None, limit: int = 100) -> list[dict]:
        query = select(export_runs).order_by(export_runs.c.scheduled_for.desc(),
                                             export_runs.c.id.desc()).limit(limit)
        if export_id is not None:
            query = query.where(export_runs.c.export_id == export_id)
        with self._store.read() as conn:
            return [_row(row) for row in conn.execute(query)]


def _row(row) -> dict:
    values = dict(row._mapping)
    values["details"] = json.loads(values["details"]) if values["details"] else {}
    for column in ("scheduled_for", "started_at", "finished_at", "lease_until", "created_at"):
        if values[column] is not None and values[column].tzinfo is None:
            values[column] = values[column].replace(tzinfo=UTC)  # SQLite keeps no zone
    return values
