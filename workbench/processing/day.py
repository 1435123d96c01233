"""Processing of one day: every active audience evaluated in one pass over one snapshot.

The features the audiences and the composition buckets read are built once for the day (only
those columns); the audiences become boolean columns of one table, level by level; memberships
are written to the run's file; changes and composition come from the same tables. An audience
whose evaluation fails is set aside with its error and the others are processed (isolation).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from sqlglot import exp

from ..audiences.compiler import (
    Prebuilt,
    Sources,
    compile_rules,
    level_table,
    needed_attributes,
    purchase_windows,
    purchases_query,
)
from ..audiences.holdout import holdout_condition
from ..customers.features import RFM, SCORES, Day, Tables, features_query
from ..errors import EngineError
from ..memberships import Memberships
from ..query import sql
from ..query.engine import Engine
from .composition import Buckets, top_values
from .evaluate import ActiveAudience, pass_queries

if TYPE_CHECKING:
    from .history import Carried

FEATURES = "features_day"
PURCHASES = "purchases_day"


@dataclass
class DayResult:
    day: date
    base: int
    sizes: dict[int, int]
    added: dict[int, int]
    removed: dict[int, int]
    membership: str  # path relative to the home
    seconds: float
    failures: dict[int, str] = field(default_factory=dict)  # audience id -> error
    holdouts: dict[int, int] = field(default_factory=dict)  # of the size, members held out


def process_day(engine: Engine, memberships: Memberships, tables: Tables, day: Day,
                audiences: list[ActiveAudience], buckets: list[Buckets],
                previous: dict[int, dict | None], run_id: int,
                carried: Carried | None = None) -> tuple[DayResult, list[dict]]:
    """``carried``: a multi-day run's state as of ``day`` (history.py), read for the features
    and windowed counts instead of all the events."""
    started = time.perf_counter()
    needed = {b.column for b in buckets}
    for audience in audiences:
        needed |= needed_attributes(audience.rules)
    if carried:  # a multi-day run: the features and windows come from its carried state
        engine.materialize(FEATURES, carried.features(day, needed))
        sources = Sources(tables, day, features=FEATURES, windowed=carried.windowed)
    else:
        purchases = _purchases(engine, tables, day, needed, audiences)
        engine.materialize(FEATURES, features_query(tables, day, needed,
                                                    purchases.table if purchases else None))
        sources = Sources(tables, day, features=FEATURES, purchases=purchases)
    failures = _failing(engine, sources, audiences, limit=0)
    good = [a for a in audiences if a.id not in failures]
    try:
        final = _evaluate(engine, sources, good)
    except EngineError:  # a failure only the data shows: find it by running each alone
        failures |= _failing(engine, sources, good)
        good = [a for a in audiences if a.id not in failures]
        final = _evaluate(engine, sources, good)
    base, *counts = engine.rows(exp.select(_count(), *_members(good), *_held_out(good))
                                .from_(final))[0]
    membership = memberships.new_file(day.day, run_id)
    _write_membership(engine, memberships.path(membership), final, good)
    sizes = dict(zip([a.id for a in good], counts[:len(good)], strict=True))
    holdouts = dict(zip([a.id for a in good], counts[len(good):], strict=True))
    added, removed = _changes(engine, memberships, membership, good, previous, sizes)
    snapshots = _composition(engine, day.day, final, good, buckets)
    result = DayResult(day.day, base, sizes, added, removed, membership,
                       time.perf_counter() - started, failures, holdouts)
    return result, snapshots


def _purchases(engine: Engine, tables: Tables, day: Day, needed: set[str],
               audiences: list[ActiveAudience]) -> Prebuilt | None:
    """When the day needs the all-time RFM features (the composition buckets do), their
    per-customer aggregate is built first as a table of its own, with every purchase window
    of the audiences beside it: one scan of the transactions for both, where the features and
    the pass each scanned them (at 10M customers, 103M rows). Built alone, the aggregate also
    has the memory to itself instead of sharing it with the joins and sorts of the features.
    Without RFM features, windows are read as before (their scan skips the row groups outside
    the windows)."""
    if not needed & {*RFM, *SCORES}:
        return None
    windows = set().union(*(purchase_windows(a.rules) for a in audiences))
    engine.materialize(PURCHASES, purchases_query(tables, day, windows))
    return Prebuilt(PURCHASES, frozenset(windows))


def _evaluate(engine: Engine, sources: Sources, audiences: list[ActiveAudience]) -> str:
    final = FEATURES
    for depth, query in enumerate(pass_queries(audiences, sources)):
        final = level_table(depth)
        engine.materialize(final, query)
    return final


def _failing(engine: Engine, sources: Sources, audiences: list[ActiveAudience],
             limit: int | None = None) -> dict[int, str]:
    """Audiences that cannot be evaluated, with the reason: each compiled and run alone
    (``limit=0``: only planned, which is cheap), then those that use a failing audience."""
    failures: dict[int, str] = {}
    for audience in audiences:
        try:
            compiled = compile_rules(audience.rules, sources, lambda _id: exp.true())
            query = compiled.estimate()
            engine.rows(query.limit(limit) if limit is not None else query)
        except (EngineError, ValueError, ArithmeticError) as exc:
            failures[audience.id] = str(exc)
    changed = True
    while changed:
        changed = False
        for audience in audiences:
            broken = audience.references & set(failures)
            if audience.id not in failures and broken:
                failures[audience.id] = f"uses audience {min(broken)}, which failed"
                changed = True
    return failures


def _write_membership(engine: Engine, path, final: str, active: list[ActiveAudience]) -> None:
    # ``holdout``: the member's group (audiences/holdout.py), kept so that exports and
    # ``members --group`` read what processing counted.
    parts = [exp.select(exp.alias_(exp.Literal.number(a.id), "audience_id"), "customer_id",
                        exp.alias_(_holdout(a), "holdout"))
             .from_(final).where(_flag(a)) for a in active] or [
        exp.select(exp.alias_(exp.cast(exp.null(), "INTEGER"), "audience_id"),
                   exp.alias_(exp.cast(exp.null(), "VARCHAR"), "customer_id"),
                   exp.alias_(exp.cast(exp.null(), "BOOLEAN"), "holdout")).where(exp.false())]
    # Written audience by audience, as the parts come: readers filter on audience_id.
    engine.write_parquet(exp.union(*parts, distinct=False) if len(parts) > 1 else parts[0],
                         path)


def _changes(engine: Engine, memberships: Memberships, membership: str,
             active: list[ActiveAudience], previous: dict[int, dict | None],
             sizes: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
    """Members added and removed since each audience's previous processed day (on its
    first day every member counts as added)."""
    added = {a.id: sizes[a.id] for a in active}
    removed = dict.fromkeys(added, 0)
    by_file: dict[str, list[int]] = {}
    for a in active:
        if previous.get(a.id) is not None:
            by_file.setdefault(previous[a.id]["membership"], []).append(a.id)
    for earlier, ids in by_file.items():
        added.update(dict.fromkeys(ids, 0))
        for audience_id, plus, minus in compare(engine, memberships, membership, earlier, ids):
            added[audience_id], removed[audience_id] = plus, minus
    return added, removed


def compare(engine: Engine, memberships: Memberships, later: str, earlier: str,
            ids: list[int]) -> list[tuple]:
    def members(relative: str, alias: str) -> exp.Subquery:
        file = sql.parquet(memberships.path(relative))
        return exp.select("*").from_(file).where(exp.column("audience_id").isin(
            *(exp.Literal.number(int(i)) for i in ids))).subquery(alias)

    c, p = (exp.column("customer_id", t) for t in ("c", "p"))
    return engine.rows(
        exp.select(exp.alias_(exp.Coalesce(this=exp.column("audience_id", "c"), expressions=[
            exp.column("audience_id", "p")]), "audience_id"),
            exp.alias_(_count(p.is_(exp.null())), "added"),
            exp.alias_(_count(c.is_(exp.null())), "removed"))
        .from_(members(later, "c"))
        .join(members(earlier, "p"), join_type="full outer", on=exp.and_(
            exp.column("audience_id", "c").eq(exp.column("audience_id", "p")), c.eq(p)))
        .group_by(exp.Literal.number(1)))


def _composition(engine: Engine, day: date, final: str, active: list[ActiveAudience],
                 buckets: list[Buckets]) -> list[dict]:
    """Every attribute's buckets for every audience and the base, in one scan
    (GROUPING SETS: one grouping per attribute)."""
    buckets = [Buckets(b.attribute, b.column, "top", top=tuple(
        row[0] for row in engine.rows(top_values(final, b.column))))
        if b.kind == "top" and not b.top else b for b in buckets]
    labels = [exp.alias_(b.expression(), f"b{i}") for i, b in enumerate(buckets)]
    sets = exp.GroupingSets(expressions=[exp.paren(exp.column(f"b{i}"))
                                         for i in range(len(buckets))])
    rows = engine.rows(exp.select(*labels, _count(), *_members(active)).from_(final)
                       .group_by(sets))
    snapshots = []
    for i, b in enumerate(buckets):
        by_label = {row[i]: row[len(buckets):] for row in rows if row[i] is not None}
        for position, label in enumerate(b.order({k: v[0] for k, v in by_label.items()})):
            base_count, *per_audience = by_label.get(label, (0,) + (0,) * len(active))
            snapshots += [{"audience_id": a.id, "day": day, "attribute": b.attribute,
                           "bucket": label, "position": position, "count": count,
                           "base_count": base_count}
                          for a, count in zip(active, per_audience, strict=True)]
    return snapshots


def _flag(audience: ActiveAudience) -> exp.Column:
    """The audience's column of the pass: true for its members."""
    return sql.column(audience.column)


def _count(where: exp.Expression | None = None) -> exp.Expression:
    """count(*), or count(*) FILTER (WHERE ``where``)."""
    count = exp.Count(this=exp.Star())
    return count if where is None else exp.Filter(this=count, expression=exp.Where(this=where))


def _members(audiences: list[ActiveAudience]) -> list[exp.Expression]:
    """Each audience's member count."""
    return [_count(_flag(a)) for a in audiences]


def _holdout(audience: ActiveAudience) -> exp.Expression:
    return holdout_condition(audience.id, audience.holdout_percent)


def _held_out(audiences: list[ActiveAudience]) -> list[exp.Expression]:
    """Each audience's count of members in its holdout (0 without one)."""
    return [_count(exp.and_(_flag(a), _holdout(a))) if a.holdout_percent
            else exp.Literal.number(0) for a in audiences]
