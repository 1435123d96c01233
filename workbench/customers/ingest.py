"""``workbench ingest KIND FILE``: check, stage, merge (SPEC 3).

All work happens inside DuckDB, streamed from the file: no row passes through pandas, so a file
of 20M transactions needs DuckDB's memory limit, not 20M Python objects.

1. The file is read as it is (CSV as text, Parquet with its own types), by name and never as a
   glob. A CSV file is first streamed once through a decoder: a file not in its encoding is
   refused as a whole. Malformed and over-long CSV lines are caught by DuckDB's reject store.
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

import errno
import functools
import json
import re
import shutil
import uuid
from collections.abc import Callable
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp

from ..errors import EngineError, IngestError, RejectedRows
from ..files import exclusive_lock, make_private, private_folder
from ..query import sql
from ..query.duckdb import connect
from .schema import (
    EARLIEST_DAY,
    ENCODINGS,
    INFERENCE_ORDER,
    KINDS,
    LATEST_DAY,
    MAX_UTC_OFFSET_HOURS,
    PATTERNS_WHEN_INFERRING,
    RANGE_HINTS,
    STORAGE_TYPES,
    TEXT_PATTERNS,
    TYPE_HINTS,
    Column,
    Kind,
    appended_column_name,
    type_of_storage,
)
from .textfile import (
    BYTE_EXACT,
    DUCKDB_LINE_CUT,
    LONGEST_LINE,
    MAX_LINE_BYTES,
    UNSEEN,
    Looks,
    check_text,
    is_gzip,
    is_parquet,
    line_at,
    look_at_bytes,
    naming,
    not_in_encoding,
    shown,
    whole_record,
    without_lf,
)

if TYPE_CHECKING:
    import duckdb

    from ..home import Home
    from ..settings import Settings
    from .snapshot import Snapshot

# Values of a text column kept as its known choices (warnings, pick lists); more: incomplete.
MAX_CHOICES = 1000
# Text columns whose values are worth knowing (names, e-mails and ids are not pick lists).
CHOICE_COLUMNS = {"profiles": ("gender", "home_city", "home_state"), "tags": ("tag",)}

NUMBER_TYPES = frozenset({"integer", "decimal", "double"})

# A check of a value: (SQL condition, never NULL, true when the value fails; what it is not).
Check = tuple[exp.Expression, str]
# Called with {column: (stored type, new type)} before an ingest changes appended types.
TypeChangeCheck = Callable[[dict[str, tuple[str, str]]], None]


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


def ingest(home: Home, settings: Settings, kind_name: str, path: Path, *, snapshot: Snapshot,
           strict: bool = False, schema: dict[str, str] | None = None, encoding: str = "utf-8",
           check_type_changes: TypeChangeCheck | None = None,
           now: datetime) -> tuple[IngestReport, NewVersion]:
    """Check the file and write the merged new version of its kind. The caller holds the kind's
    lock (``kind_lock``) and has pinned ``snapshot``, whose version this merges into; ``now``
    stamps the names of the files written (the workbench's clock).
    ``check_type_changes`` may refuse a change of appended column types (it raises).
    The work runs in a DuckDB connection of its own (this home's limits and timezone), closed
    at the end: whatever engine runs queries, ingest writes files on this machine."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise IngestError(f"unknown kind {kind_name!r}; use one of {', '.join(KINDS)}")
    if encoding not in ENCODINGS:
        raise IngestError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    path = Path(path)
    if path.is_dir():
        raise IngestError(f"{shown(path)} is a folder; give a CSV or Parquet file")
    if not path.is_file():
        raise IngestError(f"{shown(path)}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{shown(path)} is empty; expected a header row and data rows")
    report = IngestReport(kind.name, str(path))
    import duckdb

    try:
        scratch = _scratch(home, kind.name)
        try:
            with closing(connect(home, settings)) as conn:
                version = _check_and_merge(conn, home, kind, path, report, scratch,
                                           snapshot=snapshot, strict=strict, schema=schema or {},
                                           encoding=encoding,
                                           check_type_changes=check_type_changes, now=now)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise EngineError(_disk_full(home, kind, exc.filename)) from exc
    except duckdb.Error as exc:
        if "No space left" not in str(exc):
            raise
        raise EngineError(_disk_full(home, kind, str(exc))) from exc
    return report, version


def _disk_full(home: Home, kind: Kind, where: str | None) -> str:
    """One line for a full disk: the folder that could not be written (the one DuckDB or the
    system named, else the two an ingest writes in), that nothing was stored, what to do."""
    named = re.search(r"(/[^\"' :]+)", where or "")
    folder = Path(named.group(1)).parent if named else None
    folders = [home.customers_dir / kind.name, home.tmp_dir]
    if folder is None or not any(folder == f or f in folder.parents for f in folders):
        shown = " or ".join(str(f) for f in folders)
    else:
        shown = str(next(f for f in folders if folder == f or f in folder.parents))
    return (f"the disk is full (No space left on device) in {shown}: nothing was stored, the "
            f"current {kind.name} are unchanged; free space there and run the ingest again")


def _check_and_merge(conn, home: Home, kind: Kind, path: Path, report: IngestReport,
                     scratch: Path, *, snapshot: Snapshot, strict: bool, schema: dict[str, str],
                     encoding: str, check_type_changes: TypeChangeCheck | None,
                     now: datetime) -> NewVersion:
    """The steps of ``ingest`` in ``conn``; fills ``report``."""
    if not kind.open_columns:
        version = _streamed(conn, home, kind, path, report, scratch, snapshot=snapshot,
                            strict=strict, encoding=encoding, now=now)
        if version is not None:
            return version
        # The file repeats a key: collapsing and judging duplicates is done on staged tables.
        _forget_streamed(conn, scratch)
    malformed, looks = _load_source(conn, path, scratch, encoding)
    columns = _plan_columns(conn, snapshot, kind, schema)
    changes = _type_changes(snapshot, kind, columns)
    if changes and check_type_changes:
        check_type_changes(changes)
    report.column_types = {c.name: c.type for c in columns if c.name != "customer_id"}
    _stage(conn, kind, columns, now.date(), looks)
    report.duplicates = _collapse_duplicates(conn, kind, columns)
    if changes:
        _check_conversions(conn, snapshot, kind, changes)
    report.rejected = _count(conn, "staged", _rejected()) + len(malformed)
    report.accepted = _count(conn, "accepted")
    if report.rejected:
        report.rejects_file = str(_write_rejects(conn, home, kind, path, columns, malformed, now))
    if strict and report.rejected:
        raise RejectedRows(f"{report.summary()}: nothing stored (--strict); reasons in "
                           f"{report.rejects_file}")
    if kind.has_customer and kind.name != "profiles":
        report.orphans = _orphans(conn, snapshot)
    report.new, report.updated, version = _merge(conn, home, kind, columns, snapshot, now)
    return version


# A row that fails a check stops the one-pass write with this error (see _streamed).
REJECTED_MARK = "workbench-ingest: a row is rejected"


def _streamed(conn, home: Home, kind: Kind, path: Path, report: IngestReport, scratch: Path, *,
              snapshot: Snapshot, strict: bool, encoding: str,
              now: datetime) -> NewVersion | None:
    """The ingest of a file that repeats no key, streamed from the file: nothing is held, so
    memory stays flat as files grow. None when the file repeats a key (the caller then takes
    the staged path, which collapses exact duplicates and rejects contradictions).

    1. One query reads the file and writes its rows, checked and cast, to a candidate file
       beside the versions. In the usual file every row passes; a row that fails stops the
       query (an error, cheaper than keeping every row's reason), and then one query writes
       the rows that pass and a narrow one keeps the rejected rows with their reasons.
    2. One aggregate over the candidate's key: every key once, or the staged path.
    3. A first version is the candidate itself (renamed); a later one merges it (``_merge``).
    Malformed CSV lines, and bytes not in the encoding, come from DuckDB's reject store."""
    _, looks = _load_source(conn, path, scratch, encoding, streamed=True)
    columns = _plan_columns(conn, snapshot, kind, {})
    report.column_types = {c.name: c.type for c in columns if c.name != "customer_id"}
    typed, reason, failed = _checked(kind, columns, now.date(), looks)
    checked = exp.select(*typed, exp.alias_(failed, "_failed")).from_("source").subquery("checked")
    failing = exp.column("_failed")
    in_file = {c.name: c for c in columns}
    layout = [_stored_expr(c.name, in_file, kind) for c in _all_columns(kind, in_file)]
    stop = exp.Anonymous(this="error", expressions=[exp.Literal.string(REJECTED_MARK)])
    first = kind.columns[0].name  # required: always in the file
    guarded = [exp.alias_(exp.Case().when(failing, stop).else_(sql.column(first)), first,
                          quoted=True) if i == 0 else e for i, e in enumerate(layout)]
    folder = private_folder(home.customers_dir / kind.name)
    # Hidden and named .tmp: a killed ingest's candidate is removed by collect_garbage.
    candidate = folder / f".ingest-{uuid.uuid4().hex[:8]}.tmp"
    staged = exp.select(reason, exp.alias_(_original_text(columns), "_raw")).from_(
        "source").where(failed)
    try:
        with _sorting(conn, kind):
            written = _scan(conn, path, scratch, _copy(_ordered(
                exp.select(*guarded).from_(checked), kind), candidate, **_PARQUET))
        if written is None:  # a row is rejected
            _fresh_rejects(conn)
            with _sorting(conn, kind):
                written = _scan(conn, path, scratch, _copy(_ordered(
                    exp.select(*layout).from_(checked).where(_not(failing)), kind), candidate,
                    **_PARQUET))
            malformed = [] if is_parquet(path) else _malformed(conn, path, encoding)
            _scan(conn, path, scratch, _temp_table("staged", staged))
        else:
            malformed = [] if is_parquet(path) else _malformed(conn, path, encoding)
            _run(conn, _temp_table("staged", staged.limit(0)))
        keys = [sql.column(k) for k in kind.key]
        with _memory_at_most(conn, AGGREGATE_MEMORY):
            distinct = _count(conn, exp.select(*keys).from_(sql.parquet(candidate)).group_by(
                *keys).subquery())
        if distinct != written:
            return None
        _run(conn, _view("accepted", exp.select(*_names(columns)).from_(sql.parquet(candidate))))
        report.rejected = _count(conn, "staged") + len(malformed)
        report.accepted = written
        if report.rejected:
            report.rejects_file = str(_write_rejects(conn, home, kind, path, columns, malformed,
                                                     now))
        if strict and report.rejected:
            raise RejectedRows(f"{report.summary()}: nothing stored (--strict); reasons in "
                               f"{report.rejects_file}")
        if kind.has_customer and kind.name != "profiles":
            with _memory_at_most(conn, AGGREGATE_MEMORY):
                report.orphans = _orphans(conn, snapshot)
        if snapshot.file(kind.name) is not None:
            report.new, report.updated, version = _merge(conn, home, kind, columns, snapshot, now)
            return version
        target = _version_target(folder, now)
        candidate.rename(target)
        report.new, report.updated = written, 0
        return _describe_version(conn, home, kind, make_private(target))
    finally:
        candidate.unlink(missing_ok=True)


# The key check and the orphan count hold one entry per key (per customer): 100M keys would fill
# any memory limit. Under this one DuckDB spills them to HOME/tmp instead, and an ingest's memory
# stays flat as files grow (benchmarks/results/ingest.md).
AGGREGATE_MEMORY = 1 << 30
_SIZE_UNITS = {"bytes": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
               "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


@contextmanager
def _memory_at_most(conn, limit: int):
    """DuckDB's memory limit lowered to ``limit`` bytes (never raised) for the block."""
    [(setting,)] = _run(conn, exp.select(exp.column("value")).from_("duckdb_settings()").where(
        exp.EQ(this=exp.column("name"), expression=exp.Literal.string("memory_limit")))).fetchall()
    number, _, unit = setting.partition(" ")
    current = float(number) * _SIZE_UNITS.get(unit, 1)
    if current <= limit:
        yield
        return
    _run(conn, _memory_limit(limit))
    try:
        yield
    finally:
        _run(conn, _memory_limit(int(current)))


def _memory_limit(size: int) -> exp.Set:
    """SET memory_limit = 'NB'."""
    return exp.Set(expressions=[exp.SetItem(this=exp.EQ(
        this=exp.column("memory_limit"), expression=exp.Literal.string(f"{size}B")))])


def _scan(conn, path: Path, scratch: Path, statement: exp.Expression) -> int | None:
    """Run a statement that reads the whole file: the rows it wrote, or None when it stopped at
    a rejected row (REJECTED_MARK); the file's read errors as ours."""
    import duckdb

    try:
        done = _run(conn, statement)
    except duckdb.Error as exc:
        if REJECTED_MARK in str(exc):
            return None
        ours = _unreadable(exc, path, scratch)
        if ours is None:
            raise
        raise ours from exc
    return done.fetchone()[0] if isinstance(statement, exp.Copy) else 0


def _forget_streamed(conn, scratch: Path) -> None:
    """Drop what a streamed attempt defined, for the staged path to start afresh."""
    for name, kind in (("accepted", "VIEW"), ("source", "VIEW"), ("staged", "TABLE")):
        _run(conn, exp.Drop(tables=[exp.to_table(name)], kind=kind, exists=True))


def _scratch(home: Home, kind: str) -> Path:
    """A folder for this ingest's own temporary files (the link to the file it reads, the lines
    DuckDB sniffs). One per kind, emptied first: the caller holds the kind's lock, so anything
    in it was left by an ingest that was killed."""
    folder = home.tmp_dir / f"ingest-{kind}"
    shutil.rmtree(folder, ignore_errors=True)
    return private_folder(folder)


def _orphans(conn, snapshot: Snapshot) -> int:
    """Accepted rows whose customer is not in the snapshot's profiles (all of them when no
    profiles were ever ingested)."""
    profiles = snapshot.file("profiles")
    if profiles is None:
        return _count(conn, "accepted")
    known = exp.select("1").from_(sql.parquet(profiles, "p")).where(_same(["customer_id"], "p", "a"))
    return _count(conn, exp.to_table("accepted", alias="a"), _not(exp.Exists(this=known)))


def kind_lock(home: Home, kind: str):
    """Two ingests of one kind at once would each merge into the old file and lose the other's
    rows; they queue on a lock file instead."""
    home.customers_dir.mkdir(parents=True, exist_ok=True)
    return exclusive_lock(home.customers_dir / f".{kind}.lock")


def _load_source(conn: duckdb.DuckDBPyConnection, path: Path, scratch: Path, encoding: str, *,
                 streamed: bool = False) -> tuple[list[tuple[int, str, str]], Looks]:
    """Define ``source`` over the file; return rejected CSV lines (line, reason, text), and
    how its bytes look (``Looks``: which checks of text values the rows need).
    ``streamed``: ``source`` is a view, read by each query (its rejected lines are known once a
    query has read the whole file: ``_malformed``); else a table, read here."""
    import duckdb

    parquet = is_parquet(path)
    if parquet and encoding != "utf-8":
        raise IngestError(f"{shown(path)}: --encoding is for CSV files (Parquet text is UTF-8)")
    # DuckDB expands glob characters in a file name ('a*.csv' reads a1.csv and a2.csv): it
    # reads a link with a plain name, so that the path names exactly one file, read literally.
    link = _link(scratch, path)
    link.unlink(missing_ok=True)  # left by a streamed attempt that found repeated keys
    link.symlink_to(path.absolute())
    make = _view if streamed else _temp_table
    try:
        if parquet:
            # A table too, not a view: a Parquet file is read once here, then scanned in memory.
            _run(conn, make("source", exp.select("*").from_(sql.parquet(link))))
            return [], UNSEEN
        compressed = is_gzip(path)
        sample = check_text(path, encoding, compressed)
        looks = UNSEEN if compressed or encoding not in BYTE_EXACT else look_at_bytes(path)
        if looks.long_line:
            raise IngestError(
                f"{shown(path)}: line {looks.long_line} is longer than {LONGEST_LINE >> 20} MB "
                "with no line end: the CSV reader would drop it without a trace, so nothing was "
                "stored; split or remove that line")
        with naming(scratch / "sample.csv") as written:
            written.write_text(sample.text(), encoding="utf-8")
        delimiter, quote, escape, names = _dialect(conn, scratch / "sample.csv")
        (scratch / "sample.csv").unlink()  # customers' data: not left behind by a killed run
        if not quote:
            # DuckDB detects no quote on a sample without quoted fields, and drops quoting
            # when one quote never closes. Read without quotes, a quoted field further on
            # would be misread: a quoted line break would make up a row. Quotes are read as
            # RFC 4180 has them (at no measurable cost), and a quote that never closes
            # refuses the file (_malformed). The header's names as read with that quote:
            quote = escape = '"'
            names = [n[1:-1].replace('""', '"') if len(n) > 1 and n[0] == n[-1] == '"' else n
                     for n in names]
        read = _csv_read(link, names, delim=delimiter, quote=quote, escape=escape,
                         encoding=encoding, compression="gzip" if compressed else "none")
        _fresh_rejects(conn)
        _run(conn, make("source", exp.select("*").from_(exp.Table(this=read))))
    except duckdb.Error as exc:
        ours = _unreadable(exc, path, scratch)
        if ours is None:
            raise
        raise ours from exc
    return ([] if streamed else _malformed(conn, path, encoding)), looks


def _link(scratch: Path, path: Path) -> Path:
    return scratch / ("source.parquet" if is_parquet(path) else "source.csv.gz"
                      if is_gzip(path) else "source.csv")


def _unreadable(exc: Exception, path: Path, scratch: Path) -> Exception | None:
    """Our error for a DuckDB error met reading the file: the file cannot be read (bad input);
    None for the engine's own limits (the disk, the memory limit: not the file's fault)."""
    import duckdb

    if isinstance(exc, duckdb.OutOfMemoryException):
        from ..query.duckdb import describe

        return EngineError(describe(exc))
    if "No space left" in str(exc):
        return None  # ingest() names the full folder
    reason = str(exc).strip().splitlines()[0].replace(str(_link(scratch, path)), str(path))
    reason = reason.replace(str(scratch / "sample.csv"), f"the first lines of {path}")
    return IngestError(f"{shown(path)}: cannot be read as "
                       f"{'Parquet' if is_parquet(path) else 'CSV'}: {reason}")


def _fresh_rejects(conn) -> None:
    """Empty DuckDB's reject store (it lives on the connection): the next read of the file
    fills it with that read's rejected lines only (not the sniffing's, nor an earlier read's)."""
    for table in ("reject_errors", "reject_scans"):
        _run(conn, exp.Drop(tables=[exp.to_table(table)], kind="TABLE", exists=True))


def _csv_read(link: Path, names: list[str], **dialect: str) -> exp.ReadCSV:
    """read_csv of the file, every column as text, rejected lines kept in the reject store."""
    columns = exp.Struct(expressions=[
        exp.PropertyEQ(this=sql.name(name),
                       expression=exp.Literal.string("VARCHAR")) for name in names])
    # Detection is done (on the sample): every option is given, so that a long line is a
    # rejected row rather than a failed detection, and no line is skipped (as a comment or
    # a preamble: a customer id may start with '#').
    return exp.ReadCSV(this=exp.Literal.string(str(link)), expressions=_options(
        auto_detect=False, header=True, columns=columns, **dialect,
        max_line_size=MAX_LINE_BYTES, store_rejects=True))


def _malformed(conn, path: Path, encoding: str) -> list[tuple[int, str, str]]:
    """The lines the last read of the CSV file rejected (line, reason, text). A byte not in the
    file's encoding refuses the whole file (its text would be garbled): DuckDB checks UTF-8 as
    it reads, so no separate pass over the file is needed for it."""
    line = exp.column("line")
    invalid = exp.EQ(this=exp.column("error_type"), expression=exp.Literal.string(
        "INVALID ENCODING"))
    [(first_bad,)] = _run(conn, exp.select(exp.Min(this=line)).from_("reject_errors").where(
        invalid)).fetchall()
    if first_bad is not None:
        raise IngestError(not_in_encoding(path, encoding, first_bad, b""))
    # A quoted field that ends in something other than a delimiter, across lines: a quote
    # opened and never closed (or closed by another record's quote). The lines after it were
    # read as its text: they are no one rejected row, and the file is refused as a whole.
    across = _or(*(exp.func("contains", exp.column("csv_line"), exp.Literal.string(end))
                   for end in ("\n", "\r")))
    runaway = _run(conn, exp.select(line, "line_byte_position").from_("reject_errors").where(
        _and(exp.EQ(this=exp.column("error_type"), expression=exp.Literal.string(
            "UNQUOTED VALUE")), across)).order_by(line).limit(1)).fetchall()
    if runaway:
        [(record, position)] = runaway
        at = line_at(path, position) if encoding == "utf-8" else f"record {record}"
        raise IngestError(
            f"{shown(path)}: {at} opens a quoted field that never closes, so the "
            "lines after it would be read as its text; end the field with a quote (a quote "
            'inside a quoted field is written twice: "") and ingest again; nothing was stored')
    rows = _run(conn, exp.select(line, *(exp.Min(this=exp.column(c)) for c in (
        "error_type", "error_message", "csv_line", "line_byte_position"))).from_(
        "reject_errors").group_by(line).order_by(line)).fetchall()
    return [(line, _line_reason(error_type, message),
             whole_record(path, encoding, position, text)
             if len(text.encode("utf-8")) >= DUCKDB_LINE_CUT - 3 else text)  # a cut character
            for line, error_type, message, text, position in without_lf(rows)]


def _line_reason(error_type: str, message: str) -> str:
    if error_type == "LINE SIZE OVER MAXIMUM":
        return f"a field or line longer than {MAX_LINE_BYTES:,} bytes"
    return "malformed CSV: " + " ".join(str(message).split())


def _dialect(conn, sample: Path) -> tuple[str, str, str, list[str]]:
    """Delimiter, quote, escape and column names, as DuckDB detects them on the sample (with
    the options the read uses, so that it detects what it would on the file itself). Inside a
    quoted field a doubled quote is a quote unless the file shows another escape."""
    sniff = exp.Anonymous(this="sniff_csv", expressions=[
        exp.Literal.string(str(sample)),
        *_options(header=True, all_varchar=True, store_rejects=True)])
    found = _run(conn, exp.select(*(exp.column(c, quoted=True) for c in (
        "Delimiter", "Quote", "Escape", "Columns"))).from_(exp.Table(this=sniff))).fetchall()[0]
    delimiter, quote, escape = ("" if v == "(empty)" else v for v in found[:3])
    return delimiter, quote, escape or quote, [column["name"] for column in found[3]]


def _source_types(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    described = _run(conn, exp.Describe(this=exp.to_table("source"))).fetchall()
    return {name: type_ for name, type_, *_ in described}


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
                          f"its header has {', '.join(map(shown, source_types))}; {kind.name} "
                          f"columns are {', '.join(c.name for c in kind.columns)}")
    if not kind.open_columns:
        unknown = [name for name in source_types if kind.column(name) is None]
        if unknown:
            raise IngestError(
                f"{kind.name} file has unknown column(s) {', '.join(map(shown, unknown))}; "
                f"allowed: "
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


# A typed file's (Parquet's) narrower and unsigned numbers, as the contract's types: each value
# is cast and checked (a UBIGINT beyond BIGINT's range is a rejected row, never wrapped).
SOURCE_TYPES = {**dict.fromkeys(("TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT",
                                 "UINTEGER", "UBIGINT", "HUGEINT"), "integer"),
                "FLOAT": "double"}


def _infer_type(conn, source: str, source_type: str) -> str:
    """The narrowest type that every value of the column fits, judged on the whole file (a
    sample could guess integer and then reject row 900,000)."""
    if source_type != "VARCHAR":
        return SOURCE_TYPES.get(source_type) or type_of_storage(source_type) or "text"
    value = _trimmed(sql.column(source))
    checks = [exp.func("bool_and", _or(value.is_(exp.null()),
                                           _text_fits(value, t, inferring=True)),
                       dialect="duckdb") for t in INFERENCE_ORDER]
    fits = _run(conn, exp.select(exp.Count(this=value), *checks).from_("source")).fetchone()
    if not fits[0]:
        return "text"  # an all-empty column says nothing about its type
    return next((t for t, ok in zip(INFERENCE_ORDER, fits[1:], strict=True) if ok), "text")


def _text_fits(text: exp.Expression, type_: str, *, inferring: bool = False) -> exp.Expression:
    """SQL: the (non-NULL) text is a value of the type, nothing rounded, cut or overflowing."""
    fits = _not(_try_cast(text, STORAGE_TYPES[type_]).is_(exp.null()))
    pattern = (TEXT_PATTERNS.get(type_) if type_ not in PATTERNS_WHEN_INFERRING or inferring
               else None)
    if not pattern:
        return fits
    return exp.paren(_and(exp.RegexpLike(this=text, expression=exp.Literal.string(pattern)),
                              fits))


def _cast(raw: exp.Expression, source_type: str, type_: str, *,
          lower: bool = False) -> tuple[exp.Expression, list[Check]]:
    """SQL for the stored value of ``raw`` (SQL of a value of DuckDB type ``source_type``) as
    ``type_``, and the checks it must pass, in order: the first one it fails is its reason."""
    target = STORAGE_TYPES[type_]
    if source_type == "VARCHAR":
        text = _trimmed(raw)
        if type_ == "text":
            return (exp.Lower(this=text) if lower else text), []
        value = _try_cast(text, target)
        checks = []
        if type_ in NUMBER_TYPES:  # DuckDB reads NaN, inf and 1e999 as doubles
            checks.append((_never_null(_not(_finite(_try_cast(text, "DOUBLE")))),
                           RANGE_HINTS["finite"]))
        fits = _text_fits(text, type_)
        if type_ == "date":  # a time of day other than midnight would be cut off
            midnight = exp.EQ(this=_as(_try_cast(text, "TIMESTAMP"), "TIME"),
                              expression=_as(exp.Literal.string("00:00:00"), "TIME"))
            fits = _and(fits, exp.Coalesce(this=midnight, expressions=[exp.true()]))
        checks.append((exp.paren(_and(_not(text.is_(exp.null())), _not(fits))),
                       TYPE_HINTS[type_]))
        return value, checks + _range_checks(value, type_, text)
    if type_ == "text":
        value = _as(raw, "VARCHAR")
        return (exp.Lower(this=value) if lower else value), []
    value = _try_cast(raw, target)
    checks = []
    if type_ in NUMBER_TYPES and source_type in ("DOUBLE", "FLOAT"):
        checks.append((_never_null(_not(_finite(raw))), RANGE_HINTS["finite"]))
    # Typed sources: nothing rounded or cut, so the value must come back unchanged from its
    # stored type (3.125 as a decimal is 3.13; 2026-03-05 23:30 as a date is 2026-03-05).
    changed = exp.NullSafeNEQ(this=_try_cast(value, source_type), expression=raw)
    checks.append((exp.paren(_and(_not(raw.is_(exp.null())),
                                      _or(value.is_(exp.null()), changed))),
                   TYPE_HINTS[type_]))
    return value, checks + _range_checks(value, type_)


# C0 control characters but tab, line feed and carriage return, and DEL: a NUL cuts text in
# other tools, an escape code recolours a terminal that shows the value.
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
LINE_CHARACTERS = r"[\x00-\x08\x0a-\x1f\x7f]"  # and line feed, carriage return


def _holds(text: exp.Expression, pattern: str) -> exp.Expression:
    return _never_null(exp.RegexpLike(this=text, expression=exp.Literal.string(pattern)))


def _range_checks(value: exp.Expression, type_: str,
                  text: exp.Expression | None = None) -> list[Check]:
    """Dates and timestamps within EARLIEST_DAY..LATEST_DAY (judged in the workbench timezone,
    as event dates are), and a timestamp written with a UTC offset within the real ones."""
    if type_ == "date":
        within = exp.Between(this=value, low=_typed(EARLIEST_DAY, "DATE"),
                             high=_typed(LATEST_DAY, "DATE"))
        return [(_never_null(_not(within)), RANGE_HINTS["date"])]
    if type_ != "timestamp":
        return []
    first, last = _typed(EARLIEST_DAY, "TIMESTAMPTZ"), _typed(LATEST_DAY, "TIMESTAMPTZ")
    after = exp.Add(this=last, expression=exp.Interval(this=exp.Literal.string("1"),
                                                       unit=exp.var("DAY")))
    within = _and(exp.GTE(this=value, expression=first), exp.LT(this=value, expression=after))
    checks = [(_never_null(_not(within)), RANGE_HINTS["timestamp"])]
    if text is not None:
        # The offset is the written wall-clock time (read without its zone) minus the instant.
        offset = exp.Sub(this=_epoch(_try_cast(text, "TIMESTAMP")), expression=_epoch(value))
        too_far = exp.GT(this=exp.Abs(this=offset),
                         expression=exp.Literal.number(MAX_UTC_OFFSET_HOURS * 3600))
        checks.append((_never_null(exp.Case().when(_finite(value), too_far, copy=False)),
                       RANGE_HINTS["offset"]))
    return checks


def _original_text(columns: list[_Planned]) -> exp.Expression:
    """The file's own text of a row, packed as one struct (for the rejects file)."""
    return exp.Struct(expressions=[
        exp.PropertyEQ(this=sql.name("_raw_" + c.name),
                       expression=_as(sql.column(c.source, "source"), "VARCHAR"))
        for c in columns])


def _checked(kind: Kind, columns: list[_Planned], today: date, looks: Looks) -> tuple[
        list[exp.Expression], exp.Expression, exp.Expression]:
    """Each column's stored value (aliased to its name), the row's ``_reason`` (every check it
    fails, NULL when it passes them all) and a condition true exactly when ``_reason`` is not
    NULL, cheaper to compute on every row. ``today``: the workbench's (a birth date after it
    cannot be true); ``looks``: which text checks the file's bytes call for."""
    typed, reasons, failures, texts, lines = [], [], [], [], []
    for column in columns:
        value, checks = _cast(sql.column(column.source), column.source_type, column.type,
                              lower=column.name == "gender")
        if kind.name == "profiles" and column.name == "birth_date":
            checks.append((_never_null(exp.GT(this=value, expression=_typed(today, "DATE"))),
                           f"a day up to today ({today}): a birth date cannot be in the future"))
        # A check fails only on a value that is there (see _cast), so its reason's text is
        # never NULL: the row has a reason exactly when a check fails or a required value is
        # empty (its reason says so unless a check failed, which gives a reason anyway).
        failures += [failed for failed, _ in checks]
        # The contract's own text (ids, names, tags…) is one line; appended text may hold
        # line breaks. A line break in an id or a tag is how a stray pair of quotes shows:
        # the lines between them read as one value (nothing else could tell).
        one_line = not kind.open_columns or column.name == "customer_id"
        if column.type == "text" and (looks.controls or one_line and looks.quotes):
            # The reason is the column's; whether the row fails is one look at all its text
            # (below): one call a row, not one a value (a third less CPU for 7 columns).
            pattern = LINE_CHARACTERS if one_line else CONTROL_CHARACTERS
            checks.append((_holds(value.copy(), pattern),
                           RANGE_HINTS["line" if one_line else "control"]))
            (lines if one_line else texts).append(value.copy())
        typed.append(exp.alias_(value, column.name, quoted=True, copy=False))
        reasons += _reasons(column, value, checks)
        if column.required:
            failures.append(value.is_(exp.null()))
    for values, pattern in ((texts, CONTROL_CHARACTERS), (lines, LINE_CHARACTERS)):
        if values:
            failures.append(_holds(exp.func("concat", *values, dialect="duckdb"), pattern))
    reason = (exp.Nullif(this=exp.func("concat_ws", exp.Literal.string("; "), *reasons,
                                         dialect="duckdb"),
                         expression=exp.Literal.string("")) if reasons else exp.null())
    return typed, exp.alias_(reason, "_reason"), exp.paren(_or(*failures) if failures
                                                            else exp.false())


def _stage(conn, kind: Kind, columns: list[_Planned], today: date, looks: Looks) -> None:
    typed, reason, _ = _checked(kind, columns, today, looks)
    # The original text is packed for every row but kept only for rejected ones.
    rows = exp.select(*typed, reason, exp.alias_(_row_of_source(), "_row"),
                      exp.alias_(_original_text(columns), "_original")).from_("source")
    kept = exp.Case().when(_rejected(), exp.column("_original"))
    _run(conn, _temp_table("staged", exp.select(
        *_names(columns), "_reason", "_row", exp.alias_(kept, "_raw")).from_(rows.subquery())))


def _reasons(column: _Planned, value: exp.Expression, checks: list[Check]) -> list[exp.Case]:
    """Why a row's value of ``column`` is refused: 'points "lots" is not a whole number' (the
    first check it fails), or that a required value is empty."""
    reasons = []
    written = exp.DPipe(this=exp.Literal.string(column.source + ' "'),
                        expression=_as(sql.column(column.source), "VARCHAR"))
    if checks:
        case = exp.Case()
        for failed, hint in checks:
            case = case.when(failed, exp.DPipe(
                this=written, expression=exp.Literal.string('" is not ' + hint)), copy=False)
        reasons.append(case)
    if column.required:
        failed = _or(*(failed for failed, _ in checks)) if checks else exp.false()
        reasons.append(exp.Case().when(
            _and(value.is_(exp.null()), _not(failed)),
            exp.Literal.string(column.source + " is empty (required)"), copy=False))
    return reasons


def _collapse_duplicates(conn, kind: Kind, columns: list[_Planned]) -> int:
    """Reject rows that share a key but differ, then build ``accepted`` from the distinct
    valid rows; return how many exact duplicate rows were counted once."""
    valid_rows = exp.select(*_names(columns)).from_("staged").where(_valid())
    keys = [sql.column(k) for k in kind.key]
    distinct_keys = exp.Count(this=exp.Distinct(expressions=[exp.Tuple(expressions=keys)]))
    valid, distinct = _run(conn, exp.select(exp.Count(this=exp.Star()), distinct_keys)
                           .from_("staged").where(_valid())).fetchone()
    if valid == distinct:  # the usual case: every key once, nothing to collapse
        _run(conn, _temp_table("accepted", valid_rows))
        return 0
    _run(conn, _temp_table("conflicts", exp.select(*keys).from_(
        valid_rows.distinct().subquery()).group_by(*keys).having(
        exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))))
    if _count(conn, "conflicts"):
        _reject_conflicts(conn, kind, columns)
    _run(conn, exp.Drop(tables=[exp.to_table("conflicts")], kind="TABLE"))
    _run(conn, _temp_table("accepted", valid_rows.distinct()))
    return _count(conn, "staged", _valid()) - _count(conn, "accepted")


def _reject_conflicts(conn, kind: Kind, columns: list[_Planned]) -> None:
    """The rows whose key is in ``conflicts``: 'customer_id C1 appears in more than one row
    of this file with different values'."""
    key_text = None
    for k in kind.key:
        named = exp.DPipe(this=exp.Literal.string(k + " "),
                          expression=_as(sql.column(k, "s"), "VARCHAR"))
        key_text = named if key_text is None else exp.DPipe(
            this=exp.DPipe(this=key_text, expression=exp.Literal.string(", ")), expression=named)
    reason = exp.DPipe(this=key_text, expression=exp.Literal.string(
        " appears in more than one row of this file with different values"))
    unchecked = exp.column("_reason", "s").is_(exp.null())
    _run(conn, exp.update(exp.to_table("staged", alias="s"), {"_reason": reason},
                          from_=exp.From(this=exp.to_table("conflicts", alias="c")),
                          where=_and(unchecked, _same(kind.key, "s", "c"))))
    # These rows passed every check, so their text was not kept: fetch it again.
    originals = exp.select(exp.alias_(_row_of_source(), "_row"),
                           exp.alias_(_original_text(columns), "_original")).from_("source")
    _run(conn, exp.update(
        exp.to_table("staged", alias="s"), {"_raw": exp.column("_original", "o")},
        from_=exp.From(this=originals.subquery("o")),
        where=_and(exp.EQ(this=exp.column("_row", "s"), expression=exp.column("_row", "o")),
                       _not(unchecked), exp.column("_raw", "s").is_(exp.null()))))


def _type_changes(snapshot: Snapshot, kind: Kind,
                  columns: list[_Planned]) -> dict[str, tuple[str, str]]:
    """Appended columns whose type the file changes (``--schema``): {column: (old, new)}."""
    if not kind.open_columns:
        return {}
    stored = snapshot.appended_types()
    return {c.name: (stored[c.name], c.type) for c in columns
            if c.name in stored and stored[c.name] != c.type}


def _check_conversions(conn, snapshot: Snapshot, kind: Kind,
                       changes: dict[str, tuple[str, str]]) -> None:
    """A type change converts the stored values of the rows the file does not replace: each
    must pass the checks a value in the file would (text "12" becomes integer 12; "lots" or
    1.5 cannot), or nothing is stored."""
    replaced = exp.Exists(this=exp.select("1").from_(exp.to_table("accepted", alias="a")).where(
        _same(kind.key, "a", "o")))
    for name, (old, new) in changes.items():
        _, checks = _cast(sql.column(name, "o"), STORAGE_TYPES[old], new)
        if not checks:
            continue  # to text: every value has one
        failed = exp.paren(_or(*(condition for condition, _ in checks)))
        query = exp.select(_as(sql.column(name, "o"), "VARCHAR")).distinct().from_(
            sql.parquet(snapshot.file(kind.name), "o")).where(
            _and(failed, _not(replaced))).order_by(exp.Literal.number(1)).limit(3)
        examples = [row[0] for row in _run(conn, query).fetchall()]
        if examples:
            shown = ", ".join(_example(value) for value in examples)
            raise IngestError(
                f"cannot change appended.{name} from {old} to {new}: stored values do not all "
                f"convert to {new} without loss, e.g. {shown}; keep the type, or give those "
                "customers new values in the file")


def _example(value: str, width: int = 40) -> str:
    """A stored value in a one-line message: quoted, control characters escaped, cut."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[:width - 2] + "…\""


def _write_rejects(conn, home: Home, kind: Kind, path: Path, columns: list[_Planned],
                   malformed: list[tuple[int, str, str]], now: datetime) -> Path:
    private_folder(home.rejects_dir)
    # Unique even for two files of one name ingested within the same second.
    stamp = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    name = path.name.removesuffix(".gz").removesuffix(".GZ")
    target = home.rejects_dir / f"{kind.name}-{stamp}-{Path(name).stem}.csv"
    originals = [exp.alias_(sql.column("_raw_" + c.name, "_raw"), c.source, quoted=True)
                 for c in columns]
    nulls = [exp.alias_(exp.null(), c.source, quoted=True) for c in columns]
    _run(conn, exp.Create(this=exp.Schema(this=exp.to_table("malformed"), expressions=[
        exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build(type_))
        for name, type_ in (("line", "BIGINT"), ("error", "VARCHAR"), ("text", "VARCHAR"))]),
        kind="TABLE", replace=True, properties=_TEMPORARY.copy()))
    if malformed:
        _run(conn, exp.insert(exp.values([tuple(exp.Placeholder() for _ in range(3))]),
                              "malformed"), malformed)
    said = exp.DPipe(this=exp.DPipe(this=exp.DPipe(
        this=exp.Literal.string("line "), expression=exp.column("line")),
        expression=exp.Literal.string(": ")), expression=exp.column("error"))
    rejected = exp.union(
        exp.select(*originals, "_reason", exp.alias_(exp.null(), "_malformed_line"))
        .from_("staged").where(_rejected()),
        exp.select(*nulls, said, "text").from_("malformed"), distinct=False)
    _run(conn, _copy(rejected, target, HEADER=None, DELIMITER=exp.Literal.string(",")))
    return make_private(target)


def _merge(conn, home: Home, kind: Kind, columns: list[_Planned],
           snapshot: Snapshot, now: datetime) -> tuple[int, int, NewVersion]:
    """Upsert ``accepted`` into the snapshot's version as a new version file; return (new keys,
    updated keys, the version)."""
    stored_path = snapshot.file(kind.name)
    in_file = {c.name: c for c in columns}
    if stored_path is None:
        source = exp.select(*(_stored_expr(c.name, in_file, kind)
                              for c in _all_columns(kind, in_file))).from_("accepted")
        new, updated = _count(conn, "accepted"), 0
    else:
        source = _upsert(kind, in_file, snapshot.versions[kind.name].columns, stored_path)
        known = exp.select("1").from_(sql.parquet(stored_path, "o")).where(_same(kind.key, "o", "n"))
        new = _count(conn, exp.to_table("accepted", alias="n"), _not(exp.Exists(this=known)))
        updated = _count(conn, "accepted") - new
    target = _version_target(private_folder(home.customers_dir / kind.name), now)
    try:
        with _sorting(conn, kind):
            _run(conn, _copy(_ordered(source, kind), target, **_PARQUET))
    except BaseException:
        target.unlink(missing_ok=True)  # never half a version (a full disk)
        raise
    make_private(target)
    return new, updated, _describe_version(conn, home, kind, target)


@contextmanager
def _sorting(conn, kind: Kind):
    """A kind stored in order is sorted within the aggregates' memory, spilling beyond it
    (75M tag events at 10M customers), so that memory stays flat as its files grow."""
    if not kind.stored_order:
        yield
        return
    with _memory_at_most(conn, AGGREGATE_MEMORY):
        yield


def _ordered(query: exp.Select, kind: Kind) -> exp.Select:
    """``query`` in the kind's stored order (tags by time), if it has one."""
    return query.order_by(*(sql.column(c) for c in kind.stored_order)) if kind.stored_order \
        else query


def _version_target(folder: Path, now: datetime) -> Path:
    # Never a file that exists: a version is written once and only ever read after that.
    return folder / f"v-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"


def _upsert(kind: Kind, in_file: dict[str, _Planned], stored: dict[str, str],
            stored_path: Path) -> exp.Select:
    """The stored rows (``o``) joined by key to the accepted ones (``n``): a column of the file
    takes the file's value on the rows it holds. ``stored``: column -> our type name."""
    pick = []
    for name in list(stored) + [n for n in in_file if n not in stored]:
        if name in kind.key:
            pick.append(sql.column(name))
        elif name in in_file and name in stored:
            # A changed type converts the stored values (_check_conversions made sure that
            # every one kept converts without loss; a replaced one may not, hence TRY_CAST).
            type_ = in_file[name].type
            kept = _as(sql.column(name, "o"), STORAGE_TYPES[type_])
            if stored[name] != type_:
                kept, _ = _cast(sql.column(name, "o"), STORAGE_TYPES[stored[name]], type_)
            pick.append(exp.alias_(exp.Case().when(exp.column("_new", "n"), sql.column(name, "n"), copy=False)
                                   .else_(kept, copy=False), name, quoted=True, copy=False))
        else:
            pick.append(sql.column(name, "n" if name in in_file else "o"))
    accepted = exp.select("*", exp.alias_(exp.true(), "_new")).from_("accepted")
    return exp.select(*pick).from_(sql.parquet(stored_path, "o")).join(
        accepted.subquery("n"), using=[sql.name(k) for k in kind.key],
        join_type="full outer")


def _describe_version(conn, home: Home, kind: Kind, target: Path) -> NewVersion:
    """What a snapshot needs to know of a version without opening it: its columns and types,
    its row count and the known values of its pick-list columns."""
    described = _run(conn, exp.Describe(this=exp.select("*").from_(sql.parquet(target)))).fetchall()
    columns = {name: type_of_storage(type_) for name, type_, *_ in described}
    rows = _count(conn, sql.parquet(target))
    wanted = CHOICE_COLUMNS.get(kind.name, ())
    if kind.open_columns:
        wanted = [c for c, t in columns.items() if t == "text" and c != "customer_id"]
    choices = {}
    for column in wanted:
        first = exp.Literal.number(1)
        query = exp.select(sql.column(column)).from_(sql.parquet(target)).where(
            _not(sql.column(column).is_(exp.null()))).group_by(first).order_by(
            exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), first).limit(MAX_CHOICES + 1)
        values = [row[0] for row in _run(conn, query).fetchall()]
        choices[column] = {"values": values[:MAX_CHOICES], "complete": len(values) <= MAX_CHOICES}
    return NewVersion(str(target.relative_to(home.root)), columns, rows, choices)


def _all_columns(kind: Kind, in_file: dict[str, _Planned]) -> list[Column]:
    if kind.open_columns:
        return list(in_file.values())
    return list(kind.columns)


def _stored_expr(name: str, in_file: dict[str, _Planned], kind: Kind) -> exp.Expression:
    if name in in_file:
        return sql.column(name)
    column = kind.column(name)
    return exp.alias_(_as(exp.null(), STORAGE_TYPES[column.type]), name, quoted=True)


# SQL of an ingest: SQLGlot trees, rendered in DuckDB's dialect in _run. Names from the file
# are quoted identifiers; values are literals made by SQLGlot, or bound parameters.

_TEMPORARY = exp.Properties(expressions=[exp.TemporaryProperty()])


def _run(conn, statement: exp.Expression, parameters: list | dict | None = None):
    """Run one statement on the ingest's connection; a list of parameter rows runs it once per
    row."""
    text = statement.sql("duckdb")
    if isinstance(parameters, list):
        return conn.executemany(text, parameters)
    return conn.execute(text, parameters)


def _count(conn, table: str | exp.Expression, where: exp.Expression | None = None) -> int:
    """Rows of a table (or table expression), or those that meet ``where``."""
    query = exp.select(exp.Count(this=exp.Star())).from_(table)
    return _run(conn, query.where(where) if where is not None else query).fetchone()[0]


def _names(columns: list[_Planned]) -> list[exp.Column]:
    return [sql.column(c.name) for c in columns]


def _same(key: tuple[str, ...] | list[str], left: str, right: str) -> exp.Expression:
    """The key columns of two aliased tables are equal."""
    return _and(*(exp.EQ(this=sql.column(k, left), expression=sql.column(k, right)) for k in key))


def _valid() -> exp.Expression:
    return exp.column("_reason").is_(exp.null())


def _rejected() -> exp.Expression:
    return _not(_valid())


def _row_of_source() -> exp.Column:
    """Identifies a row of ``source`` (to fetch its original text again): CSV rows are a
    table's rows."""
    return exp.column("rowid", "source")


# Versions are Parquet, zstd-compressed.
_PARQUET = {"FORMAT": exp.var("parquet"), "COMPRESSION": exp.var("zstd")}


def _view(name: str, query: exp.Select) -> exp.Create:
    """CREATE OR REPLACE TEMP VIEW name AS query."""
    return exp.Create(this=exp.to_table(name), kind="VIEW", replace=True, expression=query,
                      properties=_TEMPORARY.copy())


def _temp_table(name: str, query: exp.Select) -> exp.Create:
    """CREATE OR REPLACE TEMP TABLE name AS query."""
    return exp.Create(this=exp.to_table(name), kind="TABLE", replace=True, expression=query,
                      properties=_TEMPORARY.copy())


def _copy(query: exp.Select, target: Path, **options: exp.Expression | None) -> exp.Copy:
    """COPY (query) TO 'target' (OPTION value, ...); a None value: the option alone."""
    return exp.Copy(this=query.subquery(), kind=False, files=[exp.Literal.string(str(target))],
                    params=[exp.CopyParameter(this=exp.var(name), expression=value)
                            for name, value in options.items()])


def _options(**values) -> list[exp.EQ]:
    """Named arguments of a DuckDB table function: ``name = value``."""
    return [exp.EQ(this=exp.column(name), expression=exp.convert(value) if not isinstance(
        value, exp.Expression) else value) for name, value in values.items()]


# SQLGlot's builders copy their operands unless told not to: the checks of a column share its
# value's tree, and copying it at every level costs more than the query it builds.

def _and(*conditions: exp.Expression) -> exp.Expression:
    return exp.and_(*conditions, copy=False)


def _or(*conditions: exp.Expression) -> exp.Expression:
    return exp.or_(*conditions, copy=False)


def _not(condition: exp.Expression) -> exp.Expression:
    return exp.not_(condition, copy=False)


def _trimmed(text: exp.Expression) -> exp.Expression:
    """The text without surrounding spaces; NULL when nothing is left."""
    return exp.Nullif(this=exp.Trim(this=text), expression=exp.Literal.string(""))


def _as(value: exp.Expression, type_: str) -> exp.Cast:
    return exp.Cast(this=value, to=_type(type_))


def _try_cast(value: exp.Expression, type_: str) -> exp.TryCast:
    return exp.TryCast(this=value, to=_type(type_))


@functools.cache
def _type(name: str) -> exp.DataType:
    """A DuckDB type by its name (one that SQLGlot does not know is kept as written)."""
    return exp.DataType.build(name, dialect="duckdb", udt=True)


def _typed(value, type_: str) -> exp.Cast:
    """A constant of a type: CAST('2026-03-10' AS DATE)."""
    return _as(exp.Literal.string(str(value)), type_)


def _finite(value: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="isfinite", expressions=[value])


def _epoch(value: exp.Expression) -> exp.Expression:
    return exp.func("epoch", value, dialect="duckdb")


def _never_null(condition: exp.Expression) -> exp.Expression:
    """A condition that is false where it would be NULL."""
    return exp.Coalesce(this=condition, expressions=[exp.false()])
