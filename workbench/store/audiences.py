"""Audience rows in the metadata store. The store, not only the service, refuses to change an
active audience: every write is conditional on status and version, and a trigger backs it up."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Float, and_, cast, func, insert, or_, select, update

from ..errors import Conflict, NotFound
from . import Store
from .schema import audience_versions, audiences

TRIGGERED = "audience is active and frozen"  # the store's message when its trigger refuses

# What each sort key orders by ("-name" is descending); ties by id, audiences never processed
# first when ascending and last when descending (PostgreSQL's default would be the other way).
_SORT_COLUMNS = {
    "name": func.lower(audiences.c.name),
    "created": audiences.c.created_at,
    "last_processed": audiences.c.last_processed_on,
    # As processing stored them: an audience not processed yet has neither (its estimate is
    # the dashboard's, not the store's), so it sorts with the never processed.
    "size": audiences.c.size,
    "percent": cast(audiences.c.size, Float) / func.nullif(audiences.c.base, 0),
}


def _order_by(sort: str) -> tuple:
    column = _SORT_COLUMNS[sort.removeprefix("-")]
    if sort.startswith("-"):
        return column.desc().nulls_last(), audiences.c.id.desc()
    return column.asc().nulls_first(), audiences.c.id.asc()


class AudienceRecords:
    def __init__(self, store: Store):
        self._store = store

    def insert(self, *, name: str, description: str, definition: str, summary: str, user: str,
               today: date) -> int:
        now = self._store.now()
        with self._store.begin() as conn:
            audience_id = conn.execute(insert(audiences).values(
                name=name, description=description, status="draft", definition=definition,
                summary=summary, version=1, created_by=user, created_on=today, created_at=now,
                updated_by=user, updated_at=now)).inserted_primary_key[0]
            conn.execute(insert(audience_versions).values(
                audience_id=audience_id, version=1, definition=definition, saved_by=user,
                saved_at=now))
        return audience_id

    def get(self, audience_id: int) -> dict:
        with self._store.read() as conn:
            row = conn.execute(select(audiences).where(audiences.c.id == audience_id)).first()
        if row is None:
            raise NotFound(f"no audience with id {audience_id}")
        return dict(row._mapping)

    def update_definition(self, audience_id: int, *, name: str, description: str,
                          definition: str, summary: str, base_version: int, user: str) -> int:
        """Save a draft edit made on ``base_version``; return the new version."""
        now = self._store.now()
        try:
            with self._store.begin() as conn:
                done = conn.execute(update(audiences).where(and_(
                    audiences.c.id == audience_id, audiences.c.status == "draft",
                    audiences.c.version == base_version)).values(
                    name=name, description=description, definition=definition,
                    summary=summary, version=base_version + 1, updated_by=user,
                    updated_at=now))
                if done.rowcount != 1:
                    raise self._refusal(conn, audience_id, base_version)
                conn.execute(insert(audience_versions).values(
                    audience_id=audience_id, version=base_version + 1, definition=definition,
                    saved_by=user, saved_at=now))
        except Conflict as exc:
            if str(exc) != TRIGGERED:  # our own refusal above, already precise
                raise
            # the trigger: a path that skipped the checks above
            raise Conflict(f"audience {audience_id} is active and frozen") from exc
        return base_version + 1

    def activate(self, audience_id: int, *, base_version: int, user: str, today: date) -> None:
        with self._store.begin() as conn:
            done = conn.execute(update(audiences).where(and_(
                audiences.c.id == audience_id, audiences.c.status == "draft",
                audiences.c.version == base_version)).values(
                status="active", activated_on=today, updated_by=user,
                updated_at=self._store.now()))
            if done.rowcount != 1:
                raise self._refusal(conn, audience_id, base_version)

    def archive(self, audience_id: int, *, user: str, today: date) -> None:
        """Retire an active audience: no longer processed, history kept, read-only for good."""
        try:
            with self._store.begin() as conn:
                done = conn.execute(update(audiences).where(and_(
                    audiences.c.id == audience_id, audiences.c.status == "active")).values(
                    status="archived", archived_on=today, updated_by=user,
                    updated_at=self._store.now()))
                if done.rowcount != 1:
                    row = conn.execute(select(audiences).where(
                        audiences.c.id == audience_id)).first()
                    if row is None:
                        raise NotFound(f"no audience with id {audience_id}")
                    state = "archived already" if row.status == "archived" else "a draft"
                    raise Conflict(f"audience {audience_id} ({row.name}) is {state}; only an "
                                   "active audience can be archived (a draft can simply be "
                                   "left unused)")
        except Conflict as exc:
            if str(exc) != TRIGGERED:
                raise
            raise Conflict(f"audience {audience_id} is archived and frozen") from exc

    def set_processing_errors(self, conn, errors: dict[int, str | None]) -> None:
        """Inside a processing commit: each audience's failure, or None when it succeeded."""
        for audience_id, error in errors.items():
            conn.execute(update(audiences).where(audiences.c.id == audience_id)
                         .values(processing_error=error and error[:2000]))

    def _refusal(self, conn, audience_id: int, base_version: int) -> Exception:
        row = conn.execute(select(audiences).where(audiences.c.id == audience_id)).first()
        if row is None:
            return NotFound(f"no audience with id {audience_id}")
        if row.status != "draft":
            return Conflict(f"audience {audience_id} ({row.name}) is {row.status} and frozen; "
                            "duplicate it to make a new draft")
        return Conflict(f"audience {audience_id} ({row.name}) was changed by {row.updated_by} "
                        f"(version {row.version}) after the version {base_version} you edited; "
                        "reload it and apply your change again")

    def list(self, *, search: str = "", sort: str = "-created",
             status: str | None = None) -> list[dict]:
        query = select(audiences).order_by(*_order_by(sort))
        for word in search.lower().split():
            pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(func.lower(audiences.c.name).like(pattern, escape="\\"),
                                    func.lower(audiences.c.created_by).like(pattern, escape="\\")))
        if status:
            query = query.where(audiences.c.status == status)
        with self._store.read() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def processed_through(self) -> date | None:
        """The latest last-processed day of the active audiences."""
        with self._store.read() as conn:
            return conn.execute(select(func.max(audiences.c.last_processed_on)).where(
                audiences.c.status == "active")).scalar()

    def versions(self, audience_id: int) -> list[dict]:
        with self._store.read() as conn:
            rows = conn.execute(select(audience_versions)
                                .where(audience_versions.c.audience_id == audience_id)
                                .order_by(audience_versions.c.version))
            return [dict(row._mapping) for row in rows]

