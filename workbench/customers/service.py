"""Customer data as a service: ingest and sample, with permissions and an ingest log."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .ingest import IngestReport, ingest

if TYPE_CHECKING:
    from ..app import Workbench

# Profiles first: orphans of transactions and tags are counted against the stored profiles.
SAMPLE_ORDER = ("profiles", "appended", "transactions", "tags")


class CustomerData:
    def __init__(self, wb: Workbench):
        self._wb = wb

    def ingest(self, kind: str, path: str | Path, *, strict: bool = False,
               schema: dict[str, str] | None = None) -> IngestReport:
        wb = self._wb
        wb.user.require("data.ingest")
        report = ingest(wb.duck, wb.home, kind, Path(path), strict=strict, schema=schema)
        wb.store.record_ingest(kind=kind, source=str(Path(path).absolute()),
                               accepted=report.accepted, rejected=report.rejected,
                               orphans=report.orphans, rejects_file=report.rejects_file,
                               ingested_by=wb.user.name)
        return report

    def sample(self, customers: int, seed: int = 42,
               until: date | None = None) -> dict[str, IngestReport]:
        """Generate a synthetic base (customers/sample.py) and ingest it like any other file."""
        from .sample import SAMPLE_UNTIL, write_sample

        self._wb.user.require("data.ingest")
        with tempfile.TemporaryDirectory(dir=self._wb.home.tmp_dir) as folder:
            files = write_sample(Path(folder), customers, seed, until or SAMPLE_UNTIL)
            return {kind: self.ingest(kind, files[kind]) for kind in SAMPLE_ORDER}

    def counts(self) -> dict[str, int]:
        return {kind: self._wb.duck.execute(f"SELECT count(*) FROM {kind}").fetchone()[0]
                for kind in SAMPLE_ORDER}
