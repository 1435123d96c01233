"""Point-in-time customer features as of day D (SPEC 4), built from only the pieces a job needs.

One row per customer in the base as of D; each column is named as the attribute is named in
audience rules (``age``, ``rfm.monetary``, ``appended.loyalty_tier``), so that a rule's attribute
is directly a column. A job asks for the attributes it uses and gets a query that reads only
those columns and events: an estimate on age and gender reads three profile columns and no
transaction at all; the RFM aggregate, the tag lists and the score windows are added only when
asked for. ``wb.features(D)`` asks for everything and is assembled from the same pieces.

- Events dated after D do not exist: an event is kept when its instant is before the start of
  D + 1 in the workbench timezone. Comparing instants with one bound gives the same days as
  casting each event to a local date, at a fraction of the cost, and lets Parquet skip row groups.
- A purchase is a transaction with amount >= 0; refunds count in monetary only.
- Scores are quintiles among the base's purchasers, ties broken by customer_id; NULL otherwise.
- Money is summed as DECIMAL, and kept as DECIMAL(38,2): exact (DOUBLE sums differ in the last
  bit between runs and would move customers across quintile boundaries) and wide enough that
  sums of the largest amounts a transaction may hold never overflow (a DECIMAL(18,2) sum is
  already DECIMAL(38,2); casting each amount first would only cost time).

Pure: SQLGlot trees over the table expressions it is given; no connection, no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlglot import exp

from ..query import sql

PROFILE_COLUMNS = ("customer_id", "first_name", "last_name", "email", "gender", "birth_date",
                   "home_city", "home_state", "created_at")
RFM = ("rfm.recency_days", "rfm.frequency", "rfm.monetary")
SCORES = ("rfm.r_score", "rfm.f_score", "rfm.m_score")
DERIVED = ("age", *RFM, "tags", *SCORES)
MONEY = "DECIMAL(38, 2)"


@dataclass(frozen=True)
class Day:
    """Day D in the workbench timezone; ``end(d)`` is the first instant after day d."""

    day: date
    zone: ZoneInfo

    def end(self, day: date | None = None) -> exp.Expression:
        """The instant that starts the day after ``day`` (default D), as a TIMESTAMPTZ literal."""
        start = datetime.combine((day or self.day) + timedelta(days=1), time(0), self.zone)
        return exp.cast(exp.Literal.string(start.isoformat(sep=" ")),
                        exp.DataType.build("TIMESTAMPTZ"))

    def date(self) -> exp.Expression:
        return exp.cast(exp.Literal.string(self.day.isoformat()), exp.DataType.build("DATE"))


@dataclass(frozen=True)
class Tables:
    """Where the customer data of one snapshot is read from: a table expression per kind."""

    profiles: exp.Expression
    transactions: exp.Expression
    tags: exp.Expression
    appended: exp.Expression
    appended_columns: tuple[str, ...] = ()  # custom columns, without customer_id

    def read(self, kind: str, alias: str) -> exp.Expression:
        table = getattr(self, kind).copy()
        if isinstance(table, exp.Select):
            table = exp.Subquery(this=table)
        table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return table


def everything(tables: Tables) -> set[str]:
    """Every attribute column (what ``wb.features`` shows)."""
    return {*PROFILE_COLUMNS, *DERIVED, *(f"appended.{c}" for c in tables.appended_columns)}


def _by_customer(alias: str) -> exp.Expression:
    """``alias``.customer_id = p.customer_id: how a piece joins the profiles."""
    return exp.column("customer_id", alias).eq(exp.column("customer_id", "p"))


def _zero_if_null(value: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])


def features_query(tables: Tables, as_of: Day, needed: set[str],
                   purchases: str | None = None) -> exp.Select:
    """customer_id and the ``needed`` attribute columns, one row per customer of the base.
    ``purchases``: a table already holding ``purchase_aggregate`` (processing builds it once
    with the windows of its audiences beside it: one scan of the transactions per day)."""
    end, day = as_of.end(), as_of.date()
    needed = set(needed)
    if needed & set(SCORES):
        needed |= set(RFM)  # scores rank by these
    query = exp.select(sql.column("customer_id", "p")).from_(tables.read("profiles", "p")).where(
        exp.or_(exp.column("created_at", "p").is_(exp.null()),
                exp.LT(this=exp.column("created_at", "p"), expression=end)))
    for name in PROFILE_COLUMNS[1:]:
        if name in needed:
            query = query.select(sql.column(name, "p"))
    if "age" in needed:
        query = query.select(exp.alias_(_age(day), "age"))
    appended = sorted(c for c in tables.appended_columns if f"appended.{c}" in needed)
    if appended:
        columns = [sql.column("customer_id"), *(sql.column(c) for c in appended)]
        source = exp.select(*columns).from_(tables.read("appended", "a0"))
        query = query.join(exp.Subquery(this=source, alias=exp.to_identifier("a")),
                           on=_by_customer("a"), join_type="left")
        query = query.select(*(exp.alias_(sql.column(c, "a"), f"appended.{c}", quoted=True)
                               for c in appended))
    if needed & set(RFM):
        query = _with_rfm(query, tables, end, day, purchases)
    if "tags" in needed:
        tags = exp.ArraySort(this=exp.ArrayAgg(this=exp.Distinct(
            expressions=[exp.column("tag")])))
        lists = exp.select(exp.column("customer_id"), exp.alias_(tags, "tags")).from_(
            tables.read("tags", "t0")).where(
            exp.LT(this=exp.column("occurred_at"), expression=end)).group_by(
            exp.column("customer_id"))
        query = query.join(exp.Subquery(this=lists, alias=exp.to_identifier("t")),
                           on=_by_customer("t"), join_type="left")
        query = query.select(exp.alias_(exp.Coalesce(this=exp.column("tags", "t"),
                                                     expressions=[exp.Array()]), "tags"))
    if needed & set(SCORES):
        query = _with_scores(query)
    return query


def _age(day: exp.Expression) -> exp.Expression:
    """Full years between birth_date and D; a 29 February birthday falls on 1 March in common
    years. NULL when unknown or born after D."""
    born = exp.column("birth_date", "p")
    month, born_month = exp.Month(this=day.copy()), exp.Month(this=born.copy())
    before_birthday = exp.or_(
        exp.GT(this=born_month, expression=month),
        exp.paren(exp.and_(born_month.eq(month),
                           exp.GT(this=exp.Day(this=born.copy()), expression=exp.Day(
                               this=day.copy())))))
    years = exp.Sub(this=exp.Sub(this=exp.Year(this=day.copy()), expression=exp.Year(
        this=born.copy())), expression=exp.Case().when(before_birthday, exp.Literal.number(1))
        .else_(exp.Literal.number(0)))
    return exp.Case().when(exp.LTE(this=born, expression=day.copy()), years)


def purchase_aggregate(tables: Tables, end: exp.Expression) -> exp.Select:
    """Per customer with a transaction before ``end``: last_purchase_at, frequency (purchases)
    and monetary (purchases and refunds), from one scan of the transactions."""
    def purchases_only(aggregate: exp.Expression) -> exp.Filter:
        return exp.Filter(this=aggregate, expression=exp.Where(
            this=exp.GTE(this=exp.column("amount"), expression=exp.Literal.number(0))))

    return exp.select(
        exp.column("customer_id"),
        exp.alias_(purchases_only(exp.Max(this=exp.column("occurred_at"))), "last_purchase_at"),
        exp.alias_(purchases_only(exp.Count(this=exp.Star(), big_int=True)), "frequency"),
        exp.alias_(exp.Sum(this=exp.column("amount")), "monetary"),
    ).from_(tables.read("transactions", "x0")).where(
        exp.LT(this=exp.column("occurred_at"), expression=end)).group_by(
        exp.column("customer_id"))


def _with_rfm(query: exp.Select, tables: Tables, end: exp.Expression,
              day: exp.Expression, purchases: str | None = None) -> exp.Select:
    source = (exp.to_table(purchases, alias="r") if purchases else
              exp.Subquery(this=purchase_aggregate(tables, end), alias=exp.to_identifier("r")))
    query = query.join(source, on=_by_customer("r"), join_type="left")
    last = exp.cast(exp.column("last_purchase_at", "r"), exp.DataType.build("DATE"))
    return query.select(
        exp.alias_(exp.DateDiff(this=day, expression=last, unit=exp.var("DAY")),
                   "rfm.recency_days", quoted=True),
        exp.alias_(_zero_if_null(exp.column("frequency", "r")), "rfm.frequency", quoted=True),
        exp.alias_(exp.cast(_zero_if_null(exp.column("monetary", "r")),
                            exp.DataType.build(MONEY, dialect="duckdb")),
                   "rfm.monetary", quoted=True))


# The ranks that scores are quintiles of: (score, metric, whether a higher metric scores lower).
RANKED = (("rfm.r_score", "rfm.recency_days", True), ("rfm.f_score", "rfm.frequency", False),
          ("rfm.m_score", "rfm.monetary", False))
RANGES = 32  # value ranges each metric is cut into for ranking without one partition


def _with_scores(query: exp.Select, distributed: bool = False) -> exp.Select:
    """Quintiles ranked over the purchasers alone, on a narrow relation (id and the three
    metrics), then joined back: sorting the whole wide feature rows three times costs twice
    as much for the same ranks.

    ``distributed`` gives the same numbers without a window over all purchasers (which a
    cluster runs as one task): see ``_distributed_scores``. The Spark engine asks for it
    (query/spark.py); DuckDB sorts in parallel itself and keeps ntile (benchmarks/results/
    cluster.md)."""
    def quintile(metric: str) -> exp.Window:
        return exp.Window(this=exp.Anonymous(this="ntile", expressions=[exp.Literal.number(5)]),
                          order=exp.Order(expressions=[
                              exp.Ordered(this=sql.column(metric), desc=False, nulls_first=False),
                              exp.Ordered(this=exp.column("customer_id"), desc=False,
                                          nulls_first=False)]))

    purchasers = _purchasers()
    if distributed:
        scores = _distributed_scores(purchasers)
    else:
        scores = purchasers.select(
            exp.alias_(exp.Sub(this=exp.Literal.number(6),
                               expression=quintile("rfm.recency_days")), "rfm.r_score",
                       quoted=True),
            exp.alias_(quintile("rfm.frequency"), "rfm.f_score", quoted=True),
            exp.alias_(quintile("rfm.monetary"), "rfm.m_score", quoted=True))
    scores.meta[QUINTILES] = True  # the Spark engine finds it by this (distributed_scores)
    return exp.select(exp.column(exp.Star(), "b"), *(sql.column(s, "s") for s in SCORES)).from_(
        exp.to_table("base_features", alias="b")).join(
        exp.to_table("scores", alias="s"), join_type="left",
        on=exp.column("customer_id", "s").eq(exp.column("customer_id", "b"))).with_(
        "base_features", as_=query).with_("scores", as_=scores)


QUINTILES = "rfm_quintiles"


def _purchasers() -> exp.Select:
    """The customers scores rank: those with a purchase (refunds alone are not one)."""
    return exp.select(exp.column("customer_id")).from_("base_features").where(
        exp.GT(this=sql.column("rfm.frequency"), expression=exp.Literal.number(0)))


def distributed_scores(tree: exp.Expression) -> exp.Expression:
    """``tree`` with every scores query that ``_with_scores`` made in its ntile form replaced
    by the distributed one (for an engine that runs a window without PARTITION BY in one
    task)."""
    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Select) and node.meta.get(QUINTILES) and not node.meta.get(
                "distributed"):
            return _distributed_scores(_purchasers())
        return node

    swapped = tree.transform(swap)
    # At the top of a query (processing keeps the day's features: Engine.materialize), the
    # feature rows the ranges read several times are computed once: the Spark engine keeps a
    # CTE marked AS MATERIALIZED (query/spark.py _keep_ctes); inlined, every read of them
    # would compute the features again. (Nested deeper, the mark would reach Spark's SQL.)
    top = swapped.args.get("with_")
    if top is not None and any(c.alias == "scores" and c.this.meta.get("distributed")
                               for c in top.expressions):
        for cte in top.expressions:
            if cte.alias == "base_features":
                cte.set("materialized", True)
    return swapped


def _distributed_scores(purchasers: exp.Select) -> exp.Select:
    """ntile(5) over (metric, customer_id) of every purchaser, computed range by range.

    Approximate quantiles cut each metric's values into RANGES ranges; a customer's range
    depends on the metric's value alone, so ties never straddle two ranges, and ranges follow
    the metric's order. The number of purchasers in earlier ranges (a window over a few rows)
    plus the row number inside the range, ordered by (metric, customer_id), is then the exact
    global position p of n, whatever the cut points: approximation only moves work between
    tasks. From p, ntile's own definition (DuckDB's and Spark's): with q = n // 5 and
    r = n % 5, the first r buckets hold q + 1 rows and the others q. NULL metrics rank last,
    in a range of their own, as ORDER BY … NULLS LAST does. (Tables are read under aliases: the
    Spark engine renames nested CTEs, not the qualifiers that name them.)"""
    parts, sizes, joins, positions = [], [], [], []
    for index, (_, metric, _) in enumerate(RANKED):
        value, part = sql.column(metric), f"part_{index}"
        # The cut points at or below the value, counted with plain comparisons (Spark runs a
        # lambda over an array without code generation: 2x slower at 1M).
        below = [exp.Case().when(exp.LTE(this=exp.Bracket(
            this=exp.column(f"cut_{index}", "c"), expressions=[_number(k)]), expression=value),
            _number(1)).else_(_number(0)) for k in range(RANGES - 1)]  # 0-based, as SQLGlot's
        parts.append(exp.alias_(exp.Case().when(value.is_(exp.null()), _number(RANGES)).else_(
            _sum_of(below)), part))
        sizes.append(exp.select(exp.alias_(_number(index), "metric"),
                                exp.alias_(exp.column(part), "part"),
                                exp.alias_(exp.Count(this=exp.Star()), "size")).from_(
            "ranged").group_by(part))
        offset = f"o{index}"
        joins.append((exp.to_table("offsets", alias=offset), exp.and_(
            exp.column("metric", offset).eq(_number(index)),
            exp.column("part", offset).eq(exp.column(part, "g")))))
        positions.append(exp.alias_(exp.Add(this=exp.Window(
            this=exp.RowNumber(), partition_by=[exp.column(part)],
            order=exp.Order(expressions=[exp.Ordered(this=value.copy(), nulls_first=False),
                                         exp.Ordered(this=exp.column("customer_id"),
                                                     nulls_first=False)])),
            expression=exp.column("before", offset)), f"p_{index}"))
    fractions = exp.Array(expressions=[_number(f"{i / RANGES:.6f}") for i in range(1, RANGES)])
    cuts = exp.select(*(exp.alias_(exp.ApproxQuantile(this=sql.column(m), quantile=fractions.copy()),
                                   f"cut_{i}") for i, (_, m, _) in enumerate(RANKED))).from_(
        "purchasers")
    ranged = exp.select(exp.column(exp.Star(), "u"), *parts).from_(
        exp.to_table("purchasers", alias="u")).join(exp.to_table("cuts", alias="c"),
                                                     join_type="cross")
    size = exp.column("size")
    offsets = exp.select(
        "metric", "part",
        exp.alias_(exp.Sub(this=exp.Window(
            this=exp.Sum(this=size), partition_by=[exp.column("metric")],
            order=exp.Order(expressions=[exp.Ordered(this=exp.column("part"), nulls_first=False)]),
            spec=exp.WindowSpec(kind="ROWS", start="UNBOUNDED", start_side="PRECEDING",
                                end="CURRENT ROW")), expression=size.copy()), "before"),
        exp.alias_(exp.Window(this=exp.Sum(this=size.copy()),
                              partition_by=[exp.column("metric")]), "n")).from_("sizes")
    placed = exp.select(exp.column("customer_id"), exp.alias_(exp.column("n", "o0"), "n"),
                        *positions).from_(exp.to_table("ranged", alias="g"))
    for table, on in joins:
        placed = placed.join(table, on=on)
    union = sizes[0]
    for more in sizes[1:]:
        union = exp.union(union, more, distinct=False)
    tree = exp.select(exp.column("customer_id"), *(
        _bucket(i, score, low) for i, (score, _, low) in enumerate(RANKED))).from_(
        "positions").with_(
        "purchasers", as_=purchasers.copy().select(*(sql.column(m) for _, m, _ in RANKED))).with_(
        "cuts", as_=cuts).with_("ranged", as_=ranged).with_("sizes", as_=union).with_(
        "offsets", as_=offsets).with_("positions", as_=placed)
    tree.meta["distributed"] = True
    return tree


def _bucket(index: int, score: str, low: bool) -> exp.Alias:
    """ntile(5)'s bucket of position p_INDEX of n; 6 - it when a lower metric scores higher
    (recency)."""
    p, n = exp.column(f"p_{index}"), exp.column("n")
    q = exp.Paren(this=exp.IntDiv(this=n, expression=_number(5)))
    r = exp.Paren(this=exp.Mod(this=n.copy(), expression=_number(5)))
    q_plus_1 = exp.Paren(this=exp.Add(this=q.copy(), expression=_number(1)))
    big = exp.Mul(this=r, expression=q_plus_1)  # the rows of the r larger buckets
    p_less_1 = exp.Sub(this=p.copy(), expression=_number(1))
    bucket = exp.Case().when(exp.LTE(this=p, expression=big), exp.Add(
        this=exp.IntDiv(this=exp.Paren(this=p_less_1), expression=q_plus_1.copy()),
        expression=_number(1))).else_(exp.Add(this=exp.Add(this=r.copy(), expression=exp.IntDiv(
            this=exp.Paren(this=exp.Sub(this=p_less_1.copy(), expression=big.copy())),
            expression=exp.Nullif(this=q.copy(), expression=_number(0)))), expression=_number(1)))
    if low:
        bucket = exp.Sub(this=_number(6), expression=bucket)
    return exp.alias_(exp.Cast(this=bucket, to=exp.DataType.build("INT")), score, quoted=True)


def _number(value: int | str) -> exp.Literal:
    return exp.Literal.number(value)


def _sum_of(terms: list[exp.Expression]) -> exp.Expression:
    total = terms[0]
    for term in terms[1:]:
        total = exp.Add(this=total, expression=term)
    return total
