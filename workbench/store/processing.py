"""Processing runs, size history and composition snapshots in the metadata store."""

from __future__ import annotations

from datetime import date

from sqlalchemy import and_, delete, insert, select, update

from . import Store
from .audiences import AudienceRecords
from .schema import audience_history, audiences, composition, processing_runs


class ProcessingRecords:
    def __init__(self, store: Store):
        self._store = store

    def start_run(self, date_from: date, date_to: date, user: str) -> int:
        with self._store.begin() as conn:
            # A run still marked running when a new one holds the lock was interrupted.
            conn.execute(update(processing_runs).where(processing_runs.c.status == "running")
                         .values(status="failed", finished_at=self._store.now(),
                                 error="interrupted: the process ended before finishing"))
            return conn.execute(insert(processing_runs).values(
                status="running", date_from=date_from, date_to=date_to, started_by=user,
                started_at=self._store.now())).inserted_primary_key[0]

    def fail_run(self, run_id: int, error: str, audience_ids: list[int] = ()) -> None:
        """The run failed as a whole: it and every audience it was processing say so."""
        message = f"processing run #{run_id} failed: {error}"
        with self._store.begin() as conn:
            conn.execute(update(processing_runs).where(processing_runs.c.id == run_id).values(
                status="failed", finished_at=self._store.now(), error=error[:2000]))
            AudienceRecords(self._store).set_processing_errors(
                conn, dict.fromkeys(audience_ids, message))

    def interrupt(self, notebook: str, error: str, audience_ids: list[int] = ()) -> int | None:
        """Mark the run of this audit notebook failed if it was left running, and say so on
        the audiences it was processing."""
        with self._store.begin() as conn:
            row = conn.execute(select(processing_runs.c.id).where(and_(
                processing_runs.c.notebook == notebook,
                processing_runs.c.status == "running"))).first()
            if row is None:
                return None
            conn.execute(update(processing_runs).where(processing_runs.c.id == row.id).values(
                status="failed", finished_at=self._store.now(), error=error[:2000]))
            AudienceRecords(self._store).set_processing_errors(
                conn, dict.fromkeys(audience_ids, f"processing run #{row.id} {error}"))
            return row.id

    def set_notebook(self, run_id: int, notebook: str) -> None:
        with self._store.begin() as conn:
            conn.execute(update(processing_runs).where(processing_runs.c.id == run_id)
                         .values(notebook=notebook))

    def commit_run(self, run_id: int, history: list[dict], snapshots: list[dict],
                   audience_count: int, corrections: list[dict],
                   errors: dict[int, str | None]) -> None:
        """Everything a run produced, in one transaction: it all lands or none of it does.
        ``corrections``: added/removed of later days whose previous day this run replaced;
        ``errors``: each audience's failure in this run, None for those processed."""
        with self._store.begin() as conn:
            for row in history:
                key = and_(audience_history.c.audience_id == row["audience_id"],
                           audience_history.c.day == row["day"])
                conn.execute(delete(audience_history).where(key))
                conn.execute(delete(composition).where(and_(
                    composition.c.audience_id == row["audience_id"],
                    composition.c.day == row["day"])))
            if history:
                conn.execute(insert(audience_history), history)
            if snapshots:
                conn.execute(insert(composition), snapshots)
            for row in corrections:
                conn.execute(update(audience_history).where(and_(
                    audience_history.c.audience_id == row["audience_id"],
                    audience_history.c.day == row["day"])).values(
                    added=row["added"], removed=row["removed"]))
            for audience_id in {row["audience_id"] for row in history}:
                self._refresh_audience(conn, audience_id)
            failed = {a: e for a, e in errors.items() if e}
            AudienceRecords(self._store).set_processing_errors(conn, {
                a: e and f"processing run #{run_id} failed for this audience: {e}"
                for a, e in errors.items()})
            conn.execute(update(processing_runs).where(processing_runs.c.id == run_id).values(
                status="partial" if failed else "succeeded", finished_at=self._store.now(),
                audiences=audience_count,
                error="; ".join(f"audience {a}: {e}" for a, e in failed.items())[:2000] or None))

    def _refresh_audience(self, conn, audience_id: int) -> None:
        latest = conn.execute(select(audience_history).where(
            audience_history.c.audience_id == audience_id)
            .order_by(audience_history.c.day.desc()).limit(1)).first()
        conn.execute(update(audiences).where(audiences.c.id == audience_id).values(
            last_processed_on=latest.day, size=latest.size, base=latest.base,
            holdout_size=latest.holdout))

    def history(self, audience_id: int) -> list[dict]:
        with self._store.read() as conn:
            rows = conn.execute(select(audience_history)
                                .where(audience_history.c.audience_id == audience_id)
                                .order_by(audience_history.c.day))
            return [dict(row._mapping) for row in rows]

    def day(self, audience_id: int, day: date) -> dict | None:
        """The history row of one audience and day, if it was processed."""
        with self._store.read() as conn:
            row = conn.execute(select(audience_history).where(and_(
                audience_history.c.audience_id == audience_id,
                audience_history.c.day == day))).first()
            return dict(row._mapping) if row else None

    def previous_day(self, audience_id: int, before: date) -> dict | None:
        with self._store.read() as conn:
            row = conn.execute(select(audience_history).where(and_(
                audience_history.c.audience_id == audience_id, audience_history.c.day < before))
                .order_by(audience_history.c.day.desc()).limit(1)).first()
            return dict(row._mapping) if row else None

    def next_day(self, audience_id: int, after: date) -> dict | None:
        with self._store.read() as conn:
            row = conn.execute(select(audience_history).where(and_(
                audience_history.c.audience_id == audience_id, audience_history.c.day > after))
                .order_by(audience_history.c.day).limit(1)).first()
            return dict(row._mapping) if row else None

    def composition(self, audience_id: int, day: date) -> list[dict]:
        with self._store.read() as conn:
            rows = conn.execute(select(composition).where(and_(
                composition.c.audience_id == audience_id, composition.c.day == day))
                .order_by(composition.c.attribute, composition.c.position))
            return [dict(row._mapping) for row in rows]

    def membership_files(self) -> set[str]:
        with self._store.read() as conn:
            return set(conn.execute(select(audience_history.c.membership).distinct()).scalars())

    def runs(self, limit: int = 20) -> list[dict]:
        with self._store.read() as conn:
            rows = conn.execute(select(processing_runs).order_by(processing_runs.c.id.desc())
                                .limit(limit))
            return [dict(row._mapping) for row in rows]
