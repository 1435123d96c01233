"""The query engine: what runs the compiled SQLGlot trees over a snapshot's Parquet files.

``Engine`` is what the rest of the workbench uses; ``Workbench.engine`` builds the one the
settings name (``[engine] kind``): DuckDB in this process (the default, this module), or Apache
Spark (spark.py). Queries arrive as SQLGlot trees, or as SQL text in DuckDB's dialect that each
engine renders for itself; results come back as the same Python values from both, and errors as
one line without SQL.

With DuckDB, every process opens its own in-memory connection and reads the Parquet files of a
pinned snapshot: a DuckDB database file opened for writing locks out every other process
(TOOLCHAIN), and the home is used by several at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import EngineError
from ..sql import ident, lit
from .snapshot import Snapshot, empty_source

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pandas as pd
    from sqlglot import exp

    from ..home import Home
    from ..settings import Settings
    from .features import Tables


class Engine:
    """Runs queries over snapshot files. Subclasses implement the primitives below."""

    kind = ""
    # Whether ``rows("COPY … TO file")`` writes a local file (DuckDB's COPY); other engines
    # hand their rows to the workbench, which writes the file.
    copies_files = False

    @property
    def description(self) -> str:
        """What runs the queries, for reports and audit notebooks."""
        return self.kind

    def __init__(self, home: Home, settings: Settings):
        self._home = home
        self._settings = settings
        self._conn: duckdb.DuckDBPyConnection | None = None
        # Called before every query: tests use it to change the data between the steps of a job.
        self.before_query: Callable[[], None] | None = None

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection in this process, on this machine's files, whatever the engine:
        ingest writes the Parquet versions with it, and analysts may query with it."""
        if self._conn is None:
            self._conn = connect(self._home, self._settings)
        return self._conn

    def tables(self, snapshot: Snapshot) -> Tables:
        """The snapshot's files as table expressions (an empty table for a kind never ingested)."""
        import sqlglot
        from sqlglot import exp

        from .features import Tables

        def source(kind: str) -> exp.Expression:
            path = snapshot.file(kind)
            if path is None:
                return sqlglot.parse_one(empty_source(kind), read="duckdb")
            return exp.Table(this=exp.ReadParquet(expressions=[exp.Literal.string(str(path))]))

        return Tables(profiles=source("profiles"), transactions=source("transactions"),
                      tags=source("tags"), appended=source("appended"),
                      appended_columns=tuple(snapshot.appended_types()))

    def rows(self, query: exp.Expression | str, parameters: dict | None = None) -> list[tuple]:
        raise NotImplementedError

    def dicts(self, query: exp.Expression | str, parameters: dict | None = None) -> list[dict]:
        """Rows as dicts keyed by the result's column names."""
        raise NotImplementedError

    def batches(self, query: exp.Expression | str, size: int) -> Iterator[list[dict]]:
        """Rows as dicts, ``size`` at a time (memory stays flat for any result)."""
        raise NotImplementedError

    def frame(self, query: exp.Expression | str, parameters: dict | None = None) -> pd.DataFrame:
        raise NotImplementedError

    def materialize(self, name: str, query: exp.Expression | str) -> None:
        """Compute ``query`` once and keep it as the table ``name`` for this engine's later
        queries (replacing an earlier one of that name)."""
        raise NotImplementedError

    def relation(self, name: str):
        """A materialized table as the engine's own DataFrame (DuckDB relation, Spark
        DataFrame), for analysts."""
        raise NotImplementedError

    def write_parquet(self, query: exp.Expression | str, path: Path) -> None:
        """The rows of ``query`` as one Parquet file at ``path`` (private to the owner)."""
        raise NotImplementedError

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """For a query whose rows all leave the process (an export file)."""
        yield

    def streamed(self, work: Callable[[], object]):
        """``work()`` as a streaming job (``streaming``)."""
        with self.streaming():
            return work()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class DuckDBEngine(Engine):
    """DuckDB in this process: the default, and the choice for one machine."""

    kind = "duckdb"
    copies_files = True

    @property
    def description(self) -> str:
        return "DuckDB"

    def rows(self, query: exp.Expression | str, parameters: dict | None = None) -> list[tuple]:
        return self._run(lambda: self.conn.execute(_text(query), parameters).fetchall())

    def dicts(self, query: exp.Expression | str, parameters: dict | None = None) -> list[dict]:
        """Rows as dicts keyed by the result's column names."""
        def fetch():
            cursor = self.conn.execute(_text(query), parameters)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._run(fetch)

    def batches(self, query: exp.Expression | str, size: int) -> Iterator[list[dict]]:
        """Rows as dicts, ``size`` at a time (memory stays flat for any result)."""
        import duckdb

        if self.before_query:
            self.before_query()
        try:
            cursor = self.conn.execute(_text(query))
            names = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(size):
                yield [dict(zip(names, row, strict=True)) for row in rows]
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None
        except duckdb.Error as exc:
            raise EngineError(describe(exc), _out_of_memory(exc)) from exc

    def frame(self, query: exp.Expression | str, parameters: dict | None = None) -> pd.DataFrame:
        return self._run(lambda: self.conn.execute(_text(query), parameters).df())

    def execute(self, statement: str, parameters: dict | None = None) -> None:
        self._run(lambda: self.conn.execute(statement, parameters))

    def materialize(self, name: str, query: exp.Expression | str) -> None:
        self.execute(f"CREATE OR REPLACE TEMP TABLE {ident(name)} AS {_text(query)}")

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.conn.sql(f"SELECT * FROM {ident(name)}")

    def write_parquet(self, query: exp.Expression | str, path: Path) -> None:
        from ..files import make_private

        self.execute(f"COPY ({_text(query)}) TO {lit(str(path))} (FORMAT parquet)")
        make_private(path)

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """For a query whose rows all leave the process (an export file): DuckDB works under
        ``[engine] streaming_memory_limit`` and spills the rest to HOME/tmp, and may reorder
        rows that have no ORDER BY. Without this, DuckDB takes as much memory as the query
        could use, up to ``memory_limit``."""
        self._limit(self._settings.engine.streaming_memory_limit, preserve_order=False)
        try:
            yield
        finally:
            if self._conn is not None:  # as connect() left it
                self._limit(self._settings.engine.memory_limit, preserve_order=True)

    def _limit(self, memory: str, preserve_order: bool) -> None:
        # Lowering the limit fails if DuckDB holds more than it already: out of memory, too.
        self._run(lambda: self.conn.execute(f"SET memory_limit = {lit(memory)}"))
        self.conn.execute(f"SET preserve_insertion_order = {str(preserve_order).lower()}")

    def streamed(self, work: Callable[[], object]):
        """``work()`` under ``streaming()``; if DuckDB runs out of memory there (it sometimes
        does instead of spilling), once more under the full ``memory_limit``: a tighter limit
        must never be why an export fails."""
        try:
            with self.streaming():
                return work()
        except EngineError as exc:
            if not exc.out_of_memory:
                raise
        return work()

    def _run(self, work):
        import duckdb

        if self.before_query:
            self.before_query()
        try:
            return work()
        except duckdb.InterruptException:
            # Ctrl-C or a stop signal while DuckDB ran: the job is being stopped, not failing
            # (a failure would be retried audience by audience, or taken for bad data).
            raise KeyboardInterrupt from None
        except duckdb.Error as exc:
            raise EngineError(describe(exc), _out_of_memory(exc)) from exc



def describe(exc: Exception) -> str:
    """One line for a DuckDB error: its kind and first line, never the SQL it ran."""
    first = (str(exc).strip().splitlines() or [""])[0]
    kind = exc.__class__.__name__.removesuffix("Exception")
    if "No space left on device" in str(exc):
        return "the query engine ran out of disk space (HOME/tmp and the data folder)"
    if kind == "OutOfMemory":
        return (f"the query engine ran out of memory ({first}); raise [engine] memory_limit "
                "in workbench.toml or free disk space for spilling in HOME/tmp")
    return f"query engine: {kind}: {first}"


def _out_of_memory(exc: Exception) -> bool:
    return exc.__class__.__name__ == "OutOfMemoryException"


def _text(query: exp.Expression | str) -> str:
    return query if isinstance(query, str) else query.sql("duckdb")


def connect(home: Home, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with this home's limits and timezone."""
    import duckdb

    config = {
        "memory_limit": settings.engine.memory_limit,
        "temp_directory": str(home.tmp_dir),
    }
    if settings.engine.threads:
        config["threads"] = settings.engine.threads
    conn = duckdb.connect(":memory:", config=config)
    # After connecting: TimeZone lives in the icu extension, which loads on first use.
    conn.execute("SET TimeZone = $tz", {"tz": settings.timezone})
    conn.execute("SET enable_progress_bar = false")  # it would print into CLI output
    # Versions never change once written: their footers can be cached for the kernel's life.
    conn.execute("SET parquet_metadata_cache = true")
    return conn
