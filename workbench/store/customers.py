"""Versions of customer data in the metadata store: which Parquet file of each kind is current.

Ingest records a new version and its ingest log row in one transaction, so the moment a version
becomes current is one commit; a snapshot reads the current version of every kind in one read
transaction, so it never mixes two moments.
"""

from __future__ import annotations

import json

from sqlalchemy import func, insert, select

from . import Store
from .schema import customer_data, ingests


class CustomerDataRecords:
    def __init__(self, store: Store):
        self._store = store

    def record_version(self, *, kind: str, file: str, columns: dict[str, str], rows: int,
                       choices: dict[str, list] | None, ingest: dict) -> int:
        now = self._store.now()
        with self._store.begin() as conn:
            ingest_id = conn.execute(insert(ingests).values(
                kind=kind, ingested_at=now, **ingest)).inserted_primary_key[0]
            return conn.execute(insert(customer_data).values(
                kind=kind, file=file, columns=json.dumps(columns), rows=rows,
                choices=json.dumps(choices), ingest_id=ingest_id,
                created_at=now)).inserted_primary_key[0]

    def current(self) -> dict[str, dict]:
        """kind -> its newest version (id, file, columns, rows, choices)."""
        newest = (select(customer_data.c.kind, func.max(customer_data.c.id).label("id"))
                  .group_by(customer_data.c.kind).subquery())
        query = select(customer_data).join(newest, newest.c.id == customer_data.c.id)
        with self._store.read() as conn:
            rows = [dict(row._mapping) for row in conn.execute(query)]
        for row in rows:
            row["columns"] = json.loads(row["columns"])
            row["choices"] = json.loads(row["choices"]) or {}
        return {row["kind"]: row for row in rows}

    def files(self, kind: str) -> dict[str, int]:
        """Every file recorded for a kind -> its version id."""
        with self._store.read() as conn:
            rows = conn.execute(select(customer_data.c.file, customer_data.c.id)
                                .where(customer_data.c.kind == kind))
            return {row.file: row.id for row in rows}
