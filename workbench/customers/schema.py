"""The customer data contract (SPEC 3): kinds of file, their columns, types and keys.

Pure data, no IO. The ingest turns each column type into a check (which rows fail, and why) and
a cast; the engine reads the stored Parquet files back with the same names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Column types a user can name (also in `ingest appended --schema`), with their DuckDB storage type.
STORAGE_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "decimal": "DECIMAL(18,2)",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMPTZ",
}

# What each type accepts, for rejection messages.
TYPE_HINTS: dict[str, str] = {
    "text": "text",
    "integer": "a whole number",
    "double": "a finite number",
    "decimal": "a decimal number with at most 2 decimal places (and 16 digits before the point)",
    "boolean": "true/false, yes/no, 1/0",
    "date": "a date YYYY-MM-DD",
    "timestamp": "a timestamp YYYY-MM-DD[ HH:MM[:SS]][+HH:MM]",
}

# Dates and timestamps outside these days are refused (a year 0, -1 or 10000 is a typo, and
# Python cannot hold it); so are UTC offsets beyond this many hours (real zones span -12 to +14).
EARLIEST_DAY = "1900-01-01"
LATEST_DAY = "9999-12-31"
MAX_UTC_OFFSET_HOURS = 14

# Further checks of a value of the right type, each with its own rejection hint.
RANGE_HINTS: dict[str, str] = {
    "finite": "a finite number",
    "date": f"a date from {EARLIEST_DAY} to {LATEST_DAY}",
    "timestamp": f"a timestamp from {EARLIEST_DAY} to {LATEST_DAY}",
    "offset": f"a timestamp with a UTC offset within ±{MAX_UTC_OFFSET_HOURS:02}:00",
    "control": "free of control characters (NUL, escape codes and the like; tabs and "
               "line breaks are allowed)",
    "line": "one line free of control characters (a line break in it is often a stray "
            "pair of quotes that joined the lines between them; tabs are allowed)",
}

# Text encodings a CSV file may be in (`ingest --encoding`): the ones DuckDB's CSV reader
# knows, with the Python codec that checks them (DuckDB reads UTF-16 as little-endian).
ENCODINGS: dict[str, str] = {"utf-8": "utf-8", "latin-1": "latin-1", "utf-16": "utf-16-le"}

# Order in which appended column types are inferred: the first type every value fits wins.
INFERENCE_ORDER = ("integer", "double", "boolean", "date", "timestamp")

# What the text of a value must look like, beyond DuckDB accepting the cast: casts round
# ('1.5' AS BIGINT is 2) or drop parts ('2026-03-05 23:30' AS DATE), and nothing may be lost.
# Dates and timestamps are held to their pattern only when inferring a type (a date column may
# be given timestamps at midnight, as many exports write them; DuckDB reads more timestamp
# spellings than ours), so that words DuckDB reads as times ('epoch') do not make a column one.
TEXT_PATTERNS = {
    "integer": r"^\s*[-+]?[0-9]+\s*$",
    "decimal": r"^\s*[-+]?[0-9]+(\.[0-9]{1,2})?\s*$",
    "date": r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*$",
    "timestamp": r"^\s*[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?$",
}
PATTERNS_WHEN_INFERRING = frozenset({"date", "timestamp"})

APPENDED_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool = False


@dataclass(frozen=True)
class Kind:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    open_columns: bool = False  # appended: any further column is a custom attribute
    # Versions are written in this order, so that a rule's window (tags in the last 90 days)
    # reads only the row groups whose min/max fall in it instead of the whole file.
    stored_order: tuple[str, ...] = ()

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def has_customer(self) -> bool:
        return any(c.name == "customer_id" for c in self.columns)


KINDS: dict[str, Kind] = {
    "profiles": Kind(
        "profiles",
        (
            Column("customer_id", "text", True),
            Column("first_name", "text"),
            Column("last_name", "text"),
            Column("email", "text"),
            Column("gender", "text"),
            Column("birth_date", "date"),
            Column("home_city", "text"),
            Column("home_state", "text"),
            Column("created_at", "timestamp"),
        ),
        key=("customer_id",),
    ),
    "transactions": Kind(
        "transactions",
        (
            Column("transaction_id", "text", True),
            Column("customer_id", "text", True),
            Column("occurred_at", "timestamp", True),
            Column("amount", "decimal", True),
            Column("store_id", "text"),
            Column("channel", "text"),
        ),
        key=("transaction_id",),
    ),
    "tags": Kind(
        "tags",
        (
            Column("customer_id", "text", True),
            Column("tag", "text", True),
            Column("occurred_at", "timestamp", True),
        ),
        key=("customer_id", "tag", "occurred_at"),
        stored_order=("occurred_at",),
    ),
    "appended": Kind(
        "appended",
        (Column("customer_id", "text", True),),
        key=("customer_id",),
        open_columns=True,
    ),
}


def type_of_storage(duck_type: str | None) -> str | None:
    """Our type name for a stored DuckDB column type (None when there is no such column)."""
    if duck_type is None:
        return None
    if duck_type.startswith("DECIMAL"):
        return "decimal"
    if duck_type.startswith("TIMESTAMP"):
        return "timestamp"
    by_storage = {v: k for k, v in STORAGE_TYPES.items()}
    return by_storage.get(duck_type, "text")


def appended_column_name(raw: str) -> str:
    """The attribute-safe name of a custom column: 'Loyalty Tier' -> 'loyalty_tier'."""
    name = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    if name and name[0].isdigit():
        name = "_" + name
    return name


def parse_schema_option(text: str) -> dict[str, str]:
    """``--schema 'points=integer,tier=text'`` -> {'points': 'integer', 'tier': 'text'}."""
    types: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, type_ = part.partition("=")
        if not sep or type_.strip() not in STORAGE_TYPES:
            raise ValueError(f"--schema entry {part!r}: expected COLUMN=TYPE with TYPE one of "
                             f"{', '.join(STORAGE_TYPES)}")
        types[appended_column_name(name)] = type_.strip()
    return types
