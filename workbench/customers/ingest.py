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

import codecs
import fcntl
import gzip
import json
import re
import shutil
import uuid
import zlib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import IngestError, RejectedRows
from ..files import make_private, make_private_lock, private_folder
from ..query.sql import ident, lit
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

if TYPE_CHECKING:
    import duckdb

    from ..home import Home
    from .snapshot import Snapshot

# Values of a text column kept as its known choices (warnings, pick lists); more: incomplete.
MAX_CHOICES = 1000
# Text columns whose values are worth knowing (names, e-mails and ids are not pick lists).
CHOICE_COLUMNS = {"profiles": ("gender", "home_city", "home_state"), "tags": ("tag",)}

# The longest CSV line (or quoted field) read, in bytes: a longer one is a rejected row. Far above
# any real customer row, and it bounds the memory one line can take.
MAX_LINE_BYTES = 1_048_576
# DuckDB detects the delimiter and quote on the first lines of a CSV file (as many as it would).
SNIFF_LINES = 20_480
SNIFF_BYTES = 8 * MAX_LINE_BYTES
# The CSV file is decoded (checked) in pieces of this size: never read whole into memory.
READ_CHUNK = 1 << 20
NUMBER_TYPES = frozenset({"integer", "decimal", "double"})

# A check of a value: (SQL condition, never NULL, true when the value fails; what it is not).
Check = tuple[str, str]
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


def ingest(conn: duckdb.DuckDBPyConnection, home: Home, kind_name: str, path: Path, *,
           snapshot: Snapshot, strict: bool = False, schema: dict[str, str] | None = None,
           encoding: str = "utf-8", check_type_changes: TypeChangeCheck | None = None,
           now: datetime) -> tuple[IngestReport, NewVersion]:
    """Check the file and write the merged new version of its kind. The caller holds the kind's
    lock (``kind_lock``) and has pinned ``snapshot``, whose version this merges into; ``now``
    stamps the names of the files written (the workbench's clock).
    ``check_type_changes`` may refuse a change of appended column types (it raises)."""
    kind = KINDS.get(kind_name)
    if kind is None:
        raise IngestError(f"unknown kind {kind_name!r}; use one of {', '.join(KINDS)}")
    if encoding not in ENCODINGS:
        raise IngestError(f"unknown encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    path = Path(path)
    if path.is_dir():
        raise IngestError(f"{_shown(path)} is a folder; give a CSV or Parquet file")
    if not path.is_file():
        raise IngestError(f"{_shown(path)}: no such file")
    if path.stat().st_size == 0:
        raise IngestError(f"{_shown(path)} is empty; expected a header row and data rows")
    report = IngestReport(kind.name, str(path))
    scratch = _scratch(home, kind.name)
    try:
        malformed = _load_source(conn, path, scratch, encoding)
        columns = _plan_columns(conn, snapshot, kind, schema or {})
        changes = _type_changes(snapshot, kind, columns)
        if changes and check_type_changes:
            check_type_changes(changes)
        report.column_types = {c.name: c.type for c in columns if c.name != "customer_id"}
        _stage(conn, kind, columns, now.date())
        report.duplicates = _collapse_duplicates(conn, kind, columns)
        if changes:
            _check_conversions(conn, snapshot, kind, changes)
        report.rejected = _count(conn, "SELECT count(*) FROM staged WHERE _reason IS NOT NULL")
        report.rejected += len(malformed)
        report.accepted = _count(conn, "SELECT count(*) FROM accepted")
        if report.rejected:
            report.rejects_file = str(_write_rejects(conn, home, kind, path, columns, malformed,
                                                       now))
        if strict and report.rejected:
            raise RejectedRows(f"{report.summary()}: nothing stored (--strict); reasons in "
                               f"{report.rejects_file}")
        if kind.has_customer and kind.name != "profiles":
            profiles = _stored(snapshot, "profiles")
            report.orphans = _count(conn, "SELECT count(*) FROM accepted a WHERE NOT EXISTS "
                                          f"(SELECT 1 FROM {profiles} p "
                                          "WHERE p.customer_id = a.customer_id)")
        report.new, report.updated, version = _merge(conn, home, kind, columns, snapshot, now)
    finally:
        for table in ("staged", "accepted", "source"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        shutil.rmtree(scratch, ignore_errors=True)
    return report, version


def _shown(path: Path | str) -> str:
    """A path or header name as it may appear in a one-line message (either may hold a
    newline)."""
    text = str(path)
    return text if text.isprintable() else repr(text)


def _scratch(home: Home, kind: str) -> Path:
    """A folder for this ingest's own temporary files (the link to the file it reads, the lines
    DuckDB sniffs). One per kind, emptied first: the caller holds the kind's lock, so anything
    in it was left by an ingest that was killed."""
    folder = home.tmp_dir / f"ingest-{kind}"
    shutil.rmtree(folder, ignore_errors=True)
    return private_folder(folder)


def _stored(snapshot: Snapshot, kind: str) -> str:
    """The snapshot's version of a kind as a FROM item."""
    from .snapshot import empty_source

    path = snapshot.file(kind)
    return f"read_parquet({lit(str(path))})" if path else f"({empty_source(kind).sql('duckdb')})"


@contextmanager
def kind_lock(home: Home, kind: str):
    """Two ingests of one kind at once would each merge into the old file and lose the other's
    rows; they queue on a lock file instead."""
    home.customers_dir.mkdir(parents=True, exist_ok=True)
    with open(make_private_lock(home.customers_dir / f".{kind}.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# Identifies a row of ``source`` (to fetch its original text again): CSV rows are a table's rows.
ROW_OF_SOURCE = "source.rowid"


def _load_source(conn: duckdb.DuckDBPyConnection, path: Path, scratch: Path,
                 encoding: str) -> list[tuple[int, str, str]]:
    """Define ``source`` over the file; return rejected CSV lines (line, reason, text)."""
    import duckdb

    parquet = path.suffix.lower() in (".parquet", ".pq")
    compressed = not parquet and path.suffix.lower() == ".gz"
    if parquet and encoding != "utf-8":
        raise IngestError(f"{_shown(path)}: --encoding is for CSV files (Parquet text is UTF-8)")
    # DuckDB expands glob characters in a file name ('a*.csv' reads a1.csv and a2.csv): it
    # reads a link with a plain name, so that the path names exactly one file, read literally.
    link = scratch / ("source.parquet" if parquet else "source.csv.gz" if compressed
                      else "source.csv")
    link.symlink_to(path.absolute())
    try:
        if parquet:
            # A table too, not a view: a Parquet file is read once here, then scanned in memory.
            conn.execute(f"CREATE OR REPLACE TEMP TABLE source AS "
                         f"SELECT * FROM read_parquet({lit(str(link))})")
            return []
        sample = _check_text(path, encoding, compressed)
        (scratch / "sample.csv").write_text(sample.text(), encoding="utf-8")
        delimiter, quote, escape, names = _dialect(conn, scratch / "sample.csv")
        if not quote and sample.quoted_across_lines:
            quote = escape = '"'  # the sample ended inside a quoted field of a long line
        # The reject store lives on the connection: last file's lines must not count for this
        # one (nor the sniffing's). Materialised once: it is only filled while the file is read.
        conn.execute("DROP TABLE IF EXISTS reject_errors")
        conn.execute("DROP TABLE IF EXISTS reject_scans")
        columns = "{" + ", ".join(f"{lit(name)}: 'VARCHAR'" for name in names) + "}"
        # Detection is done (on the sample): every option is given, so that a long line is a
        # rejected row rather than a failed detection, and no line is skipped (as a comment or
        # a preamble: a customer id may start with '#').
        conn.execute(
            f"CREATE OR REPLACE TEMP TABLE source AS SELECT * FROM read_csv({lit(str(link))}, "
            f"auto_detect = false, header = true, columns = {columns}, "
            f"delim = {lit(delimiter)}, quote = {lit(quote)}, escape = {lit(escape)}, "
            f"encoding = {lit(encoding)}, compression = {lit('gzip' if compressed else 'none')}, "
            f"max_line_size = {MAX_LINE_BYTES}, store_rejects = true)")
        rows = conn.execute("SELECT line, min(error_type), min(error_message), min(csv_line) "
                            "FROM reject_errors GROUP BY line ORDER BY line").fetchall()
    except duckdb.Error as exc:
        if isinstance(exc, duckdb.OutOfMemoryException) or "No space left" in str(exc):
            # The disk or the memory limit, not the file: say so (exit 1, not "bad input").
            from ..query.duckdb import EngineError, describe

            raise EngineError(describe(exc)) from exc
        reason = str(exc).strip().splitlines()[0].replace(str(link), str(path))
        raise IngestError(f"{_shown(path)}: cannot be read as {'Parquet' if parquet else 'CSV'}: "
                          f"{reason}") from exc
    return [(line, _line_reason(error_type, message), text)
            for line, error_type, message, text in rows]


def _line_reason(error_type: str, message: str) -> str:
    if error_type == "LINE SIZE OVER MAXIMUM":
        return f"a field or line longer than {MAX_LINE_BYTES:,} bytes"
    return "malformed CSV: " + " ".join(str(message).split())


def _dialect(conn, sample: Path) -> tuple[str, str, str, list[str]]:
    """Delimiter, quote, escape and column names, as DuckDB detects them on the sample (with
    the options the read uses, so that it detects what it would on the file itself). Inside a
    quoted field a doubled quote is a quote unless the file shows another escape."""
    found = conn.execute(f"SELECT Delimiter, Quote, Escape, Columns FROM sniff_csv("
                         f"{lit(str(sample))}, header = true, all_varchar = true, "
                         "store_rejects = true)").fetchall()[0]
    delimiter, quote, escape = ("" if v == "(empty)" else v for v in found[:3])
    return delimiter, quote, escape or quote, [column["name"] for column in found[3]]


def _check_text(path: Path, encoding: str, compressed: bool) -> _Sample:
    """Stream the file through a decoder, a piece at a time: refuse it if it is not text in
    ``encoding`` (DuckDB would reject its lines one by one and garble their text); return its
    first lines, for DuckDB to detect the dialect on."""
    codec = ENCODINGS[encoding]
    decoder = codecs.getincrementaldecoder(codec)("strict")
    sample, lines = _Sample(), 0
    try:
        with (gzip.open if compressed else open)(path, "rb") as handle:
            head = chunk = handle.read(READ_CHUNK)
            if encoding == "utf-16" and head.startswith(codecs.BOM_UTF16_BE):
                raise IngestError(f"{_shown(path)} is UTF-16 big-endian, which cannot be read; "
                                  "convert it to UTF-8")
            while True:
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    line = lines + exc.object[:exc.start].decode(codec, "replace").count("\n") + 1
                    raise IngestError(_not_in_encoding(path, encoding, line, head)) from None
                lines += text.count("\n")
                if not sample.full:
                    sample.add(text)
                elif encoding == "latin-1":
                    break  # every byte is a Latin-1 character: there is nothing left to check
                if not chunk:
                    break
                chunk = handle.read(READ_CHUNK)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(f"{_shown(path)}: cannot be read"
                          f"{' as gzip' if compressed else ''}: {exc}") from None
    sample.finish()
    if sample.header_too_long:
        raise IngestError(f"{_shown(path)}: the header line is longer than "
                          f"{MAX_LINE_BYTES:,} bytes")
    if "\x00" in sample.text().partition("\n")[0]:
        raise IngestError(f"{_shown(path)}: the header line holds NUL bytes; if the file is "
                          "UTF-16, pass --encoding utf-16")
    return sample


def _not_in_encoding(path: Path, encoding: str, line: int, head: bytes) -> str:
    if encoding == "utf-8" and head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return (f"{_shown(path)} is not UTF-8: it starts like UTF-16; pass --encoding utf-16 "
                "(little-endian) or convert it to UTF-8")
    if encoding == "utf-8":
        return (f"{_shown(path)} is not UTF-8 (first bad byte at line {line}); convert it or "
                "pass --encoding latin-1")
    return f"{_shown(path)} is not UTF-16 (first bad byte at line {line}); convert it to UTF-8"


# One line of text and its end (\r\n, \r or \n, as DuckDB counts lines).
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


class _Sample:
    """The first lines of a CSV file, without the records that hold a line too long to read
    (DuckDB's own detection would fail the whole file on one). Quotes are counted to know a
    record's lines: a record cut in half would make its quote look unused."""

    def __init__(self):
        self.lines: list[str] = []
        self.size = 0
        self.line: list[str] | None = []  # pieces of the line being read; None: too long
        self.line_bytes = self.line_quotes = 0
        self.record_start = 0  # lines kept before the record being read
        self.open_quote = False  # the record being read continues on the next line
        self.dropping = False  # the record being read holds a line too long
        self.header_too_long = False
        self.quoted_across_lines = False  # a dropped record had a quoted field over lines

    @property
    def full(self) -> bool:
        return len(self.lines) >= SNIFF_LINES or self.size >= SNIFF_BYTES

    def add(self, text: str) -> None:
        for match in LINE.finditer(text):
            piece = match.group()
            if not piece:
                continue
            self.line_quotes += piece.count('"')
            if self.line is not None:
                self.line_bytes += len(piece.encode("utf-8"))
                if self.line_bytes > MAX_LINE_BYTES:
                    self.line = None
                else:
                    self.line.append(piece)
            if piece[-1] in "\r\n":
                self._end()
                if self.full:
                    return

    def _end(self) -> None:
        if self.line is None:  # too long: its whole record is left out
            self.header_too_long = self.header_too_long or not self.lines and not self.size
            self.quoted_across_lines |= self.open_quote or self.line_quotes % 2 == 1
            del self.lines[self.record_start:]
            self.dropping = True
        elif not self.dropping:
            self.lines.append("".join(self.line))
            self.size += self.line_bytes
        self.open_quote ^= self.line_quotes % 2 == 1
        if not self.open_quote:
            self.record_start, self.dropping = len(self.lines), False
        self.line, self.line_bytes, self.line_quotes = [], 0, 0

    def finish(self) -> None:
        if self.line is None or self.line:  # the last line, without a line end
            self._end()

    def text(self) -> str:
        return "".join(self.lines).removeprefix("\ufeff")  # a byte order mark is no name


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
                f"{kind.name} file has unknown column(s) {', '.join(map(_shown, unknown))}; "
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
    pattern = (TEXT_PATTERNS.get(type_) if type_ not in PATTERNS_WHEN_INFERRING or inferring
               else None)
    return f"(regexp_matches({text}, {lit(pattern)}) AND {fits})" if pattern else fits


def _cast(raw: str, source_type: str, type_: str, *,
          lower: bool = False) -> tuple[str, list[Check]]:
    """SQL for the stored value of ``raw`` (SQL of a value of DuckDB type ``source_type``) as
    ``type_``, and the checks it must pass, in order: the first one it fails is its reason."""
    target = STORAGE_TYPES[type_]
    if source_type == "VARCHAR":
        text = f"NULLIF(trim({raw}), '')"
        if type_ == "text":
            return (f"lower({text})" if lower else text), []
        value = f"TRY_CAST({text} AS {target})"
        checks = []
        if type_ in NUMBER_TYPES:  # DuckDB reads NaN, inf and 1e999 as doubles
            checks.append((f"coalesce(NOT isfinite(TRY_CAST({text} AS DOUBLE)), false)",
                           RANGE_HINTS["finite"]))
        fits = _text_fits(text, type_)
        if type_ == "date":  # a time of day other than midnight would be cut off
            fits += (f" AND coalesce(CAST(TRY_CAST({text} AS TIMESTAMP) AS TIME) "
                     "= TIME '00:00:00', true)")
        checks.append((f"({text} IS NOT NULL AND NOT ({fits}))", TYPE_HINTS[type_]))
        return value, checks + _range_checks(value, type_, text)
    if type_ == "text":
        value = f"CAST({raw} AS VARCHAR)"
        return (f"lower({value})" if lower else value), []
    value = f"TRY_CAST({raw} AS {target})"
    checks = []
    if type_ in NUMBER_TYPES and source_type in ("DOUBLE", "FLOAT"):
        checks.append((f"coalesce(NOT isfinite({raw}), false)", RANGE_HINTS["finite"]))
    # Typed sources: nothing rounded or cut, so the value must come back unchanged from its
    # stored type (3.125 as a decimal is 3.13; 2026-03-05 23:30 as a date is 2026-03-05).
    checks.append((f"({raw} IS NOT NULL AND ({value} IS NULL OR "
                   f"TRY_CAST({value} AS {source_type}) IS DISTINCT FROM {raw}))",
                   TYPE_HINTS[type_]))
    return value, checks + _range_checks(value, type_)


def _range_checks(value: str, type_: str, text: str | None = None) -> list[Check]:
    """Dates and timestamps within EARLIEST_DAY..LATEST_DAY (judged in the workbench timezone,
    as event dates are), and a timestamp written with a UTC offset within the real ones."""
    if type_ == "date":
        return [(f"coalesce({value} NOT BETWEEN DATE '{EARLIEST_DAY}' AND DATE '{LATEST_DAY}', "
                 "false)", RANGE_HINTS["date"])]
    if type_ != "timestamp":
        return []
    first, after = f"CAST('{EARLIEST_DAY}' AS TIMESTAMPTZ)", f"CAST('{LATEST_DAY}' AS TIMESTAMPTZ)"
    checks = [(f"coalesce(NOT ({value} >= {first} AND {value} < {after} + INTERVAL 1 DAY), false)",
               RANGE_HINTS["timestamp"])]
    if text is not None:
        # The offset is the written wall-clock time (read without its zone) minus the instant.
        offset = f"epoch(TRY_CAST({text} AS TIMESTAMP)) - epoch({value})"
        checks.append((f"coalesce(CASE WHEN isfinite({value}) THEN abs({offset}) > "
                       f"{MAX_UTC_OFFSET_HOURS * 3600} END, false)", RANGE_HINTS["offset"]))
    return checks


def _original_text(columns: list[_Planned]) -> str:
    """The file's own text of a row, packed as one struct (for the rejects file)."""
    return "struct_pack(" + ", ".join(
        f"{ident('_raw_' + c.name)} := CAST(source.{ident(c.source)} AS VARCHAR)"
        for c in columns) + ")"


def _stage(conn, kind: Kind, columns: list[_Planned], today: date) -> None:
    """``today``: the workbench's (a birth date after it cannot be true)."""
    typed, reasons = [], []
    for column in columns:
        value, checks = _cast(ident(column.source), column.source_type, column.type,
                              lower=column.name == "gender")
        if kind.name == "profiles" and column.name == "birth_date":
            checks.append((f"coalesce({value} > DATE '{today}', false)",
                           f"a day up to today ({today}): a birth date cannot be in the future"))
        typed.append(f"{value} AS {ident(column.name)}")
        # 'points "lots" is not a whole number': the first check the value fails.
        written = f"{lit(column.source + ' ' + chr(34))} || CAST({ident(column.source)} AS VARCHAR)"
        if checks:
            reasons.append("CASE " + " ".join(
                f"WHEN {failed} THEN {written} || {lit(chr(34) + ' is not ' + hint)}"
                for failed, hint in checks) + " END")
        if column.required:
            failed = " OR ".join(failed for failed, _ in checks) or "false"
            reasons.append(f"CASE WHEN {value} IS NULL AND NOT ({failed}) "
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
    keys = " AND ".join(f"a.{ident(k)} = o.{ident(k)}" for k in kind.key)
    for name, (old, new) in changes.items():
        _, checks = _cast(f"o.{ident(name)}", STORAGE_TYPES[old], new)
        if not checks:
            continue  # to text: every value has one
        failed = " OR ".join(condition for condition, _ in checks)
        examples = [row[0] for row in conn.execute(
            f"SELECT DISTINCT CAST(o.{ident(name)} AS VARCHAR) FROM {_stored(snapshot, kind.name)} o "
            f"WHERE ({failed}) AND NOT EXISTS (SELECT 1 FROM accepted a WHERE {keys}) "
            "ORDER BY 1 LIMIT 3").fetchall()]
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
    target = home.rejects_dir / f"{kind.name}-{stamp}-{path.stem}.csv"
    originals = ", ".join(f"_raw.{ident('_raw_' + c.name)} AS {ident(c.source)}" for c in columns)
    nulls = ", ".join(f"NULL AS {ident(c.source)}" for c in columns)
    conn.execute("CREATE OR REPLACE TEMP TABLE malformed (line BIGINT, error VARCHAR, text VARCHAR)")
    if malformed:
        conn.executemany("INSERT INTO malformed VALUES (?, ?, ?)", malformed)
    conn.execute(
        f"COPY (SELECT {originals}, _reason, NULL AS _malformed_line FROM staged "
        f"WHERE _reason IS NOT NULL "
        f"UNION ALL SELECT {nulls}, 'line ' || line || ': ' || error, text "
        f"FROM malformed) TO {lit(str(target))} (HEADER, DELIMITER ',')")
    return make_private(target)


def _merge(conn, home: Home, kind: Kind, columns: list[_Planned],
           snapshot: Snapshot, now: datetime) -> tuple[int, int, NewVersion]:
    """Upsert ``accepted`` into the snapshot's version as a new version file; return (new keys,
    updated keys, the version)."""
    stored_path = snapshot.file(kind.name)
    stored = snapshot.versions[kind.name].columns  # column -> our type name
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
                # A changed type converts the stored values (_check_conversions made sure that
                # every one kept converts without loss; a replaced one may not, hence TRY_CAST).
                type_ = in_file[name].type
                kept = f"CAST(o.{ident(name)} AS {STORAGE_TYPES[type_]})"
                if stored[name] != type_:
                    kept, _ = _cast(f"o.{ident(name)}", STORAGE_TYPES[stored[name]], type_)
                pick.append(f"CASE WHEN n._new THEN n.{ident(name)} "
                            f"ELSE {kept} END AS {ident(name)}")
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
    target = folder / f"v-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
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
