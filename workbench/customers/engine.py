"""DuckDB over the home's Parquet files.

Every process opens its own in-memory DuckDB connection and reads the Parquet files: a DuckDB
database file opened for writing locks out every other process (TOOLCHAIN), and the home is used
by several at once. Writers replace a Parquet file atomically (write a temporary file, then
``os.replace``), so a reader sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .schema import KINDS, STORAGE_TYPES

if TYPE_CHECKING:
    import duckdb

    from ..home import Home
    from ..settings import Settings


def connect(home: Home, settings: Settings) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory connection with this home's limits, timezone and customer views."""
    import duckdb

    config = {
        "memory_limit": settings.engine.memory_limit,
        "temp_directory": str(home.tmp_dir),
    }
    if settings.engine.threads:
        config["threads"] = settings.engine.threads
    conn = duckdb.connect(":memory:", config=config)
    # After connecting: TimeZone lives in the icu extension, which loads on first use.
    conn.execute("SET TimeZone = $tz", {"tz": settings.timezone})
    conn.execute("SET enable_progress_bar = false")  # it would print into CLI output
    refresh_views(conn, home)
    return conn


def data_file(home: Home, kind: str) -> Path:
    return home.customers_dir / f"{kind}.parquet"


def refresh_views(conn: duckdb.DuckDBPyConnection, home: Home) -> None:
    """(Re)define one view per kind; a kind never ingested is an empty table of its columns."""
    for kind in KINDS.values():
        path = data_file(home, kind.name)
        if path.exists():
            source = f"SELECT * FROM read_parquet({_quote(str(path))})"
        else:
            columns = ", ".join(f"CAST(NULL AS {STORAGE_TYPES[c.type]}) AS {c.name}"
                                for c in kind.columns)
            source = f"SELECT {columns} WHERE false"
        conn.execute(f"CREATE OR REPLACE VIEW {kind.name} AS {source}")


def stored_types(conn: duckdb.DuckDBPyConnection, home: Home, kind: str) -> dict[str, str]:
    """Column -> DuckDB type of a stored kind ({} if never ingested)."""
    path = data_file(home, kind)
    if not path.exists():
        return {}
    rows = conn.execute(f"DESCRIBE SELECT * FROM read_parquet({_quote(str(path))})").fetchall()
    return {name: type_ for name, type_, *_ in rows}


@contextmanager
def replacing(path: Path):
    """Yield a temporary path next to ``path``; on success it atomically becomes ``path``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
