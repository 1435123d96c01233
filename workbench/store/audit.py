"""Rows of the audit trail (``workbench/audit.py`` says what they hold). Only added, never
changed: nothing here updates or deletes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import and_, insert, or_, select

from . import Store
from .schema import audit


class AuditRecords:
    def __init__(self, store: Store):
        self._store = store

    def add(self, *, changes: dict, **values) -> None:
        with self._store.begin() as conn:
            conn.execute(insert(audit).values(**values, changes=json.dumps(
                changes, ensure_ascii=False, sort_keys=True, default=str)))

    def list(self, *, audience: int | None = None, export: int | None = None,
             since: datetime | None = None, subjects: tuple[str, ...] = (),
             limit: int = 200) -> list[dict]:
        """Newest first; ``audience``/``export``: the rows about it or about what is its."""
        query = select(audit).order_by(audit.c.at.desc(), audit.c.id.desc()).limit(limit)
        if audience is not None:
            query = query.where(audit.c.audience_id == audience)
        if export is not None:
            query = query.where(or_(audit.c.export_id == export, and_(
                audit.c.subject == "export", audit.c.subject_id == export)))
        if since is not None:
            query = query.where(audit.c.at >= since.astimezone(UTC))
        if subjects:
            query = query.where(audit.c.subject.in_(subjects))
        with self._store.read() as conn:
            return [_entry(dict(row._mapping)) for row in conn.execute(query)]


def _entry(row: dict) -> dict:
    at = row["at"]
    return {**row, "at": at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
            "changes": json.loads(row["changes"])}
