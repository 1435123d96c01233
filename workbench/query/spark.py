"""Apache Spark through pyspark: the scale-out engine (``[engine] kind = "spark"``, docs/scale.md).

The same compiled trees as DuckDB, rendered in SQLGlot's Spark dialect, over the same snapshot
files: Spark reads them at ``[engine] home_url`` (where the cluster sees this home's folder; by
default its local path, right for ``local[N]``). A file table (``read_parquet('…')`` in a tree)
becomes Spark's ``parquet.`url```. Results come back as DuckDB's do: aware
timestamps in the workbench timezone, Decimals, lists; a frame's decimals as floats.

One Spark application per process, started on the first query (the JVM costs seconds); each
engine (each opened workbench) has its own Spark session in it, with the home's timezone and
its own temporary views. With Spark Connect (``master = "sc://…"``) each engine opens a session
of its own on the server instead, and stops it when closed. Ingest stays on DuckDB in this
process (``duckdb.connect``): it writes the Parquet versions that Spark reads. Export files are
written here too, from rows streamed to this process (``Engine.write_csv``).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
import traceback
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EngineError
from .engine import Engine

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from sqlglot import exp

    from ..home import Home
    from ..settings import EngineSettings, Settings

# pyspark warns on import that it does not know pandas 3 yet; nothing the workbench uses of it
# (Arrow tables, Rows) depends on pandas.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                        category=FutureWarning)

_ROOT: SparkSession | None = None
WITH = "with_"  # the key of a query's WITH clause in SQLGlot's trees
_STARTING = threading.Lock()


class SparkEngine(Engine):
    kind = "spark"

    @property
    def description(self) -> str:
        return f"Spark ({self._settings.engine.master})"

    def __init__(self, home: Home, settings: Settings):
        super().__init__(home, settings)
        self._session: SparkSession | None = None
        self._kept: dict[str, DataFrame] = {}  # materialized tables, freed when replaced

    @property
    def session(self) -> SparkSession:
        if self._session is None:
            engine = self._settings.engine
            self._session = self._run(lambda: remote_session(engine) if engine.remote
                                      else start(engine, self._home.tmp_dir).newSession())
            self._session.conf.set("spark.sql.session.timeZone", self._settings.timezone)
        return self._session

    # -- rendering ------------------------------------------------------------------------------

    def url(self, path: str | Path) -> str:
        """Where Spark finds a file of this home."""
        base = self._settings.engine.home_url
        if not base:
            return str(path)
        relative = Path(path).resolve().relative_to(self._home.root.resolve())
        return base.rstrip("/") + "/" + relative.as_posix()

    def sql(self, query: exp.Expression) -> str:
        """``query`` in Spark's dialect, its file tables at their URLs."""
        return self._tree(query).sql("spark")

    def _tree(self, query: exp.Expression) -> exp.Expression:
        """``query`` as a tree ready for Spark: file tables at their URLs, CTE names unique."""
        from sqlglot import exp

        def file_table(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Table) and isinstance(node.this, exp.ReadParquet):
                table = exp.Table(this=exp.to_identifier(self.url(node.this.expressions[0].name),
                                                         quoted=True),
                                  db=exp.to_identifier("parquet"))
                if node.args.get("alias"):
                    table.set("alias", node.args["alias"].copy())
                return table
            return node

        # Quintile scores without a window over all purchasers, which Spark runs as one task
        # (customers/features.py: the same numbers as ntile's).
        from ..customers.features import distributed_scores

        return _unique_ctes(distributed_scores(query.transform(file_table)))

    @contextmanager
    def _frame(self, query: exp.Expression,
               parameters: dict | None = None) -> Iterator[DataFrame]:
        """The query as a DataFrame, for as long as the caller reads it (its kept CTEs are
        freed afterwards)."""
        tree = self._tree(query)
        kept: list[tuple[str, DataFrame]] = []
        try:
            self._keep_ctes(tree, parameters, kept)
            yield self.session.sql(tree.sql("spark"), args=parameters or None)
        finally:
            for view, frame in kept:
                try:
                    self.session.catalog.dropTempView(view)
                    frame.unpersist()
                except Exception:  # noqa: BLE001 - freeing; a failure is already raised
                    pass

    def _keep_ctes(self, tree: exp.Expression, parameters: dict | None,
                   kept: list[tuple[str, DataFrame]]) -> None:
        """Spark inlines every CTE wherever it is read. The CTEs the plan keeps (marked ``AS
        MATERIALIZED`` by the compiler, audiences/plan.py: the levels of nested audiences and
        the features under them, a table read more than twice) are each computed once first,
        in order, and read as a kept table; ``kept`` gets them. The others stay inline."""
        from sqlglot import exp

        with_ = tree.args.get(WITH)
        if with_ is None:
            return
        inline: list[exp.CTE] = []
        for cte in list(with_.expressions):
            if not cte.args.get("materialized"):
                inline.append(cte)
                continue
            body = cte.this.copy()
            read = {t.name for t in body.find_all(exp.Table) if not t.db}
            needs = [c.copy() for c in inline if c.alias in read]  # what it reads of those
            if needs:
                own = body.args.get(WITH)
                body.set(WITH, exp.With(expressions=needs + (own.expressions if own else [])))
            view = f"wb_kept_{uuid.uuid4().hex[:12]}"
            frame = self.session.sql(body.sql("spark"),
                                     args=parameters or None).localCheckpoint(eager=True)
            frame.createOrReplaceTempView(view)
            kept.append((view, frame))
            for table in tree.find_all(exp.Table):
                if table.name == cte.alias and not table.db:
                    table.set("this", exp.to_identifier(view))
            cte.pop()
        if not with_.expressions:
            with_.pop()

    # -- the primitives -------------------------------------------------------------------------

    def rows(self, query: exp.Expression, parameters: dict | None = None) -> list[tuple]:
        def fetch():
            with self._frame(query, parameters) as frame:
                return [self._values(row) for row in frame.collect()]

        return self._run(fetch)

    def dicts(self, query: exp.Expression, parameters: dict | None = None) -> list[dict]:
        def fetch():
            with self._frame(query, parameters) as frame:
                return [dict(zip(frame.columns, self._values(row), strict=True))
                        for row in frame.collect()]

        return self._run(fetch)

    def batches(self, query: exp.Expression, size: int) -> Iterator[list[dict]]:
        with ExitStack() as stack:
            frame = self._run(lambda: stack.enter_context(self._frame(query)))
            names = frame.columns
            rows = frame.toLocalIterator()  # one partition at a time reaches this process
            while True:
                try:
                    batch = [dict(zip(names, self._values(row), strict=True))
                             for row in itertools.islice(rows, size)]
                except Exception as exc:  # noqa: BLE001 - as _run translates them
                    _raise_translated(exc)
                if not batch:
                    return
                yield batch

    def frame(self, query: exp.Expression, parameters: dict | None = None) -> pd.DataFrame:
        def fetch():
            with self._frame(query, parameters) as frame:
                return _pandas(frame)

        return self._run(fetch)

    def materialize(self, name: str, query: exp.Expression) -> None:
        def keep():
            # Computed now and kept by the executors; later queries read it, not its lineage.
            with self._frame(query) as computed:
                frame = computed.localCheckpoint(eager=True)
            frame.createOrReplaceTempView(name)
            return frame

        frame = self._run(keep)
        earlier = self._kept.pop(name, None)
        self._kept[name] = frame
        if earlier is not None:
            earlier.unpersist()

    def forget(self, name: str) -> None:
        frame = self._kept.pop(name, None)
        if frame is not None:
            self._run(lambda: self.session.catalog.dropTempView(name))
            frame.unpersist()

    def relation(self, name: str) -> DataFrame:
        return self.session.table(name)

    def write_parquet(self, query: exp.Expression, path: Path) -> None:
        """Spark writes a folder of part files: one partition makes one file, moved to
        ``path``. The folder must be this machine's too (``home_url`` on a shared
        filesystem)."""
        from ..files import make_private

        folder = path.with_name(f".{path.name}.spark")

        def write():
            with self._frame(query) as frame:
                frame.coalesce(1).write.mode("overwrite").parquet(self.url(folder))

        shutil.rmtree(folder, ignore_errors=True)
        try:
            self._run(write)
            parts = sorted(folder.glob("part-*.parquet"))
            if len(parts) != 1:
                raise EngineError(f"Spark wrote {len(parts)} files for {path.name}, not one; is "
                                  "[engine] home_url this home's folder as the cluster sees it?")
            os.replace(parts[0], path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        make_private(path)

    def close(self) -> None:
        for frame in self._kept.values():
            try:
                frame.unpersist()
            except Exception:  # noqa: BLE001 - closing: the application may be gone already
                pass
        self._kept.clear()
        if self._session is not None and self._settings.engine.remote:
            try:  # frees the server's session, and the client's channel and threads
                self._session.stop()
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
        self._session = None

    # -- values and errors ----------------------------------------------------------------------

    def _values(self, row) -> tuple:
        return tuple(self._value(v) for v in row)

    def _value(self, value):
        if isinstance(value, datetime) and value.tzinfo is None:
            # pyspark gives a TIMESTAMP as a naive datetime in this machine's local time
            return value.astimezone(self._settings.zone)
        if isinstance(value, list):
            return [self._value(v) for v in value]
        return value

    def _run(self, work):
        try:
            return work()
        except Exception as exc:  # noqa: BLE001 - narrowed by _raise_translated
            _raise_translated(exc)


def _raise_translated(exc: Exception):
    """Raise a Spark error as one EngineError line; anything else as it was."""
    if isinstance(exc, EngineError) or not _from_spark(exc):
        raise exc
    raise EngineError(describe(exc), out_of_memory="OutOfMemory" in str(exc)) from exc


def _unique_ctes(tree: exp.Expression) -> exp.Expression:
    """Give every nested CTE a name of its own. Spark's dialect lifts nested WITH clauses to the
    top, where two subqueries' ``features`` (an audience rule's members query beside its
    parent's) would collide. Deepest first, so that a reference renamed is always to the
    nearest CTE of that name, as it was resolved before."""
    from sqlglot import exp

    nested = [w for w in tree.find_all(exp.With) if w.parent is not tree]
    taken = {cte.alias for cte in tree.find_all(exp.CTE)}
    for number, with_ in enumerate(sorted(nested, key=lambda w: -w.depth), start=1):
        owner = with_.parent
        for cte in with_.expressions:
            old, new = cte.alias, f"{cte.alias}_{number}"
            while new in taken:
                new += "_"
            taken.add(new)
            for table in owner.find_all(exp.Table):
                if table.name == old and not table.args.get("db") and not table.args.get(
                        "catalog"):
                    table.set("this", exp.to_identifier(new))
            cte.set("alias", exp.TableAlias(this=exp.to_identifier(new)))
    return tree


def _from_spark(exc: Exception) -> bool:
    module = type(exc).__module__
    if module.startswith(("pyspark", "py4j")) or "JAVA_GATEWAY" in str(exc):
        return True
    # py4j's socket to a JVM that died (killed by the kernel, out of memory)
    return isinstance(exc, ConnectionError) and any(
        "py4j" in frame.filename for frame in traceback.extract_tb(exc.__traceback__))


def describe(exc: Exception) -> str:
    """One line for a Spark error: its condition and first line, never the plan or the SQL."""
    condition = getattr(exc, "getCondition", lambda: None)() or ""
    text = str(getattr(exc, "getMessage", lambda: "")() or exc).strip()
    lines = [line for line in text.splitlines() if line.strip()] or [""]
    first = lines[0]
    if first.startswith("An error occurred while calling") and len(lines) > 1:
        # py4j's first line names only the JVM call; the Java exception's own line says what
        # happened (an executor lost, a stage aborted), without its class name
        first = re.sub(r"^:?\s*([\w$]+\.)+[\w$]+:\s*", "", lines[1].strip())
    if "No space left on device" in text:
        return "Spark ran out of disk space (spark.local.dir)"
    if condition == "JAVA_GATEWAY_EXITED":
        return ("Spark could not start: its Java process exited (what it printed is above; is a "
                "Java runtime installed, and are [engine] master and [engine.spark] right?)")
    if isinstance(exc, ConnectionError | EOFError) or "Answer from Java side is empty" in text:
        return ("Spark's Java process is gone (out of memory? raise spark.driver.memory in "
                "[engine.spark]); Spark starts again only in a new process: run the command "
                "again, or restart the kernel")
    if first.startswith(f"[{condition}]"):
        first = first[len(condition) + 2:].strip()
    first = re.sub(r"\s*SQLSTATE: \w+\.?$", "", first)
    return f"Spark: {condition + ': ' if condition else ''}{first}"[:500]


def start(settings: EngineSettings, tmp: Path) -> SparkSession:
    """This process's Spark application, started once."""
    global _ROOT
    with _STARTING:
        if _ROOT is not None and _ROOT.sparkContext._jsc is not None:
            running = _ROOT.sparkContext.master
            if running != settings.master:
                # One SparkContext per JVM, and so per process: answering on another master
                # than the home names would be silent and wrong.
                raise EngineError(f"this process already runs Spark on {running}; a home on "
                                  f"[engine] master = {settings.master!r} needs a new process "
                                  "(run the command again, or restart the kernel)")
            return _ROOT
        from ..files import private_folder

        SparkSession = _pyspark()
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        quiet = Path(__file__).with_name("spark-log4j2.properties")
        # Spark's scratch (shuffles, spills) and its warehouse folder (never used; Spark makes
        # it in the working directory otherwise) live in the home's tmp, the owner's only; no
        # JVM performance file in /tmp either.
        scratch = private_folder(private_folder(tmp) / "spark")
        builder = (SparkSession.builder.appName("audience-workbench").master(settings.master)
                   .config("spark.local.dir", str(scratch))
                   .config("spark.sql.warehouse.dir", (scratch / "warehouse").as_uri())
                   .config("spark.driver.extraJavaOptions",
                           f"-Dlog4j2.configurationFile={quiet.as_uri()} -XX:-UsePerfData"))
        for key, value in {**DEFAULTS, **settings.spark}.items():
            builder = builder.config(key, value)
        _ROOT = builder.getOrCreate()
        return _ROOT


def stop_application() -> None:
    """Stop this process's Spark application (tests move from one master to another; every
    engine's session in it ends too)."""
    global _ROOT
    with _STARTING:
        if _ROOT is not None:
            _ROOT.stop()
            _ROOT = None


def remote_session(settings: EngineSettings) -> SparkSession:
    """A session of its own on a Spark Connect server (the server's settings are its own)."""
    import socket
    from urllib.parse import urlsplit

    # The client retries an unreachable server for a quarter of an hour, deaf to Ctrl-C: ask
    # once, briefly, first. Only the host and port are shown (the URL may carry a token).
    where = urlsplit(settings.master.split(";", 1)[0])
    host, port = where.hostname or "localhost", where.port or 15002
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise EngineError(f"cannot reach the Spark Connect server at {host}:{port} "
                          f"([engine] master): {exc.strerror or exc}") from None
    builder = _pyspark().builder.remote(settings.master)
    for key, value in settings.spark.items():
        builder = builder.config(key, value)
    return builder.create()


def _pyspark():
    try:
        from pyspark.logger import PySparkLogger
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("[engine] kind = \"spark\" needs pyspark in this environment: "
                          "pip install -e '.[spark]' (and a Java runtime)") from None
    # pyspark logs every SQL error, with its SQL and a stack trace, on stderr; the user
    # gets the error as one line (EngineError) instead.
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True
    return SparkSession


# Spark settings the workbench starts with (``[engine.spark]`` adds or overrides any).
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",  # it would draw into CLI output
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.memory": "1g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def _pandas(frame: DataFrame) -> pd.DataFrame:
    """As DuckDB's ``.df()`` gives it: decimals as floats, timestamps aware."""
    import pyarrow as pa

    table = frame.toArrow()
    columns = []
    for column in table.columns:
        if pa.types.is_decimal(column.type):
            column = column.cast(pa.float64())
        columns.append(column)
    return pa.table(columns, names=table.column_names).to_pandas()
