"""``workbench ingest KIND FILE``: check, stage, merge (SPEC 3).

All work happens inside DuckDB, streamed from the file: no row passes through pandas, so a file
of 20M transactions needs DuckDB's memory limit, not 20M Python objects.

1. The file is read as it is (CSV as text, Parquet with its own types). Malformed CSV lines are
   caught by DuckDB's reject store.
2. One pass builds a staged table: every column cast to its contract type, and a ``_reason``
   naming every check a row fails. Failed rows keep their original text for the rejects file.
3. Exact duplicate rows collapse to one (the same event twice is one event); rows that share a
   key but differ are all rejected: the file contradicts itself and we cannot know which is right.
4. Accepted rows are merged with the snapshot's version of the kind by key (upsert) into a NEW
   version file; the caller records it as current in the store (one commit) and removes old
   versions no job reads any more. A column absent from the file leaves the stored values of
   that column alone.
"""

from __future__ import annotations

import fcntl
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IngestError, RejectedRows
from ..files import make_private, private_folder
from ..sql import ident, lit
from .schema import (
    INFERENCE_ORDER,
    KINDS,
    STORAGE_TYPES,
    TEXT_PATTERNS,
    TYPE_HINTS,
    Column,
    Kind,
    appended_column_name,
    type_of_storage,
)

if TYPE_CHECKING:
    import duckdb

    from ..home import Home
    from .snapshot import Snapshot

# Values of a text column kept as its known choices (warnings, pick lists); more: incomplete.
MAX_CHOICES = 1000
# Text columns whose values are worth knowing (names, e-mails and ids are not pick lists).
CHOICE_COLUMNS = {"profiles": ("gender", "home_city", "home_state"), "tags": ("tag",)}


@dataclass
class IngestReport:
    kind: str
    source: str
    accepted: int = 0
    rejected: int = 0
    orphans: int = 0
    new: int = 0
    updated: int = 0
    duplicates: int = 0
    rejects_file: str | None = None
    column_types: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        return f"accepted {self.accepted}, rejected {self.rejected}, orphans {self.orphans}"

    def details(self) -> list[str]:
        duplicates = ("1 exact duplicate row" if self.duplicates == 1 else
                      f"{self.duplicates} exact duplicate rows")
        lines = [f"{self.new} new, {self.updated} updated"
                 + (f", {duplicates} counted once" if self.duplicates else "")]
        if self.rejects_file:
            lines.append(f"rejected rows and reasons: {self.rejects_file}")
        if self.kind == "appended":
            lines.append("columns: " + ", ".join(f"appended.{n} ({t})"
                                                 for n, t in self.column_types.items()))
        return lines


@dataclass
class NewVersion:
    """A version file written by an ingest, to be recorded as current."""

    file: str  # relative to the home
    columns: dict[str, str]  # column -> our type name, in file order
    rows: int
    choices: dict[str, dict]  # text column -> {"values": [...], "complete": bool}


def ingest(conn: duckdb.DuckDBPyConnection, home: Home, kind_name: str, path: Path, *,
           snapshot: Snapshot, strict: bool = False,
           schema: dict[str, str] | None = None) -> tuple[IngestReport, NewVersion]:
    """Check the file and write the merged new version of its kind. The caller holds the kind's
    lock (``kind_lock``) and has pinned ``snapshot``, whose version this merges into."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise IngestError(f"unknown kind {kind_name!r}; use one of {', '.join(KINDS)}")
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{path} is empty; expected a header row and data rows")
    report = IngestReport(kind.name, str(path))
    try:
        malformed = _load_source(conn, path)
        columns = _plan_columns(conn, snapshot, kind, schema or {})
        report.column_types = {c.name: c.type for c in columns if c.name != "customer_id"}
        _stage(conn, kind, columns)
        report.duplicates = _collapse_duplicates(conn, kind, columns)
        report.rejected = _count(conn, "SELECT count(*) FROM staged WHERE _reason IS NOT NULL")
        report.rejected += len(malformed)
        report.accepted = _count(conn, "SELECT count(*) FROM accepted")
        if report.rejected:
            report.rejects_file = str(_write_rejects(conn, home, kind, path, columns, malformed))
        if strict and report.rejected:
            raise RejectedRows(f"{report.summary()}: nothing stored (--strict); reasons in "
                               f"{report.rejects_file}")
        if kind.has_customer and kind.name != "profiles":
            profiles = _stored(snapshot, "profiles")
            report.orphans = _count(conn, "SELECT count(*) FROM accepted a WHERE NOT EXISTS "
                                          f"(SELECT 1 FROM {profiles} p "
                                          "WHERE p.customer_id = a.customer_id)")
        report.new, report.updated, version = _merge(conn, home, kind, columns, snapshot)
    finally:
        for table in ("staged", "accepted", "source"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    return report, version


def _stored(snapshot: Snapshot, kind: str) -> str:
    """The snapshot's version of a kind as a FROM item."""
    from .snapshot import empty_source

    path = snapshot.file(kind)
    return f"read_parquet({lit(str(path))})" if path else f"({empty_source(kind)})"


@contextmanager
def kind_lock(home: Home, kind: str):
    """Two ingests of one kind at once would each merge into the old file and lose the other's
    rows; they queue on a lock file instead."""
    home.customers_dir.mkdir(parents=True, exist_ok=True)
    with open(home.customers_dir / f".{kind}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Identifies a row of ``source`` (to fetch its original text again): CSV rows are a table's rows.
ROW_OF_SOURCE = "source.rowid"


def _load_source(conn: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[int, str, str]]:
    """Define ``source`` over the file; return malformed CSV lines (line, error, text)."""
    import duckdb

    location = lit(str(path))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            # A table too, not a view: a Parquet file is read once here, then scanned in memory.
            conn.execute(f"CREATE OR REPLACE TEMP TABLE source AS "
                         f"SELECT * FROM read_parquet({location})")
            return []
        # Materialised once: the reject store is only filled while the file is actually read.
        # It lives on the connection: last file's malformed lines must not count for this one.
        conn.execute("DROP TABLE IF EXISTS reject_errors")
        conn.execute("DROP TABLE IF EXISTS reject_scans")
        conn.execute(f"CREATE OR REPLACE TEMP TABLE source AS SELECT * FROM read_csv({location}, "
                     "header = true, all_varchar = true, store_rejects = true)")
        return conn.execute("SELECT line, error_message, csv_line FROM reject_errors "
                            "ORDER BY line").fetchall()
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot be read as "
                          f"{'Parquet' if path.suffix.lower() in ('.parquet', '.pq') else 'CSV'}: "
                          f"{str(exc).splitlines()[0]}") from exc


def _source_types(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return {name: type_ for name, type_, *_ in conn.execute("DESCRIBE source").fetchall()}


@dataclass(frozen=True)
class _Planned(Column):
    source: str = ""  # the column's name in the file
    source_type: str = "VARCHAR"


def _plan_columns(conn, snapshot: Snapshot, kind: Kind,
                  schema: dict[str, str]) -> list[_Planned]:
    """Match the file's header to the contract: which stored column each file column feeds."""
    source_types = _source_types(conn)
    missing = [name for name in kind.required if name not in source_types]
    if missing:
        raise IngestError(f"{kind.name} file lacks required column(s) {', '.join(missing)}; "
                          f"columns are {', '.join(c.name for c in kind.columns)}")
    if not kind.open_columns:
        unknown = [name for name in source_types if kind.column(name) is None]
        if unknown:
            raise IngestError(
                f"{kind.name} file has unknown column(s) {', '.join(unknown)}; allowed: "
                f"{', '.join(c.name for c in kind.columns)} (custom attributes go in "
                "`workbench ingest appended`)")
        # In the file's order, so that the rejects file reads like the file it came from.
        return [_Planned(c.name, c.type, c.required, name, type_)
                for name, type_ in source_types.items() for c in [kind.column(name)]]
    return _plan_appended(conn, snapshot.appended_types(), source_types, schema)


def _plan_appended(conn, stored: dict[str, str], source_types: dict[str, str],
                   schema: dict[str, str]) -> list[_Planned]:
    planned = [_Planned("customer_id", "text", True, "customer_id", source_types["customer_id"])]
    seen: dict[str, str] = {}
    for source, source_type in source_types.items():
        if source == "customer_id":
            continue
        name = appended_column_name(source)
        if not name or name == "customer_id" or name in seen:
            raise IngestError(f"appended column {source!r} becomes {name!r}, which is "
                              + ("taken by column " + repr(seen[name]) if name in seen
                                 else "not a usable attribute name"))
        seen[name] = source
        type_ = schema.get(name) or stored.get(name) or _infer_type(conn, source, source_type)
        planned.append(_Planned(name, type_, False, source, source_type))
    if len(planned) == 1:
        raise IngestError("appended file has only customer_id; add at least one attribute column")
    unknown = set(schema) - set(seen)
    if unknown:
        raise IngestError(f"--schema names column(s) not in the file: {', '.join(sorted(unknown))}")
    return planned


def _infer_type(conn, source: str, source_type: str) -> str:
    """The narrowest type that every value of the column fits, judged on the whole file (a
    sample could guess integer and then reject row 900,000)."""
    if source_type != "VARCHAR":
        return type_of_storage(source_type) or "text"
    value = f"NULLIF(trim({ident(source)}), '')"
    checks = ", ".join(f"bool_and({value} IS NULL OR {_text_fits(value, t, inferring=True)})"
                       for t in INFERENCE_ORDER)
    fits = conn.execute(f"SELECT count({value}), {checks} FROM source").fetchone()
    if not fits[0]:
        return "text"  # an all-empty column says nothing about its type
    return next((t for t, ok in zip(INFERENCE_ORDER, fits[1:], strict=True) if ok), "text")


def _text_fits(text: str, type_: str, *, inferring: bool = False) -> str:
    """SQL: the (non-NULL) text is a value of the type, nothing rounded, cut or overflowing."""
    fits = f"TRY_CAST({text} AS {STORAGE_TYPES[type_]}) IS NOT NULL"
    pattern = TEXT_PATTERNS.get(type_) if (type_ != "date" or inferring) else None
    return f"(regexp_matches({text}, {lit(pattern)}) AND {fits})" if pattern else fits


def _decimal_places(duck_type: str) -> int | None:
    """Scale of a DECIMAL(p,s) type; None for other types."""
    if not duck_type.startswith("DECIMAL"):
        return None
    return int(duck_type.rstrip(")").split(",")[-1])


def _cast(column: _Planned) -> tuple[str, str | None]:
    """SQL for the stored value, and for the condition under which the row fails the type."""
    raw = ident(column.source)
    target = STORAGE_TYPES[column.type]
    if column.source_type == "VARCHAR":
        text = f"NULLIF(trim({raw}), '')"
        if column.type == "text":
            value = f"lower({text})" if column.name == "gender" else text
            return value, None
        return f"TRY_CAST({text} AS {target})", f"{text} IS NOT NULL AND NOT {_text_fits(text, column.type)}"
    if column.type == "text":
        value = f"CAST({raw} AS VARCHAR)"
        return (f"lower({value})" if column.name == "gender" else value), None
    failed = f"{raw} IS NOT NULL AND TRY_CAST({raw} AS {target}) IS NULL"
    # Typed sources: a number must not lose digits on the way in.
    places = _decimal_places(column.source_type)
    fractional = column.source_type in ("DOUBLE", "FLOAT") or (places or 0) > 0
    if column.type == "integer" and fractional:
        failed += f" OR {raw} IS NOT NULL AND round({raw}, 0) <> {raw}"
    if column.type == "decimal" and (column.source_type in ("DOUBLE", "FLOAT")
                                     or (places or 0) > 2):
        failed += f" OR {raw} IS NOT NULL AND round({raw}, 2) <> {raw}"
    return f"TRY_CAST({raw} AS {target})", failed


def _original_text(columns: list[_Planned]) -> str:
    """The file's own text of a row, packed as one struct (for the rejects file)."""
    return "struct_pack(" + ", ".join(
        f"{ident('_raw_' + c.name)} := CAST(source.{ident(c.source)} AS VARCHAR)"
        for c in columns) + ")"


def _stage(conn, kind: Kind, columns: list[_Planned]) -> None:
    typed, reasons = [], []
    for column in columns:
        value, failed = _cast(column)
        typed.append(f"{value} AS {ident(column.name)}")
        if failed:
            hint = TYPE_HINTS[column.type]
            reasons.append(f"CASE WHEN {failed} THEN {lit(column.source + ' ')} || "
                           f"'\"' || CAST({ident(column.source)} AS VARCHAR) || "
                           f"{lit(chr(34) + ' is not ' + hint)} END")
        if column.required:
            reasons.append(f"CASE WHEN {value} IS NULL AND NOT ({failed or 'false'}) "
                           f"THEN {lit(column.source + ' is empty (required)')} END")
    reason = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL"
    names = ", ".join(ident(c.name) for c in columns)
    # The original text is packed for every row but kept only for rejected ones.
    conn.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {names}, _reason, _row, "
                 "CASE WHEN _reason IS NOT NULL THEN _original END AS _raw "
                 f"FROM (SELECT {', '.join(typed)}, {reason} AS _reason, {ROW_OF_SOURCE} AS _row, "
                 f"{_original_text(columns)} AS _original FROM source)")


def _collapse_duplicates(conn, kind: Kind, columns: list[_Planned]) -> int:
    """Reject rows that share a key but differ, then build ``accepted`` from the distinct
    valid rows; return how many exact duplicate rows were counted once."""
    names = ", ".join(ident(c.name) for c in columns)
    keys = ", ".join(ident(k) for k in kind.key)
    valid, distinct_keys = conn.execute(
        f"SELECT count(*), count(DISTINCT ({keys})) FROM staged WHERE _reason IS NULL").fetchone()
    if valid == distinct_keys:  # the usual case: every key once, nothing to collapse
        conn.execute(f"CREATE OR REPLACE TEMP TABLE accepted AS "
                     f"SELECT {names} FROM staged WHERE _reason IS NULL")
        return 0
    conn.execute(f"CREATE OR REPLACE TEMP TABLE conflicts AS SELECT {keys} FROM "
                 f"(SELECT DISTINCT {names} FROM staged WHERE _reason IS NULL) "
                 f"GROUP BY {keys} HAVING count(*) > 1")
    if _count(conn, "SELECT count(*) FROM conflicts"):
        key_text = " || ', ' || ".join(f"{lit(k + ' ')} || CAST(s.{ident(k)} AS VARCHAR)"
                                       for k in kind.key)
        matches = " AND ".join(f"s.{ident(k)} = c.{ident(k)}" for k in kind.key)
        conn.execute(f"UPDATE staged s SET _reason = {key_text} || "
                     "' appears in more than one row of this file with different values' "
                     f"FROM conflicts c WHERE s._reason IS NULL AND {matches}")
        # These rows passed every check, so their text was not kept: fetch it again.
        conn.execute(f"UPDATE staged s SET _raw = o._original FROM (SELECT {ROW_OF_SOURCE} AS "
                     f"_row, {_original_text(columns)} AS _original FROM source) o "
                     "WHERE s._row = o._row AND s._reason IS NOT NULL AND s._raw IS NULL")
    conn.execute("DROP TABLE conflicts")
    conn.execute(f"CREATE OR REPLACE TEMP TABLE accepted AS "
                 f"SELECT DISTINCT {names} FROM staged WHERE _reason IS NULL")
    valid = _count(conn, "SELECT count(*) FROM staged WHERE _reason IS NULL")
    return valid - _count(conn, "SELECT count(*) FROM accepted")


def _write_rejects(conn, home: Home, kind: Kind, path: Path, columns: list[_Planned],
                   malformed: list[tuple[int, str, str]]) -> Path:
    private_folder(home.rejects_dir)
    # Unique even for two files of one name ingested within the same second.
    stamp = f"{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    target = home.rejects_dir / f"{kind.name}-{stamp}-{path.stem}.csv"
    originals = ", ".join(f"_raw.{ident('_raw_' + c.name)} AS {ident(c.source)}" for c in columns)
    nulls = ", ".join(f"NULL AS {ident(c.source)}" for c in columns)
    conn.execute("CREATE OR REPLACE TEMP TABLE malformed (line BIGINT, error VARCHAR, text VARCHAR)")
    if malformed:
        conn.executemany("INSERT INTO malformed VALUES (?, ?, ?)", malformed)
    conn.execute(
        f"COPY (SELECT {originals}, _reason, NULL AS _malformed_line FROM staged "
        f"WHERE _reason IS NOT NULL "
        f"UNION ALL SELECT {nulls}, 'line ' || line || ': malformed CSV: ' || error, text "
        f"FROM malformed) TO {lit(str(target))} (HEADER, DELIMITER ',')")
    return make_private(target)


def _merge(conn, home: Home, kind: Kind, columns: list[_Planned],
           snapshot: Snapshot) -> tuple[int, int, NewVersion]:
    """Upsert ``accepted`` into the snapshot's version as a new version file; return (new keys,
    updated keys, the version)."""
    stored_path = snapshot.file(kind.name)
    stored = {name: STORAGE_TYPES[type_] for name, type_ in
              snapshot.versions[kind.name].columns.items()}
    in_file = {c.name: c for c in columns}
    if stored_path is None:
        select = ", ".join(_stored_expr(c.name, in_file, kind) for c in _all_columns(kind, in_file))
        source = f"SELECT {select} FROM accepted"
        new, updated = _count(conn, "SELECT count(*) FROM accepted"), 0
    else:
        names = list(stored) + [n for n in in_file if n not in stored]
        keys = ", ".join(ident(k) for k in kind.key)
        pick = []
        for name in names:
            if name in kind.key:
                pick.append(ident(name))
            elif name in in_file and name in stored:
                type_ = STORAGE_TYPES[in_file[name].type]
                pick.append(f"CASE WHEN n._new THEN n.{ident(name)} "
                            f"ELSE CAST(o.{ident(name)} AS {type_}) END AS {ident(name)}")
            elif name in in_file:
                pick.append(f"n.{ident(name)}")
            else:
                pick.append(f"o.{ident(name)}")
        stored_rel = f"read_parquet({lit(str(stored_path))})"
        source = (f"SELECT {', '.join(pick)} FROM {stored_rel} o FULL OUTER JOIN "
                  f"(SELECT *, true AS _new FROM accepted) n USING ({keys})")
        new = _count(conn, f"SELECT count(*) FROM accepted n WHERE NOT EXISTS (SELECT 1 FROM "
                           f"{stored_rel} o WHERE " + " AND ".join(
                               f"o.{ident(k)} = n.{ident(k)}" for k in kind.key) + ")")
        updated = _count(conn, "SELECT count(*) FROM accepted") - new
    folder = private_folder(home.customers_dir / kind.name)
    # Never a file that exists: a version is written once and only ever read after that.
    target = folder / f"v-{datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
    conn.execute(f"COPY ({source}) TO {lit(str(target))} (FORMAT parquet, COMPRESSION zstd)")
    make_private(target)
    return new, updated, _describe_version(conn, home, kind, target)


def _describe_version(conn, home: Home, kind: Kind, target: Path) -> NewVersion:
    """What a snapshot needs to know of a version without opening it: its columns and types,
    its row count and the known values of its pick-list columns."""
    location = f"read_parquet({lit(str(target))})"
    columns = {name: type_of_storage(type_) for name, type_, *_ in
               conn.execute(f"DESCRIBE SELECT * FROM {location}").fetchall()}
    rows = _count(conn, f"SELECT count(*) FROM {location}")
    wanted = CHOICE_COLUMNS.get(kind.name, ())
    if kind.open_columns:
        wanted = [c for c, t in columns.items() if t == "text" and c != "customer_id"]
    choices = {}
    for column in wanted:
        values = [row[0] for row in conn.execute(
            f"SELECT {ident(column)} FROM {location} WHERE {ident(column)} IS NOT NULL "
            f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {MAX_CHOICES + 1}").fetchall()]
        choices[column] = {"values": values[:MAX_CHOICES], "complete": len(values) <= MAX_CHOICES}
    return NewVersion(str(target.relative_to(home.root)), columns, rows, choices)


def _all_columns(kind: Kind, in_file: dict[str, _Planned]) -> list[Column]:
    if kind.open_columns:
        return list(in_file.values())
    return list(kind.columns)


def _stored_expr(name: str, in_file: dict[str, _Planned], kind: Kind) -> str:
    if name in in_file:
        return ident(name)
    column = kind.column(name)
    return f"CAST(NULL AS {STORAGE_TYPES[column.type]}) AS {ident(name)}"


def _count(conn, query: str) -> int:
    return conn.execute(query).fetchone()[0]
