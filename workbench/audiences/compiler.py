"""Definition -> SQL over the feature table as of D (SPEC 5 semantics), as SQLGlot trees.

Pure: it gets the checked rules, the day and the names of the tables to read, and returns trees
that the engine renders for its dialect. Semantics:

- a customer is a member when every include rule holds and no exclude rule holds;
- a rule on an unknown (NULL) value does not hold: ``coalesce(rule, false)``, so an include rule
  on NULL excludes the customer and an exclude rule on NULL does not;
- ``within_days`` rules (tag ``has``, rfm.frequency, rfm.monetary) count events dated in
  (D - N, D] in a per-customer aggregate joined to the features; a customer without such events
  counts 0, which is known (frequency 0 within 90 days is a fact, not an unknown);
- ``audience`` rules are the referenced audience's own member query as of the same D.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlglot import exp

from .definition import CheckedRule
from .operators import OPERATORS, literal

F = "f"  # alias of the feature table
KEY = "_key"  # the integer customer key that aggregates join on
EVENTS = "e"  # alias of the event table inside each aggregate


@dataclass(frozen=True)
class Sources:
    """Tables the compiled SQL reads, all as of the same day."""

    features: str  # one row per customer of the base: the feature table
    tag_events: str  # _key, tag, day
    purchases: str  # _key, day, amount (refunds included)


def column(name: str, table: str = F) -> exp.Column:
    return exp.Column(this=exp.to_identifier(name, quoted=True),
                      table=exp.to_identifier(table, quoted=True))


@dataclass
class Compiled:
    """Per-rule conditions over ``f`` plus the aggregates they join; builds the queries."""

    sources: Sources
    rules: list[CheckedRule]
    conditions: list[exp.Expression]
    windowed: list[bool] = field(default_factory=list)  # the condition reads an aggregate
    joins: dict[str, exp.Select] = field(default_factory=dict)

    def member_condition(self, *, windowed: bool | None = None) -> exp.Expression:
        """All rules combined; ``windowed=False`` keeps only rules on plain feature columns."""
        parts = []
        for rule, condition, reads_aggregate in zip(self.rules, self.conditions, self.windowed,
                                                    strict=True):
            if windowed is False and reads_aggregate:
                continue
            holds = exp.func("coalesce", condition.copy(), exp.false())
            parts.append(exp.Not(this=exp.paren(holds)) if rule.rule.exclude else holds)
        return exp.and_(*parts) if parts else exp.true()

    def _from(self, *projections: exp.Expression, narrow: bool = False) -> exp.Select:
        """``narrow``: aggregate events only of customers who pass the plain rules, which
        every member must; right for counting and listing members, not for explaining."""
        query = exp.select(*projections).from_(
            exp.to_table(self.sources.features).as_(F, quoted=True))
        candidates = None
        if narrow and len(self.windowed) > sum(self.windowed):
            candidates = (exp.select(column(KEY))
                          .from_(exp.to_table(self.sources.features).as_(F, quoted=True))
                          .where(self.member_condition(windowed=False)))
        for alias, aggregate in self.joins.items():
            if candidates is not None:
                aggregate = aggregate.where(exp.In(this=column(KEY, EVENTS),
                                                   query=exp.Subquery(this=candidates.copy())))
            query = query.join(exp.Subquery(this=aggregate, alias=exp.to_identifier(alias)),
                               on=exp.EQ(this=column(KEY, alias), expression=column(KEY)),
                               join_type="left")
        return query

    def members(self) -> exp.Select:
        return self._from(column("customer_id"), narrow=True).where(self.member_condition())

    def estimate(self) -> exp.Select:
        size = exp.Sum(this=exp.Case(ifs=[exp.If(this=self.member_condition(),
                                                 true=exp.Literal.number(1))],
                                     default=exp.Literal.number(0)))
        return self._from(exp.alias_(exp.func("coalesce", size, exp.Literal.number(0)), "size"),
                          exp.alias_(exp.Count(this=exp.Star()), "base"), narrow=True)

    def explain(self, customer_id: str) -> exp.Select:
        """One row for one customer: each rule's condition as r1..rN, and membership."""
        projections = [exp.alias_(c.copy(), f"r{i}")
                       for i, c in enumerate(self.conditions, start=1)]
        projections.append(exp.alias_(self.member_condition(), "member"))
        return self._from(*projections).where(
            exp.EQ(this=column("customer_id"), expression=exp.Literal.string(customer_id)))


# audience id -> the condition "f is a member of that audience" (a subquery for an estimate,
# a column computed earlier in the same pass for processing)
MembershipResolver = Callable[[int], exp.Expression]


def compile_rules(rules: list[CheckedRule], as_of: date, sources: Sources,
                  resolve: MembershipResolver | None = None,
                  joins: dict[str, exp.Select] | None = None) -> Compiled:
    """``joins``: aggregates shared with other audiences compiled in the same pass."""
    compiled = Compiled(sources, rules, [], joins=joins if joins is not None else {})
    for checked in rules:
        compiled.conditions.append(_condition(checked, as_of, compiled, resolve))
        # Audience rules count as windowed too: their subquery should run once, not again
        # inside the candidate filter.
        compiled.windowed.append(checked.rule.attribute in ("tag", "audience")
                                 or checked.rule.within_days is not None)
    return compiled


def _condition(checked: CheckedRule, as_of: date, compiled: Compiled,
               resolve: MembershipResolver | None) -> exp.Expression:
    rule, value = checked.rule, checked.value
    operator = OPERATORS[rule.op]
    if rule.attribute == "tag":
        alias = _tag_counts(compiled, value, rule.within_days, as_of)
        count = exp.func("coalesce", column("events", alias), exp.Literal.number(0))
        return exp.GTE(this=count, expression=exp.Literal.number(rule.min_count or 1))
    if rule.attribute == "audience":
        if resolve is None:
            raise ValueError("audience rules need a resolver")
        return exp.or_(*(resolve(audience_id) for audience_id in value))
    target = column(rule.attribute)
    if rule.within_days is not None:  # rfm.frequency / rfm.monetary over the last N days
        alias = _purchase_window(compiled, rule.within_days, as_of)
        metric = rule.attribute.removeprefix("rfm.")
        target = exp.func("coalesce", column(metric, alias), exp.Literal.number(0))
    elif rule.attribute == "created_at":
        target = exp.cast(target, "DATE")  # date operators compare a timestamp's date
    return operator.sql(target, value, as_of)


def _window(day: exp.Expression, as_of: date, within_days: int | None) -> exp.Expression:
    upto = exp.LTE(this=day, expression=literal(as_of))
    if within_days is None:
        return upto
    since = as_of - timedelta(days=within_days)
    return exp.and_(exp.GT(this=day.copy(), expression=literal(since)), upto)


def _tag_counts(compiled: Compiled, tags: list[str], within_days: int | None,
                as_of: date) -> str:
    alias = f"tags_{len(compiled.joins) + 1}"
    table = EVENTS
    query = (exp.select(column(KEY, table), exp.alias_(exp.Count(this=exp.Star()), "events"))
             .from_(exp.to_table(compiled.sources.tag_events).as_(table, quoted=True))
             .where(exp.and_(exp.In(this=column("tag", table),
                                    expressions=[exp.Literal.string(t) for t in tags]),
                             _window(column("day", table), as_of, within_days)))
             .group_by(column(KEY, table)))
    return _join(compiled, alias, query)


def _purchase_window(compiled: Compiled, within_days: int, as_of: date) -> str:
    table = EVENTS
    is_purchase = exp.GTE(this=column("amount", table), expression=exp.Literal.number(0))
    query = (exp.select(
        column(KEY, table),
        exp.alias_(exp.Sum(this=exp.Case(ifs=[exp.If(this=is_purchase,
                                                      true=exp.Literal.number(1))],
                                          default=exp.Literal.number(0))), "frequency"),
        exp.alias_(exp.Sum(this=column("amount", table)), "monetary"))
        .from_(exp.to_table(compiled.sources.purchases).as_(table, quoted=True))
        .where(_window(column("day", table), as_of, within_days))
        .group_by(column(KEY, table)))
    return _join(compiled, f"purchases_{len(compiled.joins) + 1}", query)


def _join(compiled: Compiled, alias: str, query: exp.Select) -> str:
    """Reuse an identical aggregate (two rules on the same window share one join)."""
    for existing, other in compiled.joins.items():
        if other == query:
            return existing
    compiled.joins[alias] = query
    return alias
