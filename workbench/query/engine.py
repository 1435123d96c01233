"""The query engine: what runs SQLGlot trees over a snapshot's Parquet files.

``Engine`` is what the rest of the workbench uses. Queries arrive as SQLGlot trees, never as
SQL text: each engine renders them in its own dialect. Results come back as the same Python
values from every engine, and errors as one line without SQL.

Engines sit behind a registry (``ENGINES``, as papermill's engines do), imported on first use,
so that DuckDB users never load pyspark: ``open_engine`` builds the one ``[engine] kind``
names. A new engine is a subclass of ``Engine`` in this package, one line in ``ENGINES``, and
its kind among those ``[engine] kind`` allows (settings.py, which refuses any other when the
home is opened: the settings sit below this layer and do not import it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import SettingsError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from sqlglot import exp

    from ..home import Home
    from ..settings import Settings
    from .csv import CsvDialect

# Engines by ``[engine] kind``: "module:class", imported when chosen.
ENGINES = {
    "duckdb": "workbench.query.duckdb:DuckDBEngine",
    "spark": "workbench.query.spark:SparkEngine",
}


def open_engine(home: Home, settings: Settings) -> Engine:
    """The engine ``[engine] kind`` names; it starts on its first query."""
    import importlib

    kind = settings.engine.kind
    if kind not in ENGINES:
        raise SettingsError(f"[engine] kind = {kind!r}: use one of {', '.join(ENGINES)}")
    module, _, name = ENGINES[kind].partition(":")
    return getattr(importlib.import_module(module), name)(home, settings)


class Engine:
    """Runs queries over snapshot files. Subclasses implement the primitives below."""

    kind = ""

    def __init__(self, home: Home, settings: Settings):
        self._home = home
        self._settings = settings
        # Counts the engine's sessions (connections) closed: the tables ``materialize`` kept
        # belong to one session, and the next one, after ``close``, has none of them.
        self.closings = 0

    @property
    def description(self) -> str:
        """What runs the queries, for reports and audit notebooks."""
        return self.kind

    def rows(self, query: exp.Expression, parameters: dict | None = None) -> list[tuple]:
        raise NotImplementedError

    def dicts(self, query: exp.Expression, parameters: dict | None = None) -> list[dict]:
        """Rows as dicts keyed by the result's column names."""
        raise NotImplementedError

    def batches(self, query: exp.Expression, size: int) -> Iterator[list[dict]]:
        """Rows as dicts, ``size`` at a time (memory stays flat for any result)."""
        raise NotImplementedError

    def frame(self, query: exp.Expression, parameters: dict | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def materialize(self, name: str, query: exp.Expression) -> None:
        """Compute ``query`` once and keep it as the table ``name`` for this engine's later
        queries (replacing an earlier one of that name)."""
        raise NotImplementedError

    def forget(self, name: str) -> None:
        """Drop the table ``materialize`` kept as ``name`` (none: nothing happens)."""
        raise NotImplementedError

    def relation(self, name: str):
        """A materialized table as the engine's own DataFrame (DuckDB relation, Spark
        DataFrame), for analysts."""
        raise NotImplementedError

    def write_parquet(self, query: exp.Expression, path: Path) -> None:
        """The rows of ``query`` as one Parquet file at ``path`` (private to the owner)."""
        raise NotImplementedError

    def write_csv(self, query: exp.Expression, path: Path, options: CsvDialect) -> int:
        """The rows of ``query`` as a CSV file at ``path``, each value as DuckDB's COPY writes
        it; the number of rows. Here the rows are streamed to this process, which writes the
        file (an engine that writes local files itself does better)."""
        from .csv import BATCH_ROWS, write_rows

        return write_rows((list(row.values()) for batch in self.batches(query, BATCH_ROWS)
                           for row in batch), path, options)

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """For a query whose rows all leave the process (an export file)."""
        yield

    def streamed(self, work: Callable[[], object]):
        """``work()`` as a streaming job (``streaming``)."""
        with self.streaming():
            return work()

    def close(self) -> None:
        """Free what the engine holds (its connection or session)."""
