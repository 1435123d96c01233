"""Writing an export's CSV (SPEC 7): header of labels, LF or CRLF, comma, tab, pipe or
semicolon, RFC 4180 quoting of delimiters, quotes and line breaks inside values, UTF-8.

Streamed, so memory stays flat whatever the audience's size: when every column is an attribute
or a plain ``{{field}}`` template, DuckDB's COPY writes the file straight from the query; when a
template has Handlebars logic, record batches come from the query and Python's csv module writes
them with the templates rendered row by row (so do the rows of an engine that writes no local
file, Spark).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp

from ..sql import lit
from .models import DELIMITERS, RECORD_DELIMITERS, ExportConfig
from .rows import render

if TYPE_CHECKING:
    from ..customers.engine import Engine

BATCH_ROWS = 50_000


@dataclass
class Written:
    rows: int
    bytes: int
    as_of: object = None  # the processed day whose members were written


def write_csv(engine: Engine, config: ExportConfig, query: exp.Select, plan: list,
              target: Path) -> Written:
    """Write the rows of ``query`` (from ``rows.rows_query``) to ``target``."""
    copy = engine.copies_files and all(isinstance(step, str) for step in plan) and \
        not config.csv.neutralize_formulas  # each text value is looked at: rendered in Python
    write = _copy if copy else _render
    # Each try writes the whole file afresh; memory stays bounded (engine.streaming).
    rows = engine.streamed(lambda: write(engine, config, query, plan, target))
    return Written(rows=rows, bytes=target.stat().st_size)


def _copy(engine: Engine, config: ExportConfig, query: exp.Select, plan: list,
          target: Path) -> int:
    """Every column is a column of the query: DuckDB writes the file."""
    columns = [exp.alias_(exp.column(exp.to_identifier(step, quoted=True)),
                          f"c{i}", quoted=True) for i, step in enumerate(plan)]
    select = exp.select(*columns).from_(exp.Subquery(this=query, alias=exp.to_identifier("q")))
    options = _options(config)
    # COPY answers with the number of rows it wrote: the query runs once.
    [(rows,)] = engine.rows(f"COPY ({select.sql('duckdb')}) TO {lit(str(target))} ({options})")
    if config.csv.header:  # DuckDB writes the query's column names; labels go in their place
        _replace_header(target, config)
    return rows


def _options(config: ExportConfig) -> str:
    delimiter = DELIMITERS[config.csv.field_delimiter]
    new_line = "\\r\\n" if config.csv.record_delimiter == "CRLF" else "\\n"
    return (f"FORMAT csv, HEADER {str(config.csv.header).lower()}, DELIMITER {lit(delimiter)}, "
            f"QUOTE '\"', ESCAPE '\"', NEW_LINE {lit(new_line)}")


def _replace_header(target: Path, config: ExportConfig) -> None:
    """Swap DuckDB's header line (c0,c1,…) for the labels, quoted by the same rules; the file
    is rewritten through a small buffer, never read whole."""
    header = _line([c.header for c in config.columns], config)
    temporary = target.with_name(target.name + ".h")
    with open(target, "rb") as source, open(temporary, "wb") as out:
        source.readline()
        out.write(header.encode("utf-8"))
        while chunk := source.read(1 << 20):
            out.write(chunk)
    temporary.replace(target)


def _line(values: list, config: ExportConfig) -> str:
    import io

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=DELIMITERS[config.csv.field_delimiter],
               lineterminator=RECORD_DELIMITERS[config.csv.record_delimiter],
               quoting=csv.QUOTE_MINIMAL).writerow(values)
    return buffer.getvalue()


def csv_text(header: list[str], rows: list[list], config: ExportConfig) -> str:
    """Rows as the export writes them (for a preview)."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=DELIMITERS[config.csv.field_delimiter],
                        lineterminator=RECORD_DELIMITERS[config.csv.record_delimiter],
                        quoting=csv.QUOTE_MINIMAL)
    if config.csv.header:
        writer.writerow(header)
    writer.writerows(_cells(row, config) for row in rows)
    return buffer.getvalue()


def _render(engine: Engine, config: ExportConfig, query: exp.Select, plan: list,
            target: Path) -> int:
    """Templates with logic: record batches from DuckDB, rows rendered and written by Python."""
    rows = 0
    with open(target, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=DELIMITERS[config.csv.field_delimiter],
                            lineterminator=RECORD_DELIMITERS[config.csv.record_delimiter],
                            quoting=csv.QUOTE_MINIMAL)
        if config.csv.header:
            writer.writerow([c.header for c in config.columns])
        for batch in engine.batches(query, BATCH_ROWS):
            values = list(render(batch, plan))
            writer.writerows(_cells(row, config) for row in values)
            rows += len(values)
    return rows


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: list, config: ExportConfig) -> list[str]:
    if not config.csv.neutralize_formulas:
        return [_text(v) for v in row]
    # Text only: a negative amount is a number, not a formula.
    return [("'" + v if v.startswith(FORMULA_STARTS) else v) if isinstance(v, str)
            else _text(v) for v in row]


def _text(value) -> str:
    """As DuckDB's COPY writes a value: empty for NULL, ISO dates, plain decimals."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _timestamp(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)



def _timestamp(value: datetime) -> str:
    """As DuckDB's COPY writes a timestamp: fractional seconds without trailing zeros, the
    offset as -04, +05:30 or -04:56:02 (the same file from either path, and from Spark)."""
    text = value.replace(tzinfo=None).isoformat(sep=" ")
    if value.microsecond:
        text = text.rstrip("0")
    offset = value.utcoffset()
    if offset is None:
        return text
    seconds = int(offset.total_seconds())
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return (text + f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes or seconds else "")
            + (f":{seconds:02d}" if seconds else ""))
