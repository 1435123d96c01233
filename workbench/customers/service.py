"""Customer data as a service: ingest and sample, with permissions and an ingest log."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EngineError, IngestError, InvalidInput
from ..files import exclusive_lock, private_folder
from .ingest import IngestReport, ingest, kind_lock
from .schema import KINDS

if TYPE_CHECKING:
    from ..audit import AuditTrail
    from ..days import Calendar
    from ..home import Home
    from ..settings import Settings
    from ..store.customers import CustomerDataRecords
    from ..users import User
    from .snapshot import Snapshots

TypeChanges = Callable[[dict[str, str], dict[str, tuple[str, str]]], None]

# Profiles first: orphans of transactions and tags are counted against the stored profiles.
SAMPLE_ORDER = ("profiles", "appended", "transactions", "tags")


class CustomerData:
    def __init__(self, home: Home, user: User, settings: Settings, snapshots: Snapshots,
                 records: CustomerDataRecords, calendar: Calendar,
                 check_type_changes: TypeChanges | None = None, *, audit: AuditTrail):
        """``check_type_changes(stored, changes)``: raises when changing appended column types
        (``stored``: column -> type; ``changes``: column -> (old, new)) would break what uses
        them (the active audiences: the audiences side knows their rules); ``audit``: where
        each ingest is recorded."""
        self._audit = audit
        self._check_type_changes = check_type_changes
        self._home = home
        self._user = user
        self._settings = settings
        self._snapshots = snapshots
        self._records = records
        self._calendar = calendar

    def ingest(self, kind: str, path: str | Path, *, strict: bool = False,
               schema: dict[str, str] | None = None, encoding: str = "utf-8") -> IngestReport:
        """``encoding``: of a CSV file, one of schema.ENCODINGS."""
        self._user.require("data.ingest")
        if kind not in KINDS:  # before the lock: its file is named after the kind
            raise IngestError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
        path = Path(path)
        with kind_lock(self._home, kind):
            with self._snapshots.pin() as snapshot, _engine_errors():
                report, version = ingest(
                    self._home, self._settings, kind, path, snapshot=snapshot, strict=strict,
                    schema=schema, encoding=encoding, now=self._calendar.now(),
                    check_type_changes=self._check_type_changes and (
                        lambda changes: self._check_type_changes(snapshot.appended_types(),
                                                                 changes)))
                # One commit makes the new version current and logs the ingest.
                self._records.record_version(
                    kind=kind, file=version.file, columns=version.columns, rows=version.rows,
                    choices=version.choices, ingest=dict(
                        source=str(path.absolute()), accepted=report.accepted,
                        rejected=report.rejected, orphans=report.orphans,
                        rejects_file=report.rejects_file, ingested_by=self._user.name))
            # Outside the pin: the version just superseded is no longer read by this job.
            self._snapshots.collect_garbage(kind)
        self._audit.record("data.ingest", "data", changes={
            "kind": [kind], "file": [path.name], "accepted": [report.accepted],
            "rejected": [report.rejected]})
        return report

    def sample(self, customers: int, seed: int = 42,
               until: date | None = None) -> dict[str, IngestReport]:
        """Generate a synthetic base (customers/sample.py) whose events end on ``until``
        (default: yesterday in the workbench timezone, so that the demo follows the calendar;
        pin it for the same data on any day), and ingest it like any other file."""
        from .sample import BYTES_PER_CUSTOMER, EARLIEST_UNTIL, MAX_CUSTOMERS, write_sample

        self._user.require("data.ingest")
        if customers > MAX_CUSTOMERS:
            raise InvalidInput(f"--customers {customers:,}: a sample has at most "
                               f"{MAX_CUSTOMERS:,} customers")
        free = shutil.disk_usage(self._home.root).free
        if customers * BYTES_PER_CUSTOMER > free:
            raise InvalidInput(
                f"--customers {customers:,}: a sample that size needs about "
                f"{customers * BYTES_PER_CUSTOMER / 1e9:.1f} GB free in {self._home.root}, "
                f"which has {free / 1e9:.1f} GB; free space there or ask for fewer customers")
        until = self._calendar.day(until, what="--until")
        if until < EARLIEST_UNTIL:
            raise InvalidInput(f"--until {until}: the sample needs {EARLIEST_UNTIL} or later "
                               "(its customers are born up to 90 years before it, and birth "
                               "dates before 1900 are refused)")
        with self._sample_folder() as folder:
            files = write_sample(folder, customers, seed, until)
            return {kind: self.ingest(kind, files[kind]) for kind in SAMPLE_ORDER}

    @contextmanager
    def _sample_folder(self) -> Iterator[Path]:
        """``HOME/tmp/sample``, for one sample at a time (a lock file), emptied first: what is in
        it was left by a sample that was killed, and no later one would ever remove it."""
        tmp = private_folder(self._home.tmp_dir)
        with exclusive_lock(tmp / ".sample.lock"):
            folder = tmp / "sample"
            shutil.rmtree(folder, ignore_errors=True)
            try:
                yield private_folder(folder)
            finally:
                shutil.rmtree(folder, ignore_errors=True)

    def counts(self) -> dict[str, int]:
        """Rows of each kind in the current version (from the store: no query engine)."""
        current = self._records.current()
        return {kind: current[kind]["rows"] if kind in current else 0 for kind in SAMPLE_ORDER}


@contextmanager
def _engine_errors():
    """DuckDB errors of an ingest (a full disk, the memory limit) as one line of ours."""
    import duckdb

    from ..query.duckdb import describe

    try:
        yield
    except duckdb.Error as exc:
        raise EngineError(describe(exc)) from exc
