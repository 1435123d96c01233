"""A snapshot: one version of every kind of customer data, pinned for the length of one job.

Ingest never changes a file: it writes a new version (``data/customers/KIND/v-….parquet``) and
records it as current in the store in one commit. A job (an estimate, a members listing, one
processing run, one export run, one dashboard refresh) pins the current version of every kind
when it starts, holds a read lease on each file (files.py) and reads only those files to its
end, whatever is ingested meanwhile. Superseded versions are removed by the next ingest of their
kind once no job still reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import Busy, DataMissing
from ..files import Gone, lease, remove_unless_read
from .schema import KINDS, STORAGE_TYPES

if TYPE_CHECKING:
    from sqlglot import exp

    from ..home import Home
    from ..store.customers import CustomerDataRecords
    from .features import Tables


# A version superseded between reading the store and taking its lease: read the store again.
PIN_ATTEMPTS = 20


@dataclass(frozen=True)
class Version:
    kind: str
    id: int  # 0: never ingested
    file: Path | None
    columns: dict[str, str] = field(default_factory=dict)  # column -> our type name
    rows: int = 0
    choices: dict[str, list] = field(default_factory=dict)  # column -> most frequent values


@dataclass(frozen=True)
class Snapshot:
    versions: dict[str, Version]

    @property
    def key(self) -> tuple[int, ...]:
        """Identifies the data: equal keys, equal data (caches are keyed on it)."""
        return tuple(self.versions[kind].id for kind in KINDS)

    def file(self, kind: str) -> Path | None:
        return self.versions[kind].file

    def appended_types(self) -> dict[str, str]:
        """Custom attribute columns and their types, as stored."""
        return {c: t for c, t in self.versions["appended"].columns.items() if c != "customer_id"}

    def choices(self, kind: str, column: str) -> list | None:
        """The most frequent values of a column recorded at ingest (None: not recorded)."""
        return self.versions[kind].choices.get(column)

    def tables(self) -> Tables:
        """The snapshot's files as table expressions, for any engine (each reads a file table
        from where it sees the file); an empty table for a kind never ingested."""
        from ..query.sql import parquet
        from .features import Tables

        def source(kind: str) -> exp.Expression:
            path = self.file(kind)
            return empty_source(kind) if path is None else parquet(path)

        return Tables(profiles=source("profiles"), transactions=source("transactions"),
                      tags=source("tags"), appended=source("appended"),
                      appended_columns=tuple(self.appended_types()))


def empty_source(kind: str) -> exp.Select:
    """An empty table with a kind's contract columns (a kind never ingested)."""
    from sqlglot import exp

    return exp.select(*[
        exp.alias_(exp.cast(exp.null(), exp.DataType.build(STORAGE_TYPES[c.type], dialect="duckdb")),
                   c.name) for c in KINDS[kind].columns]).where(exp.false())


class Snapshots:
    """Pins snapshots and removes the versions no job reads any more."""

    def __init__(self, home: Home, records: CustomerDataRecords):
        self._home = home
        self._records = records

    @contextmanager
    def pin(self) -> Iterator[Snapshot]:
        for _ in range(PIN_ATTEMPTS):
            with ExitStack() as stack:
                try:
                    snapshot = self._lease(stack)
                except Gone as gone:
                    self._check_still_there(Path(str(gone)))
                    continue  # superseded and removed just now: the store has a newer one
                yield snapshot
                return
        raise Busy("customer data is being replaced faster than it can be read; try again")

    def _check_still_there(self, path: Path) -> None:
        """A file gone while the store still names it as current was not superseded: it was
        removed outside the workbench, and no retry brings it back."""
        for kind, row in self._records.current().items():
            if self._home.root / row["file"] == path:
                raise DataMissing(f"the current {kind} data file is missing ({path}); it was "
                                  f"removed outside the workbench: ingest {kind} again")

    def _lease(self, stack: ExitStack) -> Snapshot:
        current = self._records.current()
        versions = {}
        for kind in KINDS:
            row = current.get(kind)
            if row is None:
                versions[kind] = Version(kind, 0, None)
                continue
            path = self._home.root / row["file"]
            lease(stack, path)
            versions[kind] = Version(kind, row["id"], path, row["columns"], row["rows"],
                                     row["choices"])
        return Snapshot(versions)

    def collect_garbage(self, kind: str) -> list[Path]:
        """Remove files of ``kind`` that are not its current version and that no job reads:
        superseded versions, and files of an ingest killed before it recorded its version.
        The caller holds the kind's ingest lock, so no version is being written now."""
        folder = version_folder(self._home, kind)
        current = self._records.current().get(kind)
        keep = self._home.root / current["file"] if current else None
        removed = []
        for path in sorted(folder.glob("*.parquet")) + sorted(folder.glob(".*.tmp")):
            if path != keep and remove_unless_read(path):
                removed.append(path)
        return removed


def version_folder(home: Home, kind: str) -> Path:
    return home.customers_dir / kind
