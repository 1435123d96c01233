"""Holdout groups (SPEC 6): which members of an audience are kept out of its exports.

A member is in the holdout when the MD5 of the text ``"<audience id>:<customer id>"`` (UTF-8),
read as 32 hexadecimal digits, has its first 8 digits below ``P × 2³² / 100`` (rounded down),
P being the audience's ``holdout_percent``: the first P% of the hash range. The hash depends on
nothing but the two ids, so a customer who stays in the audience stays in the same group day
after day, on any engine. docs/audiences.md gives the same rule for a person to recompute.

The comparison is done on the text of the digits (lowercase hexadecimal of a fixed width sorts
as its numbers do), with functions that DuckDB and Spark both have: md5, substring, concat.
"""

from __future__ import annotations

import hashlib

from sqlglot import exp

GROUPS = ("treatment", "holdout")
MAX_PERCENT = 50
DIGITS = 8  # of the MD5 read: 2³² buckets, far finer than a whole percent
RANGE = 16 ** DIGITS


def threshold(percent: int) -> int:
    """The first hash value outside the holdout: values below it are in."""
    return percent * RANGE // 100


def in_holdout(audience_id: int, customer_id: str, percent: int) -> bool:
    """The rule in Python: what processing computes on the engine, for tests and people."""
    digest = hashlib.md5(f"{audience_id}:{customer_id}".encode()).hexdigest()
    return int(digest[:DIGITS], 16) < threshold(percent)


def holdout_condition(audience_id: int, percent: int,
                      customer_id: exp.Expression | None = None) -> exp.Expression:
    """True for the members of ``audience_id`` in its holdout, on either engine."""
    if not percent:
        return exp.false()
    customer = customer_id if customer_id is not None else exp.column("customer_id")
    text = exp.Concat(expressions=[exp.Literal.string(f"{int(audience_id)}:"),
                                   exp.cast(customer, "VARCHAR")])
    digits = exp.Substring(this=exp.MD5(this=text), start=exp.Literal.number(1),
                           length=exp.Literal.number(DIGITS))
    return digits < exp.Literal.string(f"{threshold(percent):0{DIGITS}x}")


def group_condition(audience_id: int, percent: int, group: str | None,
                    customer_id: exp.Expression | None = None) -> exp.Expression | None:
    """True for the members of ``group`` (None: every member, no condition), computed."""
    if group is None:
        return None
    held = holdout_condition(audience_id, percent, customer_id)
    return held if group == "holdout" else exp.not_(held)


def check_group(group: str | None) -> str | None:
    """``None`` (every member), ``treatment`` or ``holdout``; anything else refused."""
    if group is not None and group not in GROUPS:
        from ..errors import InvalidInput

        raise InvalidInput(f"group: treatment or holdout, not {str(group)[:40]!r}")
    return group
