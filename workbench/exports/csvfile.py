"""Writing an export's CSV (SPEC 7): header of labels, LF or CRLF, comma, tab, pipe or
semicolon, RFC 4180 quoting of delimiters, quotes and line breaks inside values, UTF-8.

Streamed, so memory stays flat whatever the audience's size: when every column is an attribute
or a plain ``{{field}}`` template, the engine writes the file from the query
(``Engine.write_csv``: DuckDB's COPY, or rows streamed to this process); when a template has
Handlebars logic, record batches come from the query and Python's csv module writes them with
the templates rendered row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlglot import exp

from ..query.csv import BATCH_ROWS, CsvDialect, cell, write_rows
from ..query.sql import column
from .models import DELIMITERS, RECORD_DELIMITERS, ExportConfig
from .rows import render

if TYPE_CHECKING:
    from ..query.engine import Engine


@dataclass
class Written:
    rows: int
    bytes: int
    as_of: object = None  # the processed day whose members were written


def write_csv(engine: Engine, config: ExportConfig, query: exp.Select, plan: list,
              target: Path) -> Written:
    """Write the rows of ``query`` (from ``rows.rows_query``) to ``target``."""
    plain = all(isinstance(step, str) for step in plan) and \
        not config.csv.neutralize_formulas  # each text value is looked at: rendered in Python
    write = _plain if plain else _render
    # Each try writes the whole file afresh; memory stays bounded (engine.streaming).
    rows = engine.streamed(lambda: write(engine, config, query, plan, target))
    return Written(rows=rows, bytes=target.stat().st_size)


def _plain(engine: Engine, config: ExportConfig, query: exp.Select, plan: list,
           target: Path) -> int:
    """Every column is a column of the query: the engine writes the file."""
    columns = [exp.alias_(column(step), f"c{i}", quoted=True) for i, step in enumerate(plan)]
    select = exp.select(*columns).from_(exp.Subquery(this=query, alias=exp.to_identifier("q")))
    return engine.write_csv(select, target, options(config))


def options(config: ExportConfig) -> CsvDialect:
    """The file's CSV dialect, and its header of labels if it has one."""
    return CsvDialect(delimiter=DELIMITERS[config.csv.field_delimiter],
                      new_line=RECORD_DELIMITERS[config.csv.record_delimiter],
                      header=[c.header for c in config.columns] if config.csv.header else None)


def csv_text(header: list[str], rows: list[list], config: ExportConfig) -> str:
    """Rows as the export writes them (for a preview)."""
    import io

    buffer = io.StringIO()
    writer = options(config).writer(buffer)
    if config.csv.header:
        writer.writerow(header)
    writer.writerows(_cells(row, config) for row in rows)
    return buffer.getvalue()


def _render(engine: Engine, config: ExportConfig, query: exp.Select, plan: list,
            target: Path) -> int:
    """Templates with logic: record batches from the engine, rows rendered and written by
    Python."""
    rows = (_neutralized(row) if config.csv.neutralize_formulas else row
            for batch in engine.batches(query, BATCH_ROWS) for row in render(batch, plan))
    return write_rows(rows, target, options(config))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cells(row: list, config: ExportConfig) -> list[str]:
    return [cell(v) for v in (_neutralized(row) if config.csv.neutralize_formulas else row)]


def _neutralized(row: list) -> list:
    # Text only: a negative amount is a number, not a formula.
    return [("'" + v if v.startswith(FORMULA_STARTS) else v) if isinstance(v, str) else v
            for v in row]
