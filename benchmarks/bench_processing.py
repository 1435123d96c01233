"""Processing one day for 50 active audiences, against (a) the bare feature-table build (the
floor: processing cannot be cheaper than building the day's features) and (b) evaluating the 50
audiences one query each over the same features (the naive way).

    .venv/bin/python benchmarks/bench_processing.py --home HOME [--as-of 2026-11-28]

HOME must hold customer data (`workbench sample --customers 1000000`); 50 benchmark audiences
("bench NN") are created and activated there if missing. Each measurement runs in a fresh
process (no warm caches) and records its peak memory. Results: benchmarks/results/processing.md.
"""

from __future__ import annotations

import argparse
from datetime import date

from harness import child, keep

COUNT = 50


def definitions() -> list[dict]:
    """50 definitions across every kind of rule: demographics, scores, windows, appended."""
    states = ["CA", "NY", "TX", "FL", "IL", "PA", "OH", "GA", "WA", "MA"]
    tiers = ["bronze", "silver", "gold", "platinum"]
    tags = ["store_visit", "email_open", "app_login", "campaign_participation", "purchase"]
    result = []
    for i in range(COUNT):
        rules = [{"attribute": "age", "op": "between", "value": [18 + i % 30, 40 + i % 40]}]
        kind = i % 5
        if kind == 0:
            rules.append({"attribute": "home_state", "op": "in",
                          "value": states[i % 7: i % 7 + 3]})
        elif kind == 1:
            rules.append({"attribute": "rfm.m_score", "op": "gte", "value": 1 + i % 5})
            rules.append({"attribute": "gender", "op": "eq", "value": ["female", "male"][i % 2]})
        elif kind == 2:
            rules.append({"attribute": "tag", "op": "has", "value": [tags[i % 5]],
                          "within_days": 30 * (1 + i % 6), "min_count": 1 + i % 3})
        elif kind == 3:
            rules.append({"attribute": "rfm.monetary", "op": "gt", "value": 50 * (1 + i % 8),
                          "within_days": 90 * (1 + i % 4)})
        else:
            rules.append({"attribute": "appended.loyalty_tier", "op": "in",
                          "value": [tiers[i % 4]], "exclude": i % 2 == 0})
            rules.append({"attribute": "rfm.recency_days", "op": "lte", "value": 30 + 10 * i})
        result.append({"name": f"bench {i:02d}", "rules": rules})
    return result


def ensure_audiences(home: str) -> None:
    import workbench

    with workbench.open(home) as wb:
        existing = {a.name for a in wb.audiences.list() if a.status == "active"}
        for definition in definitions():
            if definition["name"] not in existing:
                wb.audiences.activate(wb.audiences.create(definition).id)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--as-of", default="2026-11-28")
    args = parser.parse_args()
    ensure_audiences(args.home)
    setup = f"""
import time, datetime, workbench
wb = workbench.open({args.home!r}); day = datetime.date.fromisoformat({args.as_of!r})
"""
    floor = child(setup + """
t = time.perf_counter(); wb.features(day)
RESULT = {'seconds': time.perf_counter() - t}""")
    naive = child(setup + """
t = time.perf_counter()
active = [a for a in wb.audiences.list() if a.status == 'active']
sizes = {a.id: len(wb.audiences.members(a.id, as_of=day)) for a in active}
RESULT = {'seconds': time.perf_counter() - t, 'audiences': len(active)}""")
    ours = child(setup + """
t = time.perf_counter(); report = wb.processing.run(day)
RESULT = {'seconds': time.perf_counter() - t, 'audiences': len(report.audiences),
          'base': report.days[0].base}""")
    # Evaluation alone, the day's features built first, in one process: 50 queries against
    # the one pass (its levels kept as tables, as processing keeps them).
    evaluation = child(setup + """
from workbench.audiences.compiler import Sources
from workbench.customers.features import Day, everything, features_query
from workbench.processing.evaluate import pass_queries
with wb.snapshot() as snapshot:
    tables, on = snapshot.tables(), Day(day, wb.calendar.zone)
    wb.engine.materialize('features_day', features_query(tables, on, everything(tables)))
    sources = Sources(tables, on, features='features_day')
    active, _ = wb.processing._active_audiences(snapshot)
    t = time.perf_counter()
    for a in active:
        wb.audiences.members(a.id, as_of=day)
    naive = time.perf_counter() - t
    t = time.perf_counter()
    for depth, query in enumerate(pass_queries(active, sources)):
        wb.engine.materialize(f'pass_{depth}', query)
    one_pass = time.perf_counter() - t
RESULT = {'naive': naive, 'pass': one_pass}""")
    lines = [f"# Processing one day: {ours['audiences']} active audiences, "
             f"{ours['base']:,} customers as of {args.as_of}", "",
             f"{date.today()} · each in a fresh process", "",
             "| measurement | seconds | peak MB | vs floor |", "|---|---|---|---|"]
    for label, result in (("(a) feature table build alone (floor)", floor),
                          ("(b) one member query per audience (naive)", naive),
                          ("workbench processing run (all audiences, one pass, with "
                           "memberships, changes, composition, commit)", ours)):
        lines.append(f"| {label} | {result['seconds']:.1f} | {result['peak_mb']:.0f} | "
                     f"{result['seconds'] / floor['seconds']:.2f}x |")
    lines += ["", f"End to end, processing vs naive: {naive['seconds'] / ours['seconds']:.2f}x "
              "faster, although processing also writes memberships, member changes and "
              "composition snapshots, which the naive evaluation does not.", "",
              "Evaluation alone (the day's features already built, same process): "
              f"{ours['audiences']} member queries {evaluation['naive']:.2f} s, one pass "
              f"{evaluation['pass']:.2f} s ({evaluation['naive'] / evaluation['pass']:.1f}x "
              "faster)."]
    keep("processing", lines)


if __name__ == "__main__":
    main()
