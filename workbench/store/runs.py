"""Export runs in the metadata store: created, claimed atomically, finished.

The claim is one conditional UPDATE: it succeeds for exactly one process, whether the store is
SQLite or PostgreSQL (no file lock), and it takes over a run whose lease expired (its process
died) as a new attempt.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, exists, insert, literal, or_, select, update

from ..errors import Conflict, NotFound
from ..run_states import ENDED, MOVES, RunState
from . import Store
from .schema import export_runs


class RunRecords:
    def __init__(self, store: Store):
        self._store = store

    def create_by_hand(self, *, export_id: int, scheduled_for: datetime, user: str,
                       details: dict | None = None) -> int:
        """A run started by hand, unless the export has an unfinished one (in progress, or
        started by hand and not yet claimed): one conditional INSERT, backed by a unique index,
        so two at once make one run. The other is refused naming the unfinished run."""
        values = {"export_id": export_id, "state": _target("make"),
                  "scheduled_for": scheduled_for.astimezone(UTC), "trigger": "manual",
                  "created_by": user, "created_at": self._store.now(), "attempts": 0,
                  "details": json.dumps(details) if details else None}
        row = select(*[literal(value, type_=export_runs.c[name].type).label(name)
                       for name, value in values.items()]).where(~exists(_unfinished(export_id)))
        try:
            with self._store.begin() as conn:
                created = conn.execute(insert(export_runs).from_select(list(values), row)
                                       .returning(export_runs.c.id)).scalar()
        except Conflict:  # the unique index: another process inserted first (PostgreSQL)
            created = None
        if created is None:
            with self._store.read() as conn:
                busy = conn.execute(select(export_runs.c.id, export_runs.c.state).where(
                    export_runs.c.id.in_(_unfinished(export_id))).order_by(
                    export_runs.c.id)).first()
            raise Conflict(f"export {export_id} has run #{busy.id} "
                           f"{RunState(busy.state).label}; wait for it to end" if busy else
                           f"export {export_id} has a run starting; wait for it to end")
        return created

    def create_scheduled(self, export_id: int, occurrences: list[tuple[datetime, str | None]],
                         user: str) -> int:
        """Runs of a schedule's occurrences, each once however many schedulers try: (when, None)
        is scheduled, (when, reason) is canceled with that reason. Returns how many were new."""
        from sqlalchemy.exc import IntegrityError

        from ..errors import Conflict

        created = 0
        for when, reason in occurrences:
            try:
                with self._store.begin() as conn:
                    conn.execute(insert(export_runs).values(
                        export_id=export_id, state=_target("miss" if reason else "make"),
                        scheduled_for=when.astimezone(UTC), trigger="schedule", created_by=user,
                        created_at=self._store.now(), attempts=0, error=reason,
                        finished_at=self._store.now() if reason else None))
                created += 1
            except (IntegrityError, Conflict):
                pass  # another scheduler made it first
        return created

    def last_scheduled(self, export_id: int) -> datetime | None:
        with self._store.read() as conn:
            value = conn.execute(select(export_runs.c.scheduled_for).where(and_(
                export_runs.c.export_id == export_id, export_runs.c.trigger == "schedule"))
                .order_by(export_runs.c.scheduled_for.desc()).limit(1)).scalar()
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def due(self, now: datetime) -> list[dict]:
        """Runs to start now: scheduled and due (retries after their back-off), or in progress
        with a lease that ran out (their process died). A run started by hand is its starter's
        own until it has been attempted: a scheduler never takes it from the waiting CLI."""
        at = now.astimezone(UTC)
        query = select(export_runs).where(or_(
            and_(export_runs.c.state == RunState.SCHEDULED, export_runs.c.scheduled_for <= at,
                 or_(export_runs.c.trigger == "schedule", export_runs.c.attempts > 0),
                 or_(export_runs.c.next_attempt_at.is_(None),
                     export_runs.c.next_attempt_at <= at)),
            and_(export_runs.c.state == RunState.IN_PROGRESS, export_runs.c.lease_until < at)),
        ).order_by(export_runs.c.scheduled_for, export_runs.c.id)
        with self._store.read() as conn:
            return [_row(row) for row in conn.execute(query)]

    def unstarted_manual(self, *, before: datetime) -> list[dict]:
        """Runs started by hand that no process ever claimed (their CLI stopped first)."""
        query = select(export_runs).where(and_(
            export_runs.c.trigger == "manual", export_runs.c.state == RunState.SCHEDULED,
            export_runs.c.attempts == 0, export_runs.c.created_at < before.astimezone(UTC)))
        with self._store.read() as conn:
            return [_row(row) for row in conn.execute(query)]

    def claim(self, run_id: int, *, lease: timedelta, now: datetime) -> int | None:
        """Take the run: its attempt number for exactly one caller while it is scheduled or its
        lease ran out; None for everyone else."""
        _, sources, target = MOVES["claim"]
        with self._store.begin() as conn:
            done = conn.execute(update(export_runs).where(and_(
                export_runs.c.id == run_id, export_runs.c.state.in_(sources),
                or_(export_runs.c.state != RunState.IN_PROGRESS,
                    export_runs.c.lease_until < now.astimezone(UTC)))).values(
                state=target, started_at=now.astimezone(UTC),
                lease_until=(now + lease).astimezone(UTC),
                attempts=export_runs.c.attempts + 1))
            if done.rowcount != 1:
                return None
            return conn.execute(select(export_runs.c.attempts).where(
                export_runs.c.id == run_id)).scalar()

    def renew(self, run_id: int, attempt: int, *, until: datetime) -> bool:
        """Extend the lease of the attempt that holds the run; False once it lost the run."""
        with self._store.begin() as conn:
            done = conn.execute(update(export_runs).where(and_(
                export_runs.c.id == run_id, export_runs.c.state == RunState.IN_PROGRESS,
                export_runs.c.attempts == attempt)).values(lease_until=until.astimezone(UTC)))
            return done.rowcount == 1

    def stage(self, run_id: int, attempt: int, staged: dict) -> bool:
        """Record what a run's final name will hold, just before its rename, if that attempt
        still holds the run (False: it was taken over; nothing must be renamed)."""
        with self._store.begin() as conn:
            row = conn.execute(select(export_runs.c.details).where(and_(
                export_runs.c.id == run_id, export_runs.c.state == RunState.IN_PROGRESS,
                export_runs.c.attempts == attempt))).first()
            if row is None:
                return False
            details = {**(json.loads(row.details) if row.details else {}), "staged": staged}
            conn.execute(update(export_runs).where(export_runs.c.id == run_id)
                         .values(details=json.dumps(details)))
            return True

    def live(self, run_id: int, attempt: int, now: datetime) -> bool:
        """Whether that attempt holds the run and its lease has not run out."""
        with self._store.read() as conn:
            return conn.execute(select(export_runs.c.id).where(and_(
                export_runs.c.id == run_id, export_runs.c.state == RunState.IN_PROGRESS,
                export_runs.c.attempts == attempt,
                export_runs.c.lease_until >= now.astimezone(UTC)))).first() is not None

    def with_partial(self, now: datetime) -> list[dict]:
        """Runs whose temporary file may still be on their server, with no live attempt."""
        query = select(export_runs).where(and_(
            export_runs.c.partial.is_not(None),
            or_(export_runs.c.state != RunState.IN_PROGRESS,
                export_runs.c.lease_until < now.astimezone(UTC))))
        with self._store.read() as conn:
            return [_row(row) for row in conn.execute(query)]

    def workbench_id(self) -> str:
        return self._store.workbench_id()

    def finish_attempt(self, run_id: int, attempt: int, move: str, **values) -> bool:
        """End an attempt's work by one of its ``MOVES`` only if that attempt still holds the
        run: a process that lost its lease never overwrites what the one that took over
        recorded."""
        _, sources, target = MOVES[move]
        values = _ending(self._store.now(), state=target, **values)
        with self._store.begin() as conn:
            done = conn.execute(update(export_runs).where(and_(
                export_runs.c.id == run_id, export_runs.c.state.in_(sources),
                export_runs.c.attempts == attempt)).values(**values))
            return done.rowcount == 1

    def cancel(self, run_id: int, error: str) -> bool:
        """Cancel a run nobody started; False when a process claimed it meanwhile."""
        _, sources, target = MOVES["cancel"]
        with self._store.begin() as conn:
            done = conn.execute(update(export_runs).where(and_(
                export_runs.c.id == run_id, export_runs.c.state.in_(sources))).values(
                **_ending(self._store.now(), state=target, error=error)))
            return done.rowcount == 1

    def set(self, run_id: int, **values) -> None:
        values = _utc(values)
        with self._store.begin() as conn:
            conn.execute(update(export_runs).where(export_runs.c.id == run_id).values(**values))

    def get(self, run_id: int) -> dict:
        with self._store.read() as conn:
            row = conn.execute(select(export_runs).where(export_runs.c.id == run_id)).first()
        if row is None:
            raise NotFound(f"no export run with id {run_id}")
        return _row(row)

    def last_complete(self, export_id: int) -> dict | None:
        """The export's run recorded Complete last (what it last delivered successfully)."""
        query = select(export_runs).where(and_(
            export_runs.c.export_id == export_id, export_runs.c.state == RunState.COMPLETE)) \
            .order_by(export_runs.c.finished_at.desc(), export_runs.c.id.desc()).limit(1)
        with self._store.read() as conn:
            row = conn.execute(query).first()
        return _row(row) if row else None

    def list(self, export_id: int | None = None, limit: int = 100) -> list[dict]:
        query = select(export_runs).order_by(export_runs.c.scheduled_for.desc(),
                                             export_runs.c.id.desc()).limit(limit)
        if export_id is not None:
            query = query.where(export_runs.c.export_id == export_id)
        with self._store.read() as conn:
            return [_row(row) for row in conn.execute(query)]


def _unfinished(export_id: int):
    """Ids of an export's runs that stop another from starting by hand."""
    return select(export_runs.c.id).where(and_(
        export_runs.c.export_id == export_id,
        or_(export_runs.c.state == RunState.IN_PROGRESS,
            and_(export_runs.c.state == RunState.SCHEDULED, export_runs.c.trigger == "manual"))))


def _target(move: str) -> RunState:
    return MOVES[move][2]


def _ending(now: datetime, **values) -> dict:
    """Values as stored: details as JSON, instants in UTC, errors cut, and an ended run's end
    time set (``now``) and lease dropped."""
    if values.get("details") is not None:
        values["details"] = json.dumps(values["details"])
    if values.get("error"):
        values["error"] = values["error"][:2000]
    if values["state"] in ENDED:
        values.setdefault("finished_at", now)
        values.setdefault("lease_until", None)
    return _utc(values)


def _utc(values: dict) -> dict:
    """Instants are stored in UTC: SQLite keeps the text of a time, not its zone."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) and v.tzinfo else v
            for k, v in values.items()}


def _row(row) -> dict:
    values = dict(row._mapping)
    values["details"] = json.loads(values["details"]) if values["details"] else {}
    for column in ("scheduled_for", "started_at", "finished_at", "lease_until", "created_at",
                   "next_attempt_at"):
        if values[column] is not None and values[column].tzinfo is None:
            values[column] = values[column].replace(tzinfo=UTC)  # SQLite keeps no zone
    return values
