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

from sqlglot import exp

from ..audiences.compiler import Sources, compile_rules, needed_attributes
from ..customers.features import Day, Tables, features_query
from ..memberships import Memberships
from ..query.engine import Engine, EngineError
from ..query.sql import ident
from .composition import Buckets, top_values_sql
from .evaluate import ActiveAudience, levels, pass_queries

FEATURES = "features_day"


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


def process_day(engine: Engine, memberships: Memberships, tables: Tables, day: Day,
                audiences: list[ActiveAudience], buckets: list[Buckets],
                previous: dict[int, dict | None], run_id: int) -> tuple[DayResult, list[dict]]:
    started = time.perf_counter()
    needed = {b.column for b in buckets}
    for audience in audiences:
        needed |= needed_attributes(audience.rules)
    engine.materialize(FEATURES, features_query(tables, day, needed))
    sources = Sources(tables, day, features=FEATURES)
    failures = _failing(engine, sources, audiences, limit=0)
    good = [a for a in audiences if a.id not in failures]
    try:
        final = _evaluate(engine, sources, good)
    except EngineError:  # a failure only the data shows: find it by running each alone
        failures |= _failing(engine, sources, good)
        good = [a for a in audiences if a.id not in failures]
        final = _evaluate(engine, sources, good)
    counts = "".join(f", count(*) FILTER (WHERE {ident(a.column)})" for a in good)
    base, *sizes = engine.rows(_parsed(f"SELECT count(*){counts} FROM {final}"))[0]
    membership = memberships.new_file(day.day, run_id)
    _write_membership(engine, memberships.path(membership), final, good)
    sizes = dict(zip([a.id for a in good], sizes, strict=True))
    added, removed = _changes(engine, memberships, membership, good, previous, sizes)
    snapshots = _composition(engine, day.day, final, good, buckets)
    result = DayResult(day.day, base, sizes, added, removed, membership,
                       time.perf_counter() - started, failures)
    return result, snapshots


def _evaluate(engine: Engine, sources: Sources, audiences: list[ActiveAudience]) -> str:
    final = FEATURES
    for depth, query in enumerate(pass_queries(levels(audiences), sources)):
        final = f"pass_{depth}"
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
    parts = [f"SELECT {a.id} AS audience_id, customer_id FROM {final} "
             f"WHERE {ident(a.column)}" for a in active] or [
        "SELECT CAST(NULL AS INTEGER) AS audience_id, CAST(NULL AS VARCHAR) AS customer_id "
        "WHERE false"]
    # Written audience by audience, as the parts come: readers filter on audience_id.
    engine.write_parquet(_parsed(" UNION ALL ".join(parts)), path)


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
    id_list = ", ".join(str(int(i)) for i in ids)
    return engine.rows(_parsed(f"""
        SELECT coalesce(c.audience_id, p.audience_id) AS audience_id,
               count(*) FILTER (WHERE p.customer_id IS NULL) AS added,
               count(*) FILTER (WHERE c.customer_id IS NULL) AS removed
        FROM (SELECT * FROM {memberships.read(later)} WHERE audience_id IN ({id_list})) c
        FULL OUTER JOIN (SELECT * FROM {memberships.read(earlier)}
                         WHERE audience_id IN ({id_list})) p
          ON c.audience_id = p.audience_id AND c.customer_id = p.customer_id
        GROUP BY 1"""))


def _composition(engine: Engine, day: date, final: str, active: list[ActiveAudience],
                 buckets: list[Buckets]) -> list[dict]:
    """Every attribute's buckets for every audience and the base, in one scan
    (GROUPING SETS: one grouping per attribute)."""
    buckets = [Buckets(b.attribute, b.column, "top", top=tuple(
        row[0] for row in engine.rows(_parsed(top_values_sql(final, b.column)))))
        if b.kind == "top" and not b.top else b for b in buckets]
    labels = ", ".join(f"{b.expression()} AS b{i}" for i, b in enumerate(buckets))
    sets = ", ".join(f"(b{i})" for i in range(len(buckets)))
    counts = "".join(f", count(*) FILTER (WHERE {ident(a.column)})" for a in active)
    rows = engine.rows(_parsed(f"SELECT {labels}, count(*){counts} FROM {final} "
                               f"GROUP BY GROUPING SETS ({sets})"))
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


def _parsed(text: str) -> exp.Expression:
    """DuckDB text as the tree the engine takes (until these statements are built as trees)."""
    import sqlglot

    return sqlglot.parse_one(text, read="duckdb")
