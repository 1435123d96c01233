"""The metadata store: SQLite in WAL mode by default, any SQLAlchemy URL (PostgreSQL) by setting.

Several processes use it at once (Voilà kernels, JupyterLab, papermill runs, the scheduler):
every write is a short transaction, SQLite waits for a busy lock instead of failing, and WAL lets
readers go on while one process writes.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import create_engine, event, insert, inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import Column, CreateColumn, CreateIndex, CreateTable, ExecutableDDLElement

from ..clock import Clock
from ..errors import Busy, Conflict, StoreError
from ..settings import hide_password
from . import schema

BUSY_TIMEOUT_MS = 30_000


class Store:
    """A thin wrapper over a SQLAlchemy engine; services run their queries through ``begin()``."""

    def __init__(self, engine: Engine, clock: Clock | None = None):
        self.engine = engine
        self.clock = clock or Clock()
        self._workbench_id: str | None = None

    def now(self):
        """Now (aware, UTC): what records stamp on what they write."""
        return self.clock.now()

    @contextmanager
    def begin(self):
        """A write transaction: on SQLite it takes the write lock at once (BEGIN IMMEDIATE), so
        two writers queue on busy_timeout instead of failing half-way with 'database is locked'."""
        with translated(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self):
        """A read transaction: on SQLite a plain deferred BEGIN, which never blocks in WAL mode."""
        with translated(), self.engine.execution_options(sqlite_begin="DEFERRED").begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()

    def workbench_id(self) -> str:
        """This workbench's id: 8 hex digits made once, when first asked (the first of two
        processes asking at once wins), the same for every process on this store."""
        if self._workbench_id:
            return self._workbench_id
        import uuid

        table = schema.workbench_meta
        try:
            with self.begin() as conn:
                if conn.execute(select(table.c.value).where(table.c.key == "id")).scalar() \
                        is None:
                    conn.execute(insert(table).values(key="id", value=uuid.uuid4().hex[:8]))
        except Conflict:  # another process made it a moment ago
            pass
        with self.read() as conn:
            self._workbench_id = conn.execute(
                select(table.c.value).where(table.c.key == "id")).scalar_one()
        return self._workbench_id

    def record_ingest(self, **values) -> int:
        values.setdefault("ingested_at", self.now())
        with self.begin() as conn:
            return conn.execute(insert(schema.ingests).values(**values)).inserted_primary_key[0]

    def ingests(self) -> list[dict]:
        with self.read() as conn:
            rows = conn.execute(select(schema.ingests).order_by(schema.ingests.c.id.desc()))
            return [dict(row._mapping) for row in rows]


@contextmanager
def translated():
    """Store errors as one line of ours, without the SQL and parameters SQLAlchemy appends."""
    try:
        yield
    except SQLAlchemyError as exc:
        text = str(getattr(exc, "orig", None) or exc)
        first = (text.strip().splitlines() or [""])[0]
        if "active and frozen" in text:
            raise Conflict("audience is active and frozen") from exc
        if "export is canceled" in text:
            raise Conflict("export is canceled; a canceled export never changes again") from exc
        if "UNIQUE constraint failed" in text or "duplicate key value" in text:
            kind = next((k for k in ("destination", "encryption") if f"{k}s" in text), "row")
            raise Conflict(f"a {kind} with that name exists already; choose another name") \
                from exc
        if "locked" in text or "busy" in text.lower():
            raise Busy("the metadata store is busy (another process holds its write lock "
                       "longer than 30 s); try again") from exc
        if "readonly" in text or "read-only" in text:
            raise StoreError("the metadata store is read-only (check the permissions of the "
                             "home and its workbench.db)") from exc
        raise StoreError(f"metadata store failed: {first}") from exc


def open_store(url: str, *, clock: Clock | None = None) -> Store:
    """The store at ``url`` (``Home.store_url``), migrated to the latest schema."""
    try:
        engine = create_engine(url)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "do_connect", _sqlite_busy_timeout)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        migrate(engine, clock or Clock())
    except ImportError as exc:  # e.g. postgresql:// without its driver installed
        raise StoreError(f"metadata store {hide_password(url)}: the database driver is not "
                         f"installed ({exc.name or exc}); install it in the workbench's "
                         "environment (for PostgreSQL: pip install 'psycopg[binary]')") from exc
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc.__class__.__name__
        # The first line only: SQLAlchemy appends the SQL and its parameters.
        first = (str(reason).strip().splitlines() or [""])[0]
        raise StoreError(f"metadata store {hide_password(url)} failed: {first}") from exc
    return Store(engine, clock)


def _sqlite_busy_timeout(_dialect, _record, _args, parameters: dict) -> None:
    # Read at each new connection, so a changed BUSY_TIMEOUT_MS holds for the next one.
    parameters["timeout"] = BUSY_TIMEOUT_MS / 1000  # sqlite3's busy timeout, in seconds


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # A fixed statement per mode: nothing from outside is put into SQL text.
    mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    conn.exec_driver_sql({"IMMEDIATE": "BEGIN IMMEDIATE", "DEFERRED": "BEGIN DEFERRED"}[mode])


def migrate(engine: Engine, clock: Clock) -> int:
    """Apply pending migration steps; safe when several processes open a new home at once.
    An up-to-date store is only read (a read-only home still opens for reading, and opening
    costs no write lock)."""
    latest = max(v for v, *_ in schema.MIGRATIONS)
    try:
        with engine.execution_options(sqlite_begin="DEFERRED").begin() as conn:
            # Every step, not only the latest: steps may land out of order (a 12 applied before
            # an 11 that was merged later), and the missing one must still be applied.
            if {v for v, *_ in schema.MIGRATIONS} <= set(
                    conn.execute(select(schema.schema_version.c.version)).scalars()):
                return latest
    except SQLAlchemyError:
        pass  # a new store: no schema_version table yet
    with engine.begin() as conn:
        conn.execute(CreateTable(schema.schema_version, if_not_exists=True))
        done = {row.version for row in conn.execute(select(schema.schema_version.c.version))}
    for version, tables, statements in schema.MIGRATIONS:
        if version in done:
            continue
        _add_columns(engine, version)
        with engine.begin() as conn:
            for table in tables:
                # IF NOT EXISTS: another process may be applying the same step right now.
                conn.execute(CreateTable(table, if_not_exists=True))
                for index in table.indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))
            for statement in statements.get(engine.dialect.name, []):
                conn.exec_driver_sql(statement)
        try:
            with engine.begin() as conn:
                conn.execute(insert(schema.schema_version)
                             .values(version=version, applied_at=clock.now()))
        except IntegrityError:
            pass  # the other process recorded it first
    return max((v for v, *_ in schema.MIGRATIONS), default=0)


def _add_columns(engine: Engine, version: int) -> None:
    """ALTER TABLE ... ADD COLUMN for the columns a step adds to tables of an older home (a new
    home created them with its tables)."""
    for step, table, name in schema.ADDED_COLUMNS:
        if step != version or name in {c["name"] for c in inspect(engine).get_columns(table.name)}:
            continue
        try:
            with engine.begin() as conn:
                conn.execute(AddColumn(table.c[name]))
        except SQLAlchemyError:
            # Another process added it a moment ago; anything else shows on the re-check.
            if name not in {c["name"] for c in inspect(engine).get_columns(table.name)}:
                raise


class AddColumn(ExecutableDDLElement):
    """ALTER TABLE … ADD COLUMN …, which SQLAlchemy Core has no construct for."""

    def __init__(self, column: Column):
        self.column = column


@compiles(AddColumn)
def _add_column(element: AddColumn, compiler, **_kw) -> str:
    table = compiler.preparer.format_table(element.column.table)
    return " ".join(("ALTER TABLE", table, "ADD COLUMN",
                     compiler.process(CreateColumn(element.column))))
