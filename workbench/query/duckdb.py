"""DuckDB in this process: the default engine (``[engine] kind = "duckdb"``), and ``connect``,
a local DuckDB connection for what always runs on this machine (ingest writes the Parquet
versions with one of its own).

Every process opens its own in-memory connection and reads the Parquet files of a pinned
snapshot: a DuckDB database file opened for writing locks out every other process (TOOLCHAIN),
and the home is used by several at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..errors import EngineError
from .engine import Engine

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb
    import pandas as pd
    from sqlglot import exp

    from ..home import Home
    from ..settings import Settings
    from .csv import CsvDialect


class DuckDBEngine(Engine):
    """DuckDB in this process: the default, and the choice for one machine."""

    kind = "duckdb"

    def __init__(self, home: Home, settings: Settings):
        super().__init__(home, settings)
        self._conn: duckdb.DuckDBPyConnection | None = None
        # One connection answers one statement at a time: two threads of a kernel (a page's
        # overlapping callbacks) would otherwise read each other's results.
        self._lock = threading.RLock()

    @property
    def description(self) -> str:
        return "DuckDB"

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """This engine's connection, opened on first use; analysts may query with it (the
        tables it materialized are there)."""
        if self._conn is None:
            self._conn = connect(self._home, self._settings)
        return self._conn

    def rows(self, query: exp.Expression, parameters: dict | None = None) -> list[tuple]:
        return self._run(query, parameters, lambda cursor: cursor.fetchall())

    def dicts(self, query: exp.Expression, parameters: dict | None = None) -> list[dict]:
        """Rows as dicts keyed by the result's column names."""
        def fetch(cursor):
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._run(query, parameters, fetch)

    def batches(self, query: exp.Expression, size: int) -> Iterator[list[dict]]:
        """Rows as dicts, ``size`` at a time (memory stays flat for any result)."""
        with _translated():
            cursor = self.conn.execute(query.sql("duckdb"))
            names = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(size):
                yield [dict(zip(names, row, strict=True)) for row in rows]

    def frame(self, query: exp.Expression, parameters: dict | None = None) -> pd.DataFrame:
        return self._run(query, parameters, lambda cursor: cursor.df())

    def materialize(self, name: str, query: exp.Expression) -> None:
        from sqlglot import exp

        from .sql import name as quoted

        self._run(exp.Create(this=exp.Table(this=quoted(name)), kind="TABLE", replace=True,
                             properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                             expression=query))

    def forget(self, name: str) -> None:
        from sqlglot import exp

        from .sql import name as quoted

        self._run(exp.Drop(tables=[exp.Table(this=quoted(name))], kind="TABLE", exists=True))

    def relation(self, name: str) -> duckdb.DuckDBPyRelation:
        return self.conn.table(name)

    def write_parquet(self, query: exp.Expression, path: Path) -> None:
        from ..files import make_private

        self._run(_copy(query, path, "parquet"))
        make_private(path)

    def write_csv(self, query: exp.Expression, path: Path, options: CsvDialect) -> int:
        """DuckDB's COPY writes the file; the header line of labels in place of its own."""
        new_line = "\\r\\n" if options.new_line == "\r\n" else "\\n"
        copy = _copy(query, path, "csv", HEADER=options.header is not None,
                     DELIMITER=options.delimiter, QUOTE='"', ESCAPE='"', NEW_LINE=new_line)
        # COPY answers with the number of rows it wrote: the query runs once.
        [(rows,)] = self._run(copy, None, lambda cursor: cursor.fetchall())
        if options.header is not None:
            _replace_header(path, options)
        return rows

    @contextmanager
    def streaming(self) -> Iterator[None]:
        """For a query whose rows all leave the process (an export file): DuckDB works under
        ``[engine] streaming_memory_limit`` and spills the rest to HOME/tmp, and may reorder
        rows that have no ORDER BY. Without this, DuckDB takes as much memory as the query
        could use, up to ``memory_limit``.

        The hash joins keep their sides as written (the right one is the table held), as the
        export's query is written for (exports/rows.py): left to itself, DuckDB holds the base's
        profiles and streams the members, and at 1M members spills 3x more (measured, see
        benchmarks/results/export.md)."""
        self._limit(self._settings.engine.streaming_memory_limit, preserve_order=False,
                    sides_as_written=True)
        try:
            yield
        finally:
            if self._conn is not None:  # as connect() left it
                self._limit(self._settings.engine.memory_limit, preserve_order=True,
                            sides_as_written=False)

    def _limit(self, memory: str, preserve_order: bool, sides_as_written: bool) -> None:
        from sqlglot import exp

        from .sql import string

        # Lowering the limit fails if DuckDB holds more than it already: out of memory, too.
        self._run(_set("memory_limit", string(memory)))
        self._run(_set("preserve_insertion_order", exp.Boolean(this=preserve_order)))
        self._run(_set("disabled_optimizers",
                       string("build_side_probe_side" if sides_as_written else "")))

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

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self.closings += 1  # the tables materialized in it are gone with it

    def _run(self, statement: exp.Expression, parameters: dict | None = None,
             fetch: Callable = lambda cursor: None):
        with self._lock, _translated():
            return fetch(self.conn.execute(statement.sql("duckdb"), parameters))


@contextmanager
def _translated():
    import duckdb

    try:
        yield
    except duckdb.InterruptException:
        # Ctrl-C or a stop signal while DuckDB ran: the job is being stopped, not failing
        # (a failure would be retried audience by audience, or taken for bad data).
        raise KeyboardInterrupt from None
    except duckdb.Error as exc:
        raise EngineError(describe(exc), _out_of_memory(exc)) from exc


def _copy(query: exp.Expression, path: Path, file_format: str, **options) -> exp.Copy:
    """COPY (query) TO 'path' (FORMAT file_format, options): values as SQLGlot literals."""
    from sqlglot import exp

    from .sql import string

    params = [exp.CopyParameter(this=exp.Var(this="FORMAT"), expression=exp.Var(this=file_format))]
    params += [exp.CopyParameter(this=exp.Var(this=key), expression=exp.Boolean(this=value)
                                 if isinstance(value, bool) else string(value))
               for key, value in options.items()]
    return exp.Copy(this=exp.Subquery(this=query), kind=False, files=[string(str(path))],
                    params=params)


def _set(setting: str, value: exp.Expression) -> exp.Set:
    from sqlglot import exp

    return exp.Set(expressions=[exp.SetItem(this=exp.EQ(this=exp.column(setting),
                                                        expression=value))])


def _replace_header(path: Path, options: CsvDialect) -> None:
    """Swap DuckDB's header line (the query's column names) for the labels, quoted by the same
    rules; the file is rewritten through a small buffer, never read whole."""
    temporary = path.with_name(path.name + ".h")
    with open(path, "rb") as source, open(temporary, "wb") as out:
        source.readline()
        out.write(options.line(options.header).encode("utf-8"))
        while chunk := source.read(1 << 20):
            out.write(chunk)
    temporary.replace(path)


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


def connect(home: Home, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with this home's limits and timezone, on this machine's
    files whatever the engine (the caller closes it)."""
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
