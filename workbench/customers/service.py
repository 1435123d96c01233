"""Customer data as a service: ingest and sample, with permissions and an ingest log."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .ingest import IngestReport, ingest, kind_lock

if TYPE_CHECKING:
    from ..home import Home
    from ..store.customers import CustomerDataRecords
    from ..users import User
    from .engine import Engine
    from .snapshot import Snapshots

# Profiles first: orphans of transactions and tags are counted against the stored profiles.
SAMPLE_ORDER = ("profiles", "appended", "transactions", "tags")


class CustomerData:
    def __init__(self, home: Home, user: User, engine: Engine, snapshots: Snapshots,
                 records: CustomerDataRecords,
                 active_audiences: Callable[[], list[dict]] = list):
        """``active_audiences``: rows (id, name, definition JSON) of the active audiences, whose
        rules an ingest must not break."""
        self._active_audiences = active_audiences
        self._home = home
        self._user = user
        self._engine = engine
        self._snapshots = snapshots
        self._records = records

    def ingest(self, kind: str, path: str | Path, *, strict: bool = False,
               schema: dict[str, str] | None = None) -> IngestReport:
        self._user.require("data.ingest")
        path = Path(path)
        with kind_lock(self._home, kind):
            with self._snapshots.pin() as snapshot:
                report, version = ingest(self._engine.conn, self._home, kind, path,
                                         snapshot=snapshot, strict=strict, schema=schema)
                # One commit makes the new version current and logs the ingest.
                self._records.record_version(
                    kind=kind, file=version.file, columns=version.columns, rows=version.rows,
                    choices=version.choices, ingest=dict(
                        source=str(path.absolute()), accepted=report.accepted,
                        rejected=report.rejected, orphans=report.orphans,
                        rejects_file=report.rejects_file, ingested_by=self._user.name))
            # Outside the pin: the version just superseded is no longer read by this job.
            self._snapshots.collect_garbage(kind)
        return report

    def sample(self, customers: int, seed: int = 42,
               until: date | None = None) -> dict[str, IngestReport]:
        """Generate a synthetic base (customers/sample.py) and ingest it like any other file."""
        from .sample import SAMPLE_UNTIL, write_sample

        self._user.require("data.ingest")
        with tempfile.TemporaryDirectory(dir=self._home.tmp_dir) as folder:
            files = write_sample(Path(folder), customers, seed, until or SAMPLE_UNTIL)
            return {kind: self.ingest(kind, files[kind]) for kind in SAMPLE_ORDER}

    def counts(self) -> dict[str, int]:
        """Rows of each kind in the current version (from the store: no query engine)."""
        current = self._records.current()
        return {kind: current[kind]["rows"] if kind in current else 0 for kind in SAMPLE_ORDER}
