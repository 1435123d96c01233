"""Changes-only files (SPEC 7, wave 3): what an export delivers, measured against what it last
delivered successfully. Pure rules and SQL (sqlglot); the run pipeline does the IO.

A run in a changes mode keeps the customer ids it delivers the changes up to (its members as
of its day, in its group) as a Parquet file of sorted ids; once the run is recorded Complete
that file is the export's baseline. Added = today's ids without the baseline's, removed = the
baseline's without today's: two anti-joins over id files, work in proportion to the lists and
not to the customer base. The rows of added members are the export's rows; the rows of
removed members hold their customer id only (their attributes may be gone, and a partner
only needs the id to drop them). The customer data their rows are computed from is read for
those ids alone (``restricted``), unless a column ranks customers against the whole base.
"""

from __future__ import annotations

from sqlglot import exp

from ..query.sql import parquet

MODES = ("full", "added", "removed", "both", "column")
CHANGE_COLUMN = "change"  # the last column of a "column" file, and its header label
RECORD = "record:"  # rows.py's prefix of the customer record's columns
CUSTOMER_ID = f"{RECORD}customer_id"


def labels(mode: str, first: bool) -> list[str]:
    """What ``{change}`` says of each file a run of ``mode`` delivers, in delivery order.
    The first run (no baseline) delivers the full list: one file labelled ``full`` in every
    mode but "column", whose file keeps its format (every row marked ``added``)."""
    if mode == "column":
        return ["changes"]
    if mode == "full" or first:
        return ["full"]
    return {"added": ["added"], "removed": ["removed"], "both": ["added", "removed"]}[mode]


def member_ids(membership: exp.Expression, audience_id: int,
               group: exp.Expression | None) -> exp.Select:
    """The ids a run's file delivers the changes up to: the audience's members in the
    export's group, sorted (the next run's baseline)."""
    query = exp.select("customer_id").from_(membership).where(
        exp.column("audience_id").eq(exp.Literal.number(audience_id)))
    if group is not None:
        query = query.where(group)
    return query.order_by("customer_id")


def difference(left: str, right: str, audience_id: int) -> exp.Subquery:
    """The ids in the id file ``left`` that are not in ``right`` (an anti-join), as a
    membership relation ``rows.rows_query`` reads (``customer_id``, ``audience_id``)."""
    query = (exp.select(exp.column("customer_id", "l"),
                        exp.alias_(exp.Literal.number(audience_id), "audience_id"))
             .from_(parquet(left, "l"))
             .join(parquet(right, "r"), on="l.customer_id = r.customer_id", join_type="left")
             .where(exp.column("customer_id", "r").is_(exp.null())))
    return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier("d")))


def only_ids(query: exp.Select) -> exp.Select:
    """The rows of ``query`` with every customer record column emptied but the customer id:
    what a removed member's row holds."""
    columns = [exp.column(name, "q", quoted=True) if name == CUSTOMER_ID else
               exp.alias_(exp.null(), name, quoted=True) for name in query.named_selects]
    return exp.select(*columns).from_(exp.Subquery(this=query, alias=exp.to_identifier("q")))


def marked(query: exp.Select, change: str) -> exp.Select:
    """The rows of ``query`` with the ``change`` column last."""
    columns = [exp.column(name, "q", quoted=True) for name in query.named_selects]
    return exp.select(*columns, exp.alias_(exp.Literal.string(change), CHANGE_COLUMN,
                                           quoted=True)).from_(
        exp.Subquery(this=query, alias=exp.to_identifier("q")))


def in_order(*queries: exp.Select) -> exp.Select:
    """The rows of the queries together, ordered by customer id."""
    union = queries[0] if len(queries) == 1 else exp.union(*queries, distinct=False)
    return exp.select("*").from_(exp.Subquery(this=union, alias=exp.to_identifier("u"))) \
        .order_by(exp.column(CUSTOMER_ID, "u", quoted=True))


def restricted(tables, ids: exp.Subquery, needed: set[str]):
    """The customer data of ``tables`` (``features.Tables``) for the customers of ``ids``
    only, so a changes-only file's rows cost in proportion to the changes; ``tables`` as
    they are when a needed column ranks a customer against the whole base (the RFM scores)."""
    from dataclasses import replace

    from ..customers.features import SCORES

    if needed & set(SCORES):
        return tables
    wanted = exp.select("customer_id").from_(ids.copy())

    def only(kind: str) -> exp.Select:
        return exp.select("*").from_(tables.read(kind, "k")).where(
            exp.column("customer_id", "k").isin(query=wanted.copy()))

    return replace(tables, **{kind: only(kind) for kind in
                              ("profiles", "transactions", "tags", "appended")})
