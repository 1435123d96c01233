"""The operator table: for each rule operator, the types it applies to, how its value is checked,
its SQL (a SQLGlot tree; values are literals in the tree, never pasted text) and its English.

One table feeds the validator, the compiler and the targeting summary, so the plain-English
summary can never drift from the SQL that selects the members.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from ..days import parse_day
from ..errors import InvalidInput
from ..ids import parse_id
from .catalog import DATE_TYPES, NUMBER_TYPES, Attribute


class _Sqlglot:
    """``sqlglot.exp``, imported on first use: checking and summarising a definition (what
    `audience list` and `show` do) needs no SQL, and SQLGlot costs a tenth of a second to load."""

    def __getattr__(self, name: str):
        from sqlglot import exp as loaded

        return getattr(loaded, name)


exp = _Sqlglot()


TEXT = frozenset({"text"})
ORDERED = NUMBER_TYPES
SCALAR = TEXT | NUMBER_TYPES | DATE_TYPES | {"boolean"}

# Limits on values (docs/audiences.md). They keep every definition something the engines run
# and a person can read: amounts are DECIMAL(18,2), so a number beyond 1e15 cannot be meant;
# a day count beyond 100 years only overflows date arithmetic.
MAX_NUMBER = 10**15
MAX_TEXT_LENGTH = 1_000
MAX_VALUES = 1_000  # per list: in, has
MAX_DAYS = 36_500

# Characters no value needs: control characters (Unicode Cc: C0, DEL, C1), the Unicode line and
# paragraph separators, and lone surrogates (no database can store them). They would garble
# one-line messages, summaries and CSV files, or let text rewrite a terminal (ESC).
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


# -- values --------------------------------------------------------------------------------------

def scalar_value(attribute: Attribute, value: Any) -> Any:
    """Check one value against the attribute's type; return it in the form the SQL needs."""
    kind = attribute.type
    if kind == "text":
        if not isinstance(value, str) or value == "":
            raise ValueError("a non-empty text value (use is_known for unknown values)")
        check_text(value)
        return value.lower() if attribute.name == "gender" else value
    if kind in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ValueError("a number")
        return check_number(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value
    if kind in DATE_TYPES:
        if isinstance(value, date):
            return value
        try:
            return parse_day(value)
        except ValueError:
            raise ValueError("a date YYYY-MM-DD") from None
    if kind == "membership":
        try:
            return parse_id(value)
        except InvalidInput:
            raise ValueError("an audience id (a whole number)") from None
    raise ValueError(f"no values ({kind} attribute)")


def check_number(value: int | float | Decimal) -> int | float | Decimal:
    # NaN and infinity pass every type check and then break each processing run (JSON reads
    # NaN, Infinity and 1e400 as floats); Decimal('NaN') cannot even be compared.
    if not isinstance(value, int) and not (
            value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        raise ValueError("a finite number")
    if abs(value) > MAX_NUMBER:
        raise ValueError(f"a number from -{MAX_NUMBER:,} to {MAX_NUMBER:,}")
    return value


def check_text(value: str) -> str:
    if len(value) > MAX_TEXT_LENGTH:
        raise ValueError(f"a text of at most {MAX_TEXT_LENGTH:,} characters, not {len(value):,}")
    found = CONTROL.search(value)
    if found:
        raise ValueError(f"text without control characters (found {found.group()!r} at "
                         f"character {found.start() + 1})")
    return value


def _list(attribute: Attribute, value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError("a non-empty list of values")
    if len(value) > MAX_VALUES:
        raise ValueError(f"a list of at most {MAX_VALUES:,} values, not {len(value):,}")
    return [scalar_value(attribute, v) for v in value]


def _range(attribute: Attribute, value: Any) -> list:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("[low, high] (either may be null for an open end)")
    low, high = (None if v is None else scalar_value(attribute, v) for v in value)
    if low is None and high is None:
        raise ValueError("[low, high] with at least one bound")
    if low is not None and high is not None and low > high:
        raise ValueError(f"[low, high] with low <= high, not {json.dumps(value)}")
    return [low, high]


def _days(_attribute: Attribute, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS:
        raise ValueError(f"a whole number of days, at least 1 and at most {MAX_DAYS:,}")
    return value


def _nothing(_attribute: Attribute, value: Any) -> None:
    if value not in (None, True):
        raise ValueError("no value")
    return None


def _tags(_attribute: Attribute, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise ValueError("a non-empty list of tag names")
    if len(value) > MAX_VALUES:
        raise ValueError(f"a list of at most {MAX_VALUES:,} tag names, not {len(value):,}")
    return [check_text(v) for v in value]


# -- SQL -----------------------------------------------------------------------------------------

def literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | Decimal):
        return exp.Literal.number(str(value))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def _between(column: exp.Expression, value: list) -> exp.Expression:
    low, high = value
    parts = []
    if low is not None:
        parts.append(exp.GTE(this=column, expression=literal(low)))
    if high is not None:
        parts.append(exp.LTE(this=column.copy(), expression=literal(high)))
    return exp.and_(*parts)


def _within_last(column: exp.Expression, days: int, as_of: date) -> exp.Expression:
    # (D - N, D]: computed here, so the SQL holds two plain date literals on every engine.
    return exp.and_(exp.GT(this=column, expression=literal(as_of - timedelta(days=days))),
                    exp.LTE(this=column.copy(), expression=literal(as_of)))


def _contains(column: exp.Expression, value: str) -> exp.Expression:
    # contains(lower(x), lower(v)) rather than LIKE: % and _ stay plain characters everywhere.
    return exp.func("contains", exp.Lower(this=column), exp.Lower(this=literal(value)))


# -- English -------------------------------------------------------------------------------------

def text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _between_text(value: list) -> str:
    low, high = value
    if low is None:
        return f"at most {text_of(high)}"
    if high is None:
        return f"at least {text_of(low)}"
    return f"between {text_of(low)} and {text_of(high)}"


@dataclass(frozen=True)
class Operator:
    name: str
    types: frozenset[str]
    check: Callable[[Attribute, Any], Any]
    sql: Callable[[exp.Expression, Any, date], exp.Expression]
    english: Callable[[Any], str]


OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("in", SCALAR - {"boolean"} | {"membership"}, _list,
             lambda c, v, d: exp.In(this=c, expressions=[literal(x) for x in v]),
             lambda v: "in " + ", ".join(text_of(x) for x in v)),
    Operator("eq", SCALAR, scalar_value,
             lambda c, v, d: exp.EQ(this=c, expression=literal(v)),
             lambda v: f"is {text_of(v)}"),
    Operator("contains", TEXT, scalar_value, lambda c, v, d: _contains(c, v),
             lambda v: f'contains "{v}"'),
    Operator("gt", ORDERED, scalar_value, lambda c, v, d: exp.GT(this=c, expression=literal(v)),
             lambda v: f"greater than {text_of(v)}"),
    Operator("gte", ORDERED, scalar_value, lambda c, v, d: exp.GTE(this=c, expression=literal(v)),
             lambda v: f"at least {text_of(v)}"),
    Operator("lt", ORDERED, scalar_value, lambda c, v, d: exp.LT(this=c, expression=literal(v)),
             lambda v: f"less than {text_of(v)}"),
    Operator("lte", ORDERED, scalar_value, lambda c, v, d: exp.LTE(this=c, expression=literal(v)),
             lambda v: f"at most {text_of(v)}"),
    Operator("between", ORDERED | DATE_TYPES, _range, lambda c, v, d: _between(c, v),
             _between_text),
    Operator("before", DATE_TYPES, scalar_value,
             lambda c, v, d: exp.LT(this=c, expression=literal(v)),
             lambda v: f"before {text_of(v)}"),
    Operator("after", DATE_TYPES, scalar_value,
             lambda c, v, d: exp.GT(this=c, expression=literal(v)),
             lambda v: f"after {text_of(v)}"),
    Operator("within_last_days", DATE_TYPES, _days, _within_last,
             lambda v: f"in the last {v} days"),
    Operator("is_known", SCALAR, _nothing, lambda c, v, d: exp.Not(this=exp.Is(
        this=c, expression=exp.Null())), lambda v: "is known"),
    Operator("has", frozenset({"event"}), _tags, lambda c, v, d: c,  # compiler: windowed counts
             lambda v: "tag " + " or ".join(v)),
)}


def allowed_operators(attribute: Attribute) -> list[str]:
    return [op.name for op in OPERATORS.values() if attribute.type in op.types]
