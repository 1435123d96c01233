"""Quoting for the few SQL names and literals we compose ourselves, through SQLGlot.

Customer values are never pasted into SQL: they are bound parameters or stay in columns. What is
composed is column names (a file's header, appended attribute names) and our own messages; these
two helpers quote them so that any header, however odd, stays a name.
"""

from __future__ import annotations


def ident(name: str) -> str:
    from sqlglot import exp  # on first use: commands that compose no SQL never load it

    return exp.to_identifier(name, quoted=True).sql("duckdb")


def lit(value: str) -> str:
    from sqlglot import exp

    return exp.Literal.string(value).sql("duckdb")
