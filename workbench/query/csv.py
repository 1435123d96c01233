"""CSV as every engine writes it: the dialect of a file (``CsvDialect``, made from an export's
``csv`` options in exports/csvfile.py) and each value as DuckDB's COPY writes it, so that a file
is the same bytes whichever engine or path wrote it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

BATCH_ROWS = 50_000  # rows streamed to this process at a time


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str  # one character
    new_line: str  # "\n" or "\r\n"
    header: list[str] | None  # the labels of the header line; None: no header line

    def writer(self, handle):
        """Python's csv writer in this dialect: RFC 4180 quoting of delimiters, quotes and line
        breaks inside values."""
        return csv.writer(handle, delimiter=self.delimiter, lineterminator=self.new_line,
                          quoting=csv.QUOTE_MINIMAL)

    def line(self, values: list) -> str:
        buffer = io.StringIO()
        self.writer(buffer).writerow(values)
        return buffer.getvalue()


def write_rows(rows: Iterable[list], path: Path, options: CsvDialect) -> int:
    """Rows of values written to ``path`` (UTF-8); the number of rows."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = options.writer(handle)
        if options.header is not None:
            writer.writerow(options.header)
        for row in rows:
            writer.writerow([cell(v) for v in row])
            count += 1
    return count


def cell(value) -> str:
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
        return "[" + ", ".join(cell(v) for v in value) + "]"
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
