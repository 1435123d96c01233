"""Estimate latency for a live builder, against hand-written DuckDB over the same tables.

    .venv/bin/python benchmarks/bench_estimate.py --home HOME [--runs 30]

HOME must hold customer data (e.g. `workbench sample --customers 1000000`). The feature table
and event tables are built once (a builder's kernel keeps them); then each definition is
estimated --runs times through `wb.audiences.estimate` (validation, compile, render, run) and the
same count is run as a hand-written SQL query on the same connection. Results go to
benchmarks/results/estimate.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta

from harness import keep

import workbench


def cases(d: date) -> list[tuple[str, dict, str]]:
    day = lambda n: (d - timedelta(days=n)).isoformat()  # noqa: E731
    return [
        ("demographics", [
            {"attribute": "age", "op": "between", "value": [25, 34]},
            {"attribute": "gender", "op": "in", "value": ["female"]},
            {"attribute": "home_state", "op": "in", "value": ["CA", "NY", "TX"]}],
         """SELECT count(*) FILTER (WHERE age BETWEEN 25 AND 34 AND gender = 'female'
                AND home_state IN ('CA', 'NY', 'TX')), count(*) FROM {features}"""),
        ("rfm scores + appended exclude", [
            {"attribute": "rfm.r_score", "op": "in", "value": [4, 5]},
            {"attribute": "rfm.m_score", "op": "gte", "value": 4},
            {"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"],
             "exclude": True}],
         """SELECT count(*) FILTER (WHERE "rfm.r_score" IN (4, 5) AND "rfm.m_score" >= 4
                AND ("appended.loyalty_tier" IS NULL OR "appended.loyalty_tier" <> 'bronze')),
                count(*) FROM {features}"""),
        ("tag within 90 days, min 2", [
            {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90,
             "min_count": 2}],
         f"""SELECT count(*) FILTER (WHERE _key IN (SELECT _key FROM tag_events
                WHERE tag = 'store_visit' AND day > DATE '{day(90)}' AND day <= DATE '{d}'
                GROUP BY _key HAVING count(*) >= 2)), count(*) FROM {{features}}"""),
        ("SPEC example (5 rules, 2 windows)", [
            {"attribute": "age", "op": "between", "value": [25, 34]},
            {"attribute": "gender", "op": "in", "value": ["female"]},
            {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90,
             "min_count": 2},
            {"attribute": "rfm.monetary", "op": "gt", "value": 100, "within_days": 365},
            {"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"],
             "exclude": True}],
         f"""SELECT count(*) FILTER (WHERE age BETWEEN 25 AND 34 AND gender = 'female'
                AND _key IN (SELECT _key FROM tag_events WHERE tag = 'store_visit'
                    AND day > DATE '{day(90)}' AND day <= DATE '{d}' GROUP BY _key
                    HAVING count(*) >= 2)
                AND _key IN (SELECT _key FROM purchases WHERE day > DATE
                    '{day(365)}' AND day <= DATE '{d}' GROUP BY _key
                    HAVING sum(amount) > 100)
                AND ("appended.loyalty_tier" IS NULL OR "appended.loyalty_tier" <> 'bronze')),
                count(*) FROM {{features}}"""),
    ]


def timed(fn, runs: int) -> tuple[list[float], object]:
    result, times = None, []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--as-of", default="2026-11-28")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    d = date.fromisoformat(args.as_of)
    wb = workbench.open(args.home)
    started = time.perf_counter()
    features = wb.feature_tables.table(d)
    wb.feature_tables.event_table("tag_events")
    wb.feature_tables.event_table("purchases")
    warm = time.perf_counter() - started
    base = wb.duck.execute(f"SELECT count(*) FROM {features}").fetchone()[0]
    lines = [f"# Estimate latency, {base:,} customers as of {d}", "",
             f"{date.today()} · tables built once in {warm:.1f} s (a builder kernel keeps "
             f"them) · {args.runs} runs each, after one warm-up", "",
             "| definition | size | ours p50 ms | ours p95 ms | hand-written p50 ms | ratio |",
             "|---|---|---|---|---|---|"]
    for label, rules, sql in cases(d):
        definition = {"name": label, "rules": rules}
        wb.audiences.estimate(definition, as_of=d)  # warm-up: catalog, choices
        ours, estimate = timed(lambda x=definition: wb.audiences.estimate(x, as_of=d), args.runs)
        query = sql.format(features=features)
        hand, row = timed(lambda q=query: wb.duck.execute(q).fetchone(), args.runs)
        assert (estimate.size, estimate.base) == tuple(row), (label, estimate, row)
        p50, hand50 = statistics.median(ours) * 1000, statistics.median(hand) * 1000
        p95 = sorted(ours)[int(0.95 * (len(ours) - 1))] * 1000
        lines.append(f"| {label} | {estimate.size:,} | {p50:.0f} | {p95:.0f} | {hand50:.0f} | "
                     f"{p50 / hand50:.2f}x |")
    keep("estimate", lines)


if __name__ == "__main__":
    main()
