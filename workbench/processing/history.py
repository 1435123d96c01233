"""Carried features: a run of many days (a backfill, ``process --from/--to``, ``--days N``)
advances per-customer state from one day to the next instead of recomputing every day from
all history (issue 23: a year at 1M customers in minutes, not 45 minutes).

State as of day D, kept as two tables of the engine (one row per customer with events):

- ``carried_purchases``: the all-time RFM aggregate (last purchase instant, purchase count,
  monetary sum in exact cents), and per purchase window of the active audiences (``within_days``
  or ``days_ago`` on rfm.frequency / rfm.monetary) the count and sum inside the window;
- ``carried_tags``: per tag window (a set of tags and a window) the count of events inside it.

D + 1 = D + the events dated D + 1 (the all-time aggregate and each window's newest day,
D + 1 - from) - the events of the day each window drops (D - to). Events are put in days by the
same instants as features.py (``Day.end``): the workbench timezone, DST included. They are
read once per chunk of days (only the days a chunk adds or drops), rolled up per customer and
day, and each day's change is a small aggregate of those rollups. The state starts as of the
day before the run with one full aggregate, the same as one day of full recomputation.

Scores (quintiles), recency and age are recomputed every day from the state: they move for
customers without events (a purchaser more shifts everyone's rank; recency grows every day),
and need no event scan. The base (``created_at``), profile and appended columns are read as
features.py reads them: they are small and cheap.

Answers are identical to a full recomputation (tests/test_history.py compares every feature
column and every membership). Where the state cannot answer, a run recomputes every day in
full (``why_not``): the ``tags`` list attribute, an engine other than DuckDB, a one-day run,
or ``WORKBENCH_CARRIED_FEATURES=off`` (for comparisons).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlglot import exp

from ..audiences.compiler import PURCHASE_WINDOWS, TAG_WINDOWS, Window, Windows, needed_attributes
from ..customers.features import MONEY, RFM, SCORES, Day, Tables, _with_scores, features_query
from ..query import sql

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from ..query.engine import Engine
    from .composition import Buckets
    from .evaluate import ActiveAudience

VARIABLE = "WORKBENCH_CARRIED_FEATURES"  # "off": every day of a run recomputed in full
CHUNK_DAYS = 31  # days whose events are read in one pass (memory stays flat for long runs)
KEY = "customer_id"

PURCHASES, TAGS = "carried_purchases", "carried_tags"
PURCHASE_DAYS, TAG_DAYS = "carried_purchase_days", "carried_tag_days"  # a chunk's rollups
DAYS, CHANGE = "carried_days", "carried_change"


def why_not(engine: Engine, audiences: list[ActiveAudience], buckets: list[Buckets],
            first: date, last: date) -> str | None:
    """Why a run of these days recomputes every day in full, or None (it carries features)."""
    if os.environ.get(VARIABLE, "").strip().lower() in ("off", "0", "no", "false"):
        return f"${VARIABLE} is off"
    if engine.kind != "duckdb":
        return f"the {engine.kind} engine recomputes every day (carried features: DuckDB only)"
    if last <= first:
        return "one day: nothing to carry"
    if "tags" in needed_columns(audiences, buckets):
        return "the tags list attribute, which the carried state does not keep"
    return None


def carried_run(engine: Engine, tables: Tables, zone: ZoneInfo, audiences: list[ActiveAudience],
                buckets: list[Buckets], first: date, last: date) -> Carried | None:
    """The carried state for a run of ``first`` .. ``last``, or None: every day in full."""
    if why_not(engine, audiences, buckets, first, last) is not None:
        return None
    return Carried.of(engine, tables, zone, audiences, first, last)


def described(engine: Engine, carried: Carried | None) -> str:
    """What ran a run's queries, and how, for its report."""
    return engine.description + (", features carried day to day" if carried else "")


def needed_columns(audiences: list[ActiveAudience], buckets: list[Buckets]) -> set[str]:
    """The feature columns a day of processing builds (as day.py computes them)."""
    needed = {b.column for b in buckets}
    for audience in audiences:
        needed |= needed_attributes(audience.rules)
    return needed


@dataclass
class Carried:
    """The state of a run's features, advanced one day at a time (``advance``), read by the
    day's processing through ``features`` and ``windowed``."""

    engine: Engine
    tables: Tables
    zone: ZoneInfo
    first: date
    last: date
    # Windows of the audiences' rules -> the state column that holds them.
    tag_windows: dict[tuple[tuple[str, ...], Window], str] = field(default_factory=dict)
    purchase_windows: dict[Window, str] = field(default_factory=dict)
    tag_sets: dict[tuple[str, ...], str] = field(default_factory=dict)  # -> rollup column
    day: date | None = None  # the state is as of this day
    _kept: Tables | None = None  # ``tables`` with the profiles and appended kept in memory
    _chunk_end: date | None = None  # the last day whose rollups are loaded

    @classmethod
    def of(cls, engine: Engine, tables: Tables, zone: ZoneInfo,
           audiences: list[ActiveAudience], first: date, last: date) -> Carried:
        carried = cls(engine, tables, zone, first, last)
        for audience in audiences:
            for checked in audience.rules:
                attribute = checked.rule.attribute
                if attribute == "tag":
                    key = (tuple(sorted(set(checked.value))), checked.window)
                    carried.tag_windows.setdefault(key, f"t{len(carried.tag_windows) + 1}")
                elif attribute in ("rfm.frequency", "rfm.monetary") and checked.window:
                    carried.purchase_windows.setdefault(
                        checked.window, str(len(carried.purchase_windows) + 1))
        tag_sets = sorted({tags for tags, _ in carried.tag_windows})
        carried.tag_sets = {tags: f"s{i}" for i, tags in enumerate(tag_sets, start=1)}
        return carried

    # -- what a day reads ---------------------------------------------------------------------

    def features(self, day: Day, needed: set[str]) -> exp.Select:
        """The features as of the state's day, column for column as features_query."""
        assert day.day == self.day, "advance the state to the day first"
        rfm = set(RFM) | set(SCORES)
        query = features_query(self._kept, day, set(needed) - rfm)
        if not needed & rfm:
            return query
        query = query.join(exp.to_table(PURCHASES).as_("r"), join_type="left",
                           on=exp.column(KEY, "r").eq(exp.column(KEY, "p")))
        # As features._with_rfm writes them, over the state's columns.
        last = exp.cast(exp.column("last_purchase_at", "r"), exp.DataType.build("DATE"))
        query = query.select(
            exp.alias_(exp.DateDiff(this=day.date(), expression=last, unit=exp.var("DAY")),
                       "rfm.recency_days", quoted=True),
            exp.alias_(_zero_if_null(exp.column("frequency", "r")), "rfm.frequency", quoted=True),
            exp.alias_(exp.cast(_zero_if_null(exp.column("monetary", "r")),
                                exp.DataType.build(MONEY, dialect="duckdb")),
                       "rfm.monetary", quoted=True))
        return _with_scores(query) if needed & set(SCORES) else query

    def windowed(self, windows: Windows) -> dict[str, exp.Select]:
        """The aggregates of ``windows`` (compiler.Windows) read from the state, named as
        Windows.aggregates names them."""
        found = {}
        if windows.tags:
            found[TAG_WINDOWS] = exp.select(exp.column(KEY, "e"), *(
                exp.alias_(exp.column(self.tag_windows[key], "e"), name)
                for key, name in windows.tags.items())).from_(exp.to_table(TAGS).as_("e"))
        if windows.purchases:
            columns = []
            for window, suffix in windows.purchases.items():
                mine = self.purchase_windows[window]
                columns += [exp.alias_(exp.column(f"f{mine}", "e"), f"frequency_{suffix}"),
                            exp.alias_(exp.column(f"m{mine}", "e"), f"monetary_{suffix}")]
            found[PURCHASE_WINDOWS] = exp.select(exp.column(KEY, "e"), *columns).from_(
                exp.to_table(PURCHASES).as_("e"))
        return found

    def close(self) -> None:
        """Let go of the state's memory (a kernel that runs more after the run keeps none)."""
        names = [PURCHASES, TAGS, PURCHASE_DAYS, TAG_DAYS, DAYS, CHANGE, "carried_profiles",
                 "carried_appended"]
        for name in names:
            self.engine.materialize(name, exp.select(exp.Literal.number(0).as_("gone")).where(
                exp.false()))
        self.day, self._chunk_end, self._kept = None, None, None

    # -- advancing ----------------------------------------------------------------------------

    def advance(self, day: date) -> None:
        """The state as of ``day``: from the day before it (or from scratch)."""
        if self.day is None or day != self.day + timedelta(days=1):
            self._start(day - timedelta(days=1))
        if self._chunk_end is None or day > self._chunk_end:
            self._load_chunk(day, min(self.last, day + timedelta(days=CHUNK_DAYS - 1)))
        self._step(day)
        self.day = day

    def _day(self, day: date) -> Day:
        return Day(day, self.zone)

    def _start(self, day: date) -> None:
        """The state as of ``day`` from all the events up to it: one full aggregate."""
        if self._kept is None:
            # Read every day, the same rows: kept as tables once (a tenth of a second a day).
            for kind in ("profiles", "appended"):
                self.engine.materialize(f"carried_{kind}", exp.select("*").from_(
                    self.tables.read(kind, "k")))
            self._kept = replace(self.tables, profiles=exp.to_table("carried_profiles"),
                                 appended=exp.to_table("carried_appended"))
        d = self._day(day)
        at = exp.column("occurred_at")
        amount = exp.column("amount")
        purchase = exp.GTE(this=amount.copy(), expression=exp.Literal.number(0))
        columns = [exp.alias_(_filtered(exp.Max(this=at.copy()), purchase), "last_purchase_at"),
                   exp.alias_(_bigint(_filtered(_count(), purchase)), "frequency"),
                   exp.alias_(_money(exp.Sum(this=amount.copy())), "monetary")]
        for window, i in self.purchase_windows.items():
            inside = self._inside(day, window)
            columns += [exp.alias_(_bigint(_filtered(_count(), exp.and_(inside, purchase))),
                                   f"f{i}"),
                        exp.alias_(_money(_filtered(exp.Sum(this=amount.copy()), inside)),
                                   f"m{i}")]
        self.engine.materialize(PURCHASES, _events(self.tables, "transactions", d.end(),
                                                   columns))
        columns = [exp.alias_(_bigint(_filtered(_count(), exp.and_(
            exp.column("tag").isin(*map(sql.string, tags)), self._inside(day, window)))), name)
            for (tags, window), name in self.tag_windows.items()]
        self.engine.materialize(TAGS, _events(self.tables, "tags", d.end(), columns))
        self.day, self._chunk_end = day, None

    def _inside(self, day: date, window: Window) -> exp.Expression:
        """An event's instant inside ``window`` as of ``day`` (as compiler.Windows bounds it)."""
        start, end = window or (0, None)
        at = exp.column("occurred_at")
        inside = exp.LT(this=at, expression=self._day(day - timedelta(days=start)).end())
        if end is not None:
            inside = exp.and_(inside, exp.GTE(this=at.copy(), expression=self._day(
                day - timedelta(days=end + 1)).end()))
        return inside

    def _changes(self, day: date) -> tuple[list[tuple[date, str, int]], set[date]]:
        """What advancing to ``day`` adds and drops: (day of events, state column, +1/-1), and
        the days whose events that reads. The all-time aggregate adds ``day``."""
        moves = [(day, "", 1)]
        windows = [(w, f"f{i}") for w, i in self.purchase_windows.items()] + [
            (w, name) for (_, w), name in self.tag_windows.items()]
        for window, column in windows:
            start, end = window or (0, None)
            moves.append((day - timedelta(days=start), column, 1))
            if end is not None:
                moves.append((day - timedelta(days=end + 1), column, -1))
        return moves, {d for d, _, _ in moves}

    def _load_chunk(self, first: date, last: date) -> None:
        """Rollups per customer and day of the events that advancing through ``first`` ..
        ``last`` adds or drops: one read of each event file for the chunk."""
        days = sorted(set().union(*(self._changes(first + timedelta(days=i))[1]
                                    for i in range((last - first).days + 1))))
        bounds = [exp.Tuple(expressions=[exp.cast(sql.string(d.isoformat()), "DATE"),
                                         self._day(d - timedelta(days=1)).end(),
                                         self._day(d).end()]) for d in days]
        self.engine.materialize(DAYS, exp.select("*").from_(exp.Values(
            expressions=bounds, alias=exp.TableAlias(this=exp.to_identifier("v"), columns=[
                exp.to_identifier(c) for c in ("day", "starts", "ends")]))))
        at = exp.column("occurred_at", "e")
        amount = exp.column("amount", "e")
        purchase = exp.GTE(this=amount.copy(), expression=exp.Literal.number(0))
        self.engine.materialize(PURCHASE_DAYS, self._rollup("transactions", days, [
            exp.alias_(_filtered(exp.Max(this=at.copy()), purchase), "last_purchase_at"),
            exp.alias_(_bigint(_filtered(_count(), purchase.copy())), "frequency"),
            exp.alias_(_money(exp.Sum(this=amount.copy())), "monetary")]))
        if self.tag_windows:
            self.engine.materialize(TAG_DAYS, self._rollup("tags", days, [
                exp.alias_(_bigint(_filtered(_count(), exp.column("tag", "e").isin(
                    *map(sql.string, tags)))), name) for tags, name in self.tag_sets.items()]))
        self._chunk_end = last

    def _rollup(self, kind: str, days: list[date], columns: list) -> exp.Select:
        at = exp.column("occurred_at", "e")
        spans = _spans(days)
        near = exp.or_(*(exp.and_(
            exp.GTE(this=at.copy(), expression=self._day(a - timedelta(days=1)).end()),
            exp.LT(this=at.copy(), expression=self._day(b).end())) for a, b in spans))
        day = exp.column("day", "d")
        return exp.select(exp.column(KEY, "e"), day, *columns).from_(
            self.tables.read(kind, "e")).join(
            exp.to_table(DAYS).as_("d"), join_type="inner", on=exp.and_(
                exp.GTE(this=at.copy(), expression=exp.column("starts", "d")),
                exp.LT(this=at.copy(), expression=exp.column("ends", "d")))).where(
            exp.and_(exp.paren(near), exp.column(KEY, "e").is_(exp.null()).not_())).group_by(
            exp.column(KEY, "e"), day.copy()).order_by(day.copy())

    def _step(self, day: date) -> None:
        """State as of ``day`` = state as of the day before + the changes of ``day``."""
        moves, _ = self._changes(day)
        d = exp.column("day", "c")

        def on(when: date) -> exp.Expression:
            return d.copy().eq(exp.cast(sql.string(when.isoformat()), "DATE"))

        def signed(value: str, column: str, aggregate=exp.Sum) -> exp.Expression:
            parts = [exp.Mul(this=exp.Literal.number(sign), expression=_zero_if_null(
                _filtered(aggregate(this=exp.column(value, "c")), on(when))))
                for when, col, sign in moves if col == column]
            total = parts[0]
            for part in parts[1:]:
                total = exp.Add(this=total, expression=part)
            return total

        # purchases: the all-time aggregate adds the day; each window adds and drops its days
        columns = [exp.alias_(_filtered(exp.Max(this=exp.column("last_purchase_at", "c")),
                                        on(day)), "last_purchase_at"),
                   exp.alias_(signed("frequency", ""), "frequency"),
                   exp.alias_(signed("monetary", ""), "monetary")]
        for i in self.purchase_windows.values():
            columns += [exp.alias_(signed("frequency", f"f{i}"), f"f{i}"),
                        exp.alias_(signed("monetary", f"f{i}"), f"m{i}")]
        self._apply(PURCHASES, PURCHASE_DAYS, moves, columns, {"last_purchase_at": "max"})
        if self.tag_windows:
            columns = [exp.alias_(signed(self.tag_sets[tags], name), name)
                       for (tags, _), name in self.tag_windows.items()]
            self._apply(TAGS, TAG_DAYS, moves, columns, {})

    def _apply(self, state: str, rollup: str, moves, columns: list, how: dict[str, str]) -> None:
        """state (+) the change of the day: sums added, ``max`` columns kept at the latest."""
        days = sorted({when for when, _, _ in moves})
        change = exp.select(exp.column(KEY, "c"), *columns).from_(
            exp.to_table(rollup).as_("c")).where(exp.column("day", "c").isin(
                *(exp.cast(sql.string(w.isoformat()), "DATE") for w in days))).group_by(
            exp.column(KEY, "c"))
        self.engine.materialize(CHANGE, change)
        names = [c.alias for c in columns]
        values = []
        for name in names:
            old, new = exp.column(name, "s"), exp.column(name, "n")
            if how.get(name) == "max":
                value = exp.Case().when(exp.or_(new.is_(exp.null()), exp.GTE(
                    this=old.copy(), expression=new.copy())), old.copy()).else_(new.copy())
            else:
                value = exp.cast(exp.Add(this=_zero_if_null(old.copy()),
                                         expression=_zero_if_null(new.copy())),
                                 _type_of(name))
            values.append(exp.EQ(this=exp.column(name), expression=value))
        # In place: the tens of thousands of customers with events that day, then those new to
        # the state (half the time of rewriting the million rows).
        same = exp.column(KEY, "s").eq(exp.column(KEY, "n"))
        self.engine.rows(exp.Update(this=exp.to_table(state).as_("s"), expressions=values,
                                    from_=exp.From(this=exp.to_table(CHANGE).as_("n")),
                                    where=exp.Where(this=same)))
        known = exp.select(exp.Literal.number(1)).from_(exp.to_table(state).as_("s")).where(
            same.copy())
        self.engine.rows(exp.insert(
            exp.select(*(exp.column(c, "n") for c in [KEY, *names])).from_(
                exp.to_table(CHANGE).as_("n")).where(exp.Not(this=exp.Exists(this=known))),
            state, columns=[KEY, *names]))


def _type_of(name: str) -> exp.DataType:
    money = name == "monetary" or name.startswith("m")
    return exp.DataType.build(MONEY if money else "BIGINT", dialect="duckdb")


def _spans(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days: (first, last) of each."""
    spans: list[tuple[date, date]] = []
    for d in days:
        if spans and d == spans[-1][1] + timedelta(days=1):
            spans[-1] = (spans[-1][0], d)
        else:
            spans.append((d, d))
    return spans


def _events(tables: Tables, kind: str, end: exp.Expression, columns: list) -> exp.Select:
    """Per customer, ``columns`` over the events of ``kind`` before ``end``."""
    return exp.select(exp.column(KEY), *columns).from_(tables.read(kind, "e")).where(
        exp.and_(exp.LT(this=exp.column("occurred_at"), expression=end),
                 exp.column(KEY).is_(exp.null()).not_())).group_by(exp.column(KEY))


def _count() -> exp.Expression:
    return exp.Count(this=exp.Star())


def _filtered(aggregate: exp.Expression, where: exp.Expression) -> exp.Filter:
    return exp.Filter(this=aggregate, expression=exp.Where(this=where))


def _zero_if_null(value: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=value, expressions=[exp.Literal.number(0)])


def _bigint(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, "BIGINT")


def _money(value: exp.Expression) -> exp.Expression:
    return exp.cast(value, exp.DataType.build(MONEY, dialect="duckdb"))
