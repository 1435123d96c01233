"""Definition -> SQL over the customer features as of D (SPEC 5 semantics), as SQLGlot trees.

Pure: it gets the checked rules, the day and the tables of a data snapshot, and returns trees
that the engine renders for its dialect. A query reads only what its rules reference: the
feature columns they name (``needed``), and the tag and purchase events of their windows.
Semantics:

- a customer is a member when every include element holds and no exclude element holds, and
  groups fold the same way (``any``: at least one include element holds), logic.py;
- a rule on an unknown (NULL) value does not hold: ``coalesce(rule, false)``, so an include rule
  on NULL excludes the customer and an exclude rule on NULL does not;
- windowed rules (tag ``has``, rfm.frequency and rfm.monetary with ``within_days`` or
  ``days_ago``) count events dated in their window, the days [D - to, D - from], in a
  per-customer aggregate joined to the features; a customer without such events counts 0,
  which is known (frequency 0 within 90 days is a fact, not an unknown);
- ``audience`` rules read the referenced audience's membership as of the same D, a boolean
  column ``audience_<id>`` of the last level of the plan (plan.py) under the audience; level k
  is one query (``compile_levels``) that reads level k-1 as ``p``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlglot import exp

from ..customers.features import Day, Tables, features_query, purchase_aggregate
from ..query import sql
from .definition import CheckedRule
from .logic import Logic, combine, tree
from .operators import OPERATORS
from .plan import Plan

F = "f"  # alias of the features
KEY = "customer_id"  # what aggregates and levels join on
EVENTS = "e"  # alias of the event table inside each aggregate
PREVIOUS = "p"  # alias of the previous level's table
FEATURES = "features"  # the features a query builds for itself, read by its levels too


@dataclass(frozen=True)
class Sources:
    """What the compiled SQL reads, all of one data snapshot and one day."""

    tables: Tables  # the snapshot's customer data: events are read from here
    day: Day
    features: str | None = None  # a table of features built already (processing), else the
    # query reads the features its rules need straight from ``tables``
    needed: frozenset[str] = frozenset()  # feature columns wanted beside the rules' own (those
    # of the audiences its audience rules read from the same features)
    # The windowed aggregates from somewhere else than the events (a run's carried state,
    # processing/history.py): given the Windows, the same aliases and columns.
    windowed: Callable[[Windows], dict[str, exp.Select]] | None = None
    purchases: Prebuilt | None = None  # a table of ``purchases_query`` (processing): windowed
    # purchase metrics are read from it instead of scanning the transactions again
    # Aggregate the events only of customers who pass the plain rules (``Compiled._from``);
    # False when the aggregates are kept tables already: filtering them saves nothing.
    narrow: bool = True


@dataclass(frozen=True)
class Prebuilt:
    """A table of ``purchases_query`` and the windows it holds."""

    table: str
    windows: frozenset[Window]


def kept_sources(sources: Sources, rules: list[CheckedRule],
                 keep: Callable[[exp.Select], str]) -> Sources:
    """``sources`` reading the rules' features and each window's aggregate from tables that
    ``keep`` names (audiences/kept.py: computed once, then reused by later estimates). The
    aggregates cover every customer, as tables that outlive one definition's rules must."""
    tables = sources.tables

    def windowed(windows: Windows) -> dict[str, exp.Select]:
        return {alias: exp.select("*").from_(exp.to_table(keep(aggregate)).as_(EVENTS))
                for alias, aggregate in windows.aggregates(tables).items()}

    features = features_query(tables, sources.day, needed_attributes(rules) | sources.needed)
    return replace(sources, features=keep(features), windowed=windowed, narrow=False)


def _by_key(alias: str) -> exp.EQ:
    """``alias``'s customer is the features' customer (an aggregate's LEFT JOIN condition)."""
    return exp.EQ(this=column(KEY, alias), expression=column(KEY))


def needed_attributes(rules: list[CheckedRule]) -> set[str]:
    """Feature columns the rules read (windowed rules read their aggregates instead)."""
    return {r.rule.attribute for r in rules
            if r.rule.attribute not in ("tag", "audience") and r.window is None}


def column(name: str, table: str = F) -> exp.Column:
    return sql.column(name, table)


@dataclass
class Compiled:
    """Per-rule conditions over ``f`` plus the aggregates they join; builds the queries."""

    sources: Sources
    rules: list[CheckedRule]
    conditions: list[exp.Expression]
    windowed: list[bool] = field(default_factory=list)  # the condition reads an aggregate
    windows: Windows | None = None
    values: list[exp.Expression] = field(default_factory=list)  # what each rule tests
    # The levels of the audiences that audience rules read (``compile_levels``), defined once
    # beside the features; the query reads the last as ``p``.
    levels: list[exp.Select] = field(default_factory=list)
    plan: Plan = Plan()

    def member_condition(self) -> exp.Expression:
        """All rules combined, groups included; a rule unknown (NULL) does not hold."""
        conditions = {rule.position: c for rule, c in zip(self.rules, self.conditions,
                                                          strict=True)}
        return combine(tree(self.rules), lambda rule: exp.func(
            "coalesce", conditions[rule.position].copy(), exp.false()), SQL)

    def _necessary(self, aggregates: frozenset[str] = frozenset(), *,
                   windowed_only: bool = False) -> exp.Expression | None:
        """What every member passes that reads no aggregate: the rules on plain feature
        columns written outside any group (inside an ``any`` a rule is not necessary), or
        None when there are none. ``aggregates``: the rules that read only those aggregates
        (and the features) count too; ``windowed_only``: only they."""
        def reads_only_those(condition: exp.Expression) -> bool:
            tables = {col.table for col in condition.find_all(exp.Column)}
            return bool(tables & aggregates) and tables <= {F, *aggregates}

        plain = [(rule, c) for rule, c, reads in zip(self.rules, self.conditions,
                                                      self.windowed, strict=True)
                 if not rule.groups and (
                     (not reads and not windowed_only) or (reads and reads_only_those(c)))]
        if not plain:
            return None
        return SQL.all([exp.Not(this=exp.paren(held)) if rule.rule.exclude else held
                        for rule, c in plain
                        for held in [exp.func("coalesce", c.copy(), exp.false())]])

    def _features(self) -> exp.Expression:
        return exp.to_table(self.sources.features or FEATURES).as_(F, quoted=True)

    def _from(self, *projections: exp.Expression, narrow: bool = False,
              extra: set[str] = frozenset()) -> exp.Select:
        """``narrow``: aggregate events only of customers who pass the plain rules, which
        every member must; right for counting and listing members, not for explaining.
        ``extra``: feature columns wanted beside those the rules read."""
        query = exp.select(*projections).from_(self._features())
        necessary = self._necessary() if narrow and self.sources.narrow else None
        if not self.sources.features:
            needed = needed_attributes(self.rules) | set(extra) | self.sources.needed
            features = features_query(self.sources.tables, self.sources.day, needed)
            if necessary is not None and self._narrowed_features():
                # Only the customers who pass the plain rules are kept: the engine then joins
                # the appended columns to those rows, not to the whole base (at 10M customers,
                # the SPEC example's estimate 4.7 -> 3.5 s). Filtered after the features are
                # computed, so scores that rank the whole base are unchanged.
                features = exp.select("*").from_(exp.Subquery(
                    this=features, alias=exp.to_identifier(F, quoted=True))).where(
                    necessary.copy())
            query = query.with_(FEATURES, as_=features)
        for depth, level in enumerate(self.levels):
            query = query.with_(level_table(depth), as_=level.copy())
        candidates = None
        if necessary is not None:
            candidates = exp.select(column(KEY)).from_(self._features()).where(necessary)
        aggregates = (self.sources.windowed(self.windows) if self.sources.windowed
                      else self.windows.aggregates(self.sources.tables))
        first = self._cascade(aggregates) if candidates is not None else None
        for alias, aggregate in aggregates.items():
            if candidates is not None:
                aggregate = aggregate.where(exp.In(this=column(KEY, EVENTS),
                                                   query=exp.Subquery(this=candidates.copy())))
            if alias == first:
                # Tag windows first, as a table of their own; the purchases are then summed
                # only for the candidates who also pass the tag rules every member passes.
                query = query.with_(alias, as_=aggregate, materialized=True)  # read twice
                # Read under its own name as alias: an engine may put a table of its own in
                # place of the name (Spark computes a MATERIALIZED table first).
                candidates = exp.select(column(KEY)).from_(self._features()).join(
                    exp.to_table(alias).as_(alias), on=_by_key(alias), join_type="left").where(
                    self._necessary(frozenset({alias})))
                query = query.join(exp.to_table(alias).as_(alias), on=_by_key(alias),
                                   join_type="left")
                continue
            query = query.join(exp.Subquery(this=aggregate, alias=exp.to_identifier(alias)),
                               on=_by_key(alias), join_type="left")
        return self._keep(_after_level(query, len(self.levels)))

    def _cascade(self, aggregates: dict[str, exp.Select]) -> str | None:
        """The aggregate to compute first when later ones can be narrowed by it: the tag
        windows (a few months of tag events, read in time order) when there are purchase
        windows too and a tag rule outside any group that every member passes. At 10M
        customers, the SPEC example sums a year of purchases for 48k customers instead of
        410k. None: no cascade (or audience levels, left as they are)."""
        if self.levels or TAG_WINDOWS not in aggregates or len(aggregates) < 2:
            return None
        if self._necessary(frozenset({TAG_WINDOWS}), windowed_only=True) is None:
            return None
        return TAG_WINDOWS

    def _narrowed_features(self) -> bool:
        """The query builds its own features and no level reads them (audience rules read
        other audiences' memberships from the same features: left whole)."""
        return not self.sources.features and not self.levels

    def _base(self) -> exp.Subquery:
        """The number of customers in the base as of the day: the features' rows, or, when
        the query narrows its features, the profiles' own (one row per customer each)."""
        if self._narrowed_features():
            base = features_query(self.sources.tables, self.sources.day, set())
            return exp.Subquery(this=exp.select(exp.Count(this=exp.Star())).from_(
                exp.Subquery(this=base, alias=exp.to_identifier("base"))))
        return exp.Subquery(this=exp.select(exp.Count(this=exp.Star())).from_(self._features()))

    def _keep(self, query: exp.Select) -> exp.Select:
        """Marks the tables the plan keeps ``AS MATERIALIZED``: DuckDB reads the mark, and
        the Spark engine computes them first as tables of their own."""
        with_ = query.args.get("with_")
        if with_ is not None:
            reads = Counter(t.name for t in query.find_all(exp.Table) if not t.db)
            for cte in with_.expressions:
                if self.plan.keeps(reads[cte.alias]):
                    cte.set("materialized", True)
        return query

    def members(self, *attributes: str) -> exp.Select:
        """customer_id of every member, and the feature columns named in ``attributes``."""
        projections = [column("customer_id"), *(column(a) for a in attributes)]
        return self._from(*projections, narrow=True, extra=set(attributes)).where(
            self.member_condition())

    def estimate(self) -> exp.Select:
        """size and base in one row. With plain rules outside groups (``_necessary``), only
        the customers who pass them are joined to the event aggregates and tested (every member
        is one of them); the base is counted apart: at 10M customers and age 25-34, 1.3M rows
        go through the joins instead of 10M."""
        size = exp.Sum(this=exp.Case(ifs=[exp.If(this=self.member_condition(),
                                                 true=exp.Literal.number(1))],
                                     default=exp.Literal.number(0)))
        size = exp.alias_(exp.func("coalesce", size, exp.Literal.number(0)), "size")
        necessary = self._necessary()
        if necessary is None:
            return self._from(size, exp.alias_(exp.Count(this=exp.Star()), "base"), narrow=True)
        return self._from(size, exp.alias_(self._base(), "base"), narrow=True).where(necessary)

    def explain(self, customer_id: str) -> exp.Select:
        """One row for one customer: each rule's condition (r1..rN) and the value it tested
        (v1..vN: a window's count or sum, not the all-time one), and membership."""
        projections = [exp.alias_(c.copy(), f"r{i}")
                       for i, c in enumerate(self.conditions, start=1)]
        projections += [exp.alias_(v.copy(), f"v{i}") for i, v in enumerate(self.values, start=1)]
        projections.append(exp.alias_(self.member_condition(), "member"))
        return self._from(*projections).where(
            exp.EQ(this=column("customer_id"), expression=exp.Literal.string(customer_id)))


# audience id -> the condition "f is a member of that audience"
MembershipResolver = Callable[[int], exp.Expression]


def member_column(audience_id: int) -> str:
    return f"audience_{audience_id}"


def level_table(depth: int) -> str:
    """The name of level ``depth``'s table: a CTE of a query, or a table processing keeps."""
    return f"pass_{depth}"


def read_level(audience_id: int) -> exp.Expression:
    """Membership of an audience of an earlier level, as its column of the previous level."""
    return exp.EQ(this=column(member_column(audience_id), PREVIOUS), expression=exp.true())


def _after_level(query: exp.Select, depth: int) -> exp.Select:
    """``query`` joined to the table of level ``depth - 1`` as ``p`` (none for depth 0)."""
    if depth == 0:
        return query
    return query.join(exp.to_table(level_table(depth - 1)).as_(PREVIOUS, quoted=True),
                      on=exp.EQ(this=column(KEY, PREVIOUS), expression=column(KEY)))


def compile_levels(plan: Plan, rules: Mapping[int, list[CheckedRule]], sources: Sources, *,
                   every_feature: bool = False) -> list[exp.Select]:
    """One query per level of ``plan``: ``customer_id`` (``every_feature``: every column of
    the features) and each audience of the level as a boolean column ``audience_<id>``; query k
    reads level k-1 as ``p`` and carries its columns. ``sources`` must name a features table
    that holds every column the audiences read. Each level shares one aggregate per event
    table among its audiences."""
    queries = []
    for depth, level in enumerate(plan.levels):
        windows = Windows(sources.day, prebuilt=sources.purchases)
        compiled = [compile_rules(rules[a], sources, read_level, windows) for a in level]
        columns = [exp.alias_(c.member_condition(), member_column(a), quoted=True)
                   for a, c in zip(level, compiled, strict=True)]
        if depth:
            carried = exp.Column(this=exp.Star(), table=exp.to_identifier(PREVIOUS))
        elif every_feature:  # composition groups the last level by feature columns
            carried = exp.Column(this=exp.Star(), table=exp.to_identifier(F, quoted=True))
        else:
            carried = column(KEY)
        queries.append(_after_level(compiled[0]._from(carried, *columns), depth))
    return queries


def compile_nested(rules: list[CheckedRule], sources: Sources, plan: Plan,
                   nested: Mapping[int, list[CheckedRule]]) -> Compiled:
    """An audience's rules over the levels of ``plan``: the audiences its audience rules
    read (``nested``: their checked rules), each defined once beside one features table that
    has every column any of them needs: a nesting of audiences (a diamond, six levels) stays
    one scan of the features, and a plan small enough for Spark's driver."""
    needed = set(sources.needed).union(*(needed_attributes(r) for r in nested.values()))
    sources = replace(sources, needed=frozenset(needed))
    compiled = compile_rules(rules, sources, read_level)
    compiled.levels = compile_levels(plan, nested, replace(sources, features=FEATURES))
    compiled.plan = plan
    return compiled


def compile_rules(rules: list[CheckedRule], sources: Sources,
                  resolve: MembershipResolver | None = None,
                  windows: Windows | None = None) -> Compiled:
    """``windows``: event aggregates shared with other audiences compiled in the same pass."""
    compiled = Compiled(sources, rules, [], windows=windows or Windows(
        sources.day, prebuilt=sources.purchases))
    for checked in rules:
        condition, tested = _condition(checked, sources.day.day, compiled, resolve)
        compiled.conditions.append(condition)
        compiled.values.append(tested)
        # Audience rules count as windowed too: their subquery should run once, not again
        # inside the candidate filter.
        compiled.windowed.append(checked.rule.attribute in ("tag", "audience")
                                 or checked.window is not None)
    return compiled


def _condition(checked: CheckedRule, as_of, compiled: Compiled,
               resolve: MembershipResolver | None) -> tuple[exp.Expression, exp.Expression]:
    """The rule's condition, and the customer value it tests (shown by explain)."""
    rule, value = checked.rule, checked.value
    operator = OPERATORS[rule.op]
    if rule.attribute == "tag":
        count = compiled.windows.tag_count(value, checked.window)
        return exp.GTE(this=count, expression=exp.Literal.number(rule.min_count or 1)), count
    if rule.attribute == "audience":
        if resolve is None:
            raise ValueError("audience rules need a resolver")
        return exp.or_(*(resolve(audience_id) for audience_id in value)), exp.null()
    target = column(rule.attribute)
    if checked.window is not None:  # rfm.frequency / rfm.monetary over a window of days
        target = compiled.windows.purchase_metric(rule.attribute.removeprefix("rfm."),
                                                  checked.window)
    elif checked.type == "timestamp":
        target = exp.cast(target, "DATE")  # date operators compare a timestamp's date
    return operator.sql(target, value, as_of), target


SQL: Logic[exp.Expression] = Logic(
    all=lambda parts: exp.and_(*parts) if parts else exp.true(),
    any=lambda parts: exp.paren(exp.or_(*parts)) if parts else exp.false(),
    negate=lambda part: exp.Not(this=exp.paren(part)))

TAG_WINDOWS = "tag_windows"
PURCHASE_WINDOWS = "purchase_windows"

# A window of days before D, both ends included (CheckedRule.window): (0, 89) is the last 90
# days, (90, 364) from 90 to 364 days ago; None: all time up to D.
Window = tuple[int, int | None] | None


def _one_if(condition: exp.Expression, value: exp.Expression | None = None) -> exp.Expression:
    """SUM(CASE WHEN condition THEN value ELSE 0 END): a conditional sum on every engine."""
    return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition,
                                             true=value or exp.Literal.number(1))],
                                 default=exp.Literal.number(0)))


@dataclass
class Windows:
    """Every windowed count that the compiled rules need, gathered into at most two
    aggregates: one scan of tag events and one of purchases, a conditional sum per window.
    Shared by all audiences of a processing pass. Events are filtered on their instants
    (``Day.end``): the same days as their local dates, without a conversion per event."""

    day: Day
    tags: dict[tuple[tuple[str, ...], Window], str] = field(default_factory=dict)
    purchases: dict[Window, str] = field(default_factory=dict)  # window -> column suffix
    prebuilt: Prebuilt | None = None  # purchase windows read from this table when it has them

    def tag_count(self, tags: list[str], window: Window) -> exp.Expression:
        key = (tuple(sorted(set(tags))), window)
        name = self.tags.setdefault(key, f"events_{len(self.tags) + 1}")
        return exp.func("coalesce", column(name, TAG_WINDOWS), exp.Literal.number(0))

    def purchase_metric(self, metric: str, window: Window) -> exp.Expression:
        suffix = self.purchases.setdefault(window, str(len(self.purchases) + 1))
        return exp.func("coalesce", column(f"{metric}_{suffix}", PURCHASE_WINDOWS),
                        exp.Literal.number(0))

    def aggregates(self, tables: Tables) -> dict[str, exp.Select]:
        found = {}
        if self.tags:
            found[TAG_WINDOWS] = self._tag_aggregate(tables)
        if self.purchases:
            found[PURCHASE_WINDOWS] = self._purchase_aggregate(tables)
        return found

    def _bounds(self, window: Window) -> tuple[exp.Expression | None, exp.Expression]:
        """The instants of a window: from the start of day D - to (None: all time) to before
        the start of day D - from + 1."""
        start, end = window or (0, None)
        first = None if end is None else self.day.end(self.day.day - timedelta(days=end + 1))
        return first, self.day.end(self.day.day - timedelta(days=start))

    def _scan(self, tables: Tables, kind: str, windows: list[Window]) -> exp.Select:
        """Events of the windows' span only: from the earliest start to the latest end."""
        at = column("occurred_at", EVENTS)
        spans = [self._bounds(w) for w in windows]
        nearest = min((w or (0, None))[0] for w in windows)
        where = exp.LT(this=at, expression=self._bounds((nearest, None))[1])
        if all(first is not None for first, _ in spans):
            farthest = max(w[1] for w in windows)
            where = exp.and_(where, exp.GTE(this=at.copy(), expression=self._bounds(
                (0, farthest))[0]))
        return exp.select(column(KEY, EVENTS)).from_(tables.read(kind, EVENTS)).where(
            where).group_by(column(KEY, EVENTS))

    def _in_window(self, window: Window, windows: int) -> exp.Expression:
        if windows == 1:  # the scan's own filter says it already
            return exp.true()
        first, end = self._bounds(window)
        at = column("occurred_at", EVENTS)
        parts = [exp.LT(this=at, expression=end)] if (window or (0,))[0] else []
        if first is not None:
            parts.append(exp.GTE(this=at.copy(), expression=first))
        return exp.and_(*parts) if parts else exp.true()

    def _tag_aggregate(self, tables: Tables) -> exp.Select:
        query = self._scan(tables, "tags", [w for _, w in self.tags])
        every_tag = sorted({t for tags, _ in self.tags for t in tags})
        query = query.where(exp.In(this=column("tag", EVENTS),
                                   expressions=[exp.Literal.string(t) for t in every_tag]))
        for (tags, window), name in self.tags.items():
            if len(self.tags) == 1:  # one window: every scanned event counts
                query = query.select(exp.alias_(exp.Count(this=exp.Star()), name))
                continue
            hit = exp.and_(exp.In(this=column("tag", EVENTS),
                                  expressions=[exp.Literal.string(t) for t in tags]),
                           self._in_window(window, len(self.tags)))
            query = query.select(exp.alias_(_one_if(hit), name))
        return query

    def _purchase_aggregate(self, tables: Tables) -> exp.Select:
        if self.prebuilt and set(self.purchases) <= self.prebuilt.windows:
            query = exp.select(column(KEY, EVENTS)).from_(
                exp.to_table(self.prebuilt.table, alias=EVENTS))
            for window, suffix in self.purchases.items():
                query = query.select(*(exp.alias_(column(f"{metric}_{window_name(window)}",
                                                         EVENTS), f"{metric}_{suffix}")
                                       for metric in ("frequency", "monetary")))
            return query
        query = self._scan(tables, "transactions", list(self.purchases))
        is_purchase = exp.GTE(this=column("amount", EVENTS), expression=exp.Literal.number(0))
        # The sum of DECIMAL(18,2) amounts is DECIMAL(38,2): the largest amounts a transaction
        # may hold, added up, fit (the old cast of the sum back to DECIMAL(18,2) overflowed).
        amount = column("amount", EVENTS)
        for window, suffix in self.purchases.items():
            within = self._in_window(window, len(self.purchases))
            query = query.select(
                exp.alias_(_one_if(exp.and_(within, is_purchase)), f"frequency_{suffix}"),
                exp.alias_(_one_if(within.copy(), amount.copy()), f"monetary_{suffix}"))
        return query


def window_name(window: Window) -> str:
    """A window as part of a column name: 0_364 (the last 365 days), 90_all (from 90 days ago
    back to the first event)."""
    start, end = window or (0, None)
    return f"{start}_{'all' if end is None else end}"


def purchase_windows(rules: list[CheckedRule]) -> set[Window]:
    """The windows of the rules that count or sum purchases over days (``purchase_metric``)."""
    return {r.window for r in rules if r.window is not None
            and r.rule.attribute not in ("tag", "audience")}


def purchases_query(tables: Tables, day: Day, windows: set[Window]) -> exp.Select:
    """``purchase_aggregate`` (all time up to D: the RFM features) with each window's
    frequency and monetary beside it (``frequency_0_364``, ``monetary_0_364``), in one scan of
    the transactions: processing reads the RFM features and its audiences' windows from this one
    table instead of scanning the transactions twice. The windowed metrics are the same
    expressions ``Windows`` computes when it scans (NULL, not 0, for a customer without
    transactions: the rules read them through coalesce(…, 0) either way)."""
    query = purchase_aggregate(tables, day.end())
    scan = Windows(day)
    amount = exp.column("amount")
    is_purchase = exp.GTE(this=amount.copy(), expression=exp.Literal.number(0))
    for window in sorted(windows, key=window_name):
        # Two windows or more: each states its own bounds (the scan reads all time up to D).
        within = _unqualified(scan._in_window(window, 2))
        query = query.select(
            exp.alias_(_one_if(exp.and_(within, is_purchase.copy())),
                       f"frequency_{window_name(window)}"),
            exp.alias_(_one_if(within.copy(), amount.copy()), f"monetary_{window_name(window)}"))
    return query


def _unqualified(condition: exp.Expression) -> exp.Expression:
    """``condition`` on the columns of ``purchase_aggregate``'s scan (no table alias)."""
    return condition.transform(lambda node: exp.column(node.name) if isinstance(
        node, exp.Column) and node.table == EVENTS else node)
