"""The rows of an export (SPEC 7): the members of the audience as of its last processing,
ordered by customer_id, with the configured columns.

One query joins the membership file to the features of that day (only the columns the export
reads) and selects each column: an attribute, or a template that is only ``{{field}}``, is a
column expression; a template with Handlebars logic is rendered per row in Python over the
customer record (pybars3). Used by the preview now, and by export runs, batch by batch.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from ..customers.features import Day, Tables, features_query
from ..query import sql
from .models import ExportConfig
from .templates import compile_template, plain_field, record_fields

RECORD = "record"
TAGS_TEXT = "text:tags"


def needed_fields(config: ExportConfig, fields: set[str]) -> set[str]:
    """Feature columns the export reads (a real template may read any field)."""
    needed = set()
    for column in config.columns:
        source = column.attribute or plain_field(column.template or "", fields)
        if source:
            needed.add(source)
        else:
            needed |= fields
    return {n for n in needed if n != "customer_id"}


def rows_query(config: ExportConfig, tables: Tables, day: Day, membership: exp.Expression,
               audience_id: int, profile_fields: tuple[str, ...],
               group: exp.Expression | None = None) -> tuple[exp.Select, list]:
    """The query, and per column either the name of its result column or a compiled template
    (rendered from the record columns). ``group``: the condition on the membership rows of
    the export's group (memberships.in_group)."""
    fields = record_fields(profile_fields, tables.appended_columns)
    needed = needed_fields(config, fields)
    features = features_query(tables, day, needed)
    members = exp.select("customer_id").from_(membership).where(
        exp.EQ(this=exp.column("audience_id"), expression=exp.Literal.number(audience_id)))
    if group is not None:
        members = members.where(group)
    # Every member, with the features of those the base has: the members on the right, where
    # a hash join keeps its table, so the base's features stream past it (features_query's own
    # joins keep theirs, one row per customer, on the right too) and only the sort holds rows;
    # DuckDB keeps sides as written when it writes a file (DuckDBEngine.streaming).
    query = exp.select().from_(exp.Subquery(this=features, alias=exp.to_identifier("f"))).join(
        exp.Subquery(this=members, alias=exp.to_identifier("m")),
        on="f.customer_id = m.customer_id", join_type="right")
    plan: list = []
    wanted = sorted(needed | {"customer_id"})
    for name in wanted:
        source = "m" if name == "customer_id" else "f"
        query = query.select(exp.alias_(sql.column(name, source), f"{RECORD}:{name}",
                                        quoted=True))
    if "tags" in wanted:  # as a value: "a,b" (as Handlebars prints a list), not "[a, b]"
        query = query.select(exp.alias_(exp.func("array_to_string", sql.column("tags", "f"),
                                           exp.Literal.string(",")),
            TAGS_TEXT, quoted=True))
    for column in config.columns:
        source = column.attribute or plain_field(column.template or "", fields)
        if source == "tags":
            plan.append(TAGS_TEXT)
            continue
        plan.append(f"{RECORD}:{source}" if source else compile_template(column.template))
    return query.order_by("m.customer_id"), plan


MAX_CELL = 65_536  # characters a template may render for one value


def render(batch: list[dict], plan: list) -> Iterator[list]:
    """Rows of values in column order, from record rows. A template that renders more than
    ``MAX_CELL`` characters for one value stops the file (no partner wants such a cell)."""
    for row in batch:
        record = None
        values = []
        for step in plan:
            if isinstance(step, str):
                values.append(row[step])
                continue
            if record is None:
                record = _record(row)
            value = step(record)
            if len(value) > MAX_CELL:
                from ..errors import InvalidInput

                raise InvalidInput(f"a template column rendered {len(value):,} characters for "
                                   f"customer {row.get(RECORD + ':customer_id')}; at most "
                                   f"{MAX_CELL:,} per value")
            values.append(value)
        yield values


def _record(row: dict) -> dict:
    """The customer record a template sees: ``appended`` and ``rfm`` as nested objects."""
    record: dict = {}
    for key, value in row.items():
        if not key.startswith(f"{RECORD}:"):
            continue
        name = key.removeprefix(f"{RECORD}:")
        head, _, rest = name.partition(".")
        if rest:
            record.setdefault(head, {})[rest] = _plain(value)
        else:
            record[name] = _plain(value)
    return record


def _plain(value):
    if value is None:
        return ""
    if isinstance(value, list):
        return _Joined(_plain(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class _Joined(list):
    """A list that prints as Handlebars prints one: its items joined by commas."""

    def __str__(self) -> str:
        return ",".join(str(v) for v in self)
