"""Destinations, encryptions and export configurations in the metadata store.

Rows only: checks live in the export services. Every update is conditional on the version it
was based on (a stale save is refused, as for audiences), and names are unique per kind.
"""

from __future__ import annotations

from sqlalchemy import Table, and_, delete, insert, select, update

from ..errors import Conflict, NotFound
from . import Store
from .schema import destinations, encryptions, exports


class Records:
    """Rows of one table, found by id or name."""

    kind = "row"

    def __init__(self, store: Store, table: Table):
        self._store = store
        self._table = table

    def insert(self, values: dict, *, user: str) -> int:
        now = self._store.now()
        with self._store.begin() as conn:
            return conn.execute(insert(self._table).values(
                **values, version=1, created_by=user, created_at=now, updated_by=user,
                updated_at=now)).inserted_primary_key[0]

    def get(self, key: int | str) -> dict:
        column = self._table.c.id if isinstance(key, int) else self._table.c.name
        with self._store.read() as conn:
            row = conn.execute(select(self._table).where(column == key)).first()
        if row is None:
            raise NotFound(f"no {self.kind} with id {key}" if isinstance(key, int)
                           else f"no {self.kind} named {key!r}")
        return dict(row._mapping)

    def list(self, **where) -> list[dict]:
        query = select(self._table).order_by(self._table.c.id)
        for column, value in where.items():
            query = query.where(self._table.c[column] == value)
        with self._store.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def update(self, row_id: int, values: dict, *, base_version: int | None, user: str) -> int:
        """``base_version``: the version the edit was made on; None: whatever is current."""
        from ..ids import parse_id

        with self._store.begin() as conn:
            if base_version is None:
                base_version = conn.execute(select(self._table.c.version).where(
                    self._table.c.id == row_id)).scalar()
                if base_version is None:
                    raise NotFound(f"no {self.kind} with id {row_id}")
            # A number people may have typed (0, "2", [1]) is checked, never trusted.
            base_version = parse_id(base_version, "version")
            done = conn.execute(update(self._table).where(and_(
                self._table.c.id == row_id, self._table.c.version == base_version)).values(
                **values, version=base_version + 1, updated_by=user,
                updated_at=self._store.now()))
            if done.rowcount != 1:
                row = conn.execute(select(self._table).where(self._table.c.id == row_id)).first()
                if row is None:
                    raise NotFound(f"no {self.kind} with id {row_id}")
                raise Conflict(f"{self.kind} {row_id} ({row.name}) was changed by "
                               f"{row.updated_by} (version {row.version}) after the version "
                               f"{base_version} you edited; reload it and apply your change "
                               "again")
        return base_version + 1

    def remove(self, row_id: int) -> None:
        with self._store.begin() as conn:
            conn.execute(delete(self._table).where(self._table.c.id == row_id))


class DestinationRecords(Records):
    kind = "destination"

    def __init__(self, store: Store):
        super().__init__(store, destinations)


class EncryptionRecords(Records):
    kind = "encryption"

    def __init__(self, store: Store):
        super().__init__(store, encryptions)


class ExportRecords(Records):
    kind = "export"

    def __init__(self, store: Store):
        super().__init__(store, exports)

    def using(self, column: str, row_id: int) -> list[dict]:
        """Exports that are not canceled and use this destination or encryption."""
        query = select(exports).where(and_(exports.c[column] == row_id,
                                           exports.c.state != "canceled"))
        with self._store.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
