"""Metadata tables. Models (pydantic) live with their services; these are only storage.

Migrations are numbered steps applied in order and recorded in ``schema_version``; a step only
ever adds (tables, columns), so an older reader keeps working while a newer one migrates.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

ingests = Table(
    "ingests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("source", Text, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("orphans", Integer, nullable=False),
    Column("rejects_file", Text),
    Column("ingested_by", String(200), nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
)

# (version, tables it creates). Append new steps; never edit a released one.
MIGRATIONS: list[tuple[int, list[Table]]] = [
    (1, [ingests]),
]
