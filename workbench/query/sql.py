"""Quoting, in one place: the names and values we put into SQLGlot trees.

Customer values are never pasted into SQL: they are bound parameters or stay in columns. What is
composed is column names (a file's header, appended attribute names), file paths and our own
messages; these helpers quote them so that any header, however odd, stays a name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp


def name(text: str) -> exp.Identifier:
    """A name, quoted whatever it holds."""
    from sqlglot import exp  # on first use: commands that compose no SQL never load it

    return exp.to_identifier(text, quoted=True)


def column(text: str, table: str | None = None) -> exp.Column:
    """A column by its name (any text: a file's header, an attribute), of the table aliased
    ``table`` (one of ours) if given."""
    from sqlglot import exp

    return exp.column(name(text), table=table)


def string(value: str) -> exp.Literal:
    from sqlglot import exp

    return exp.Literal.string(value)


def parquet(path: str | Path, alias: str | None = None) -> exp.Table:
    """A Parquet file as a table (each engine reads it from where it sees the file)."""
    from sqlglot import exp

    table = exp.Table(this=exp.ReadParquet(expressions=[string(str(path))]))
    if alias:
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return table
