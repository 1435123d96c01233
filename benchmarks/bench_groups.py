"""The builder's estimate of a definition with an OR group, against the same query by hand.

    .venv/bin/python benchmarks/bench_groups.py --home HOME [--as-of D] [--runs 15]

HOME holds `workbench sample --customers 1000000 --seed 7` (benchmarks/bench_engine.py says how
to make it). One process, as a builder's kernel is: the first estimate (cold: the day's
features are built) and then the p50/p95 of --runs estimates (warm) of "age 25-34 and (a store
visit in the last 90 days, or spend over 100 between 30 and 365 days ago, or loyalty tier
gold)", each beside the hand-written DuckDB query on the same connection, same answer checked.
Issue 21's target: the warm estimate under 1 s at 1M customers. Results: results/groups.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

from harness import keep

ROOT = Path(__file__).resolve().parents[1]
GROUPED = {"name": "Young, and visiting or spending", "rules": [
    {"attribute": "age", "op": "between", "value": [25, 34]},
    {"any": [
        {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90},
        {"attribute": "rfm.monetary", "op": "gt", "value": 100, "days_ago": [30, 365]},
        {"attribute": "appended.loyalty_tier", "op": "in", "value": ["gold"]}]}]}

# The same semantics written by a careful user over the current Parquet files (UTC home):
# base as of D, full years of age, windows as whole days before D.
HAND = """
WITH base AS (
  SELECT customer_id,
    date_diff('year', birth_date, DATE '{d}')
      - CASE WHEN strftime(birth_date, '%m%d') > strftime(DATE '{d}', '%m%d') THEN 1 ELSE 0 END
      AS age
  FROM read_parquet('{profiles}')
  WHERE created_at IS NULL OR CAST(created_at AS DATE) <= DATE '{d}'),
visits AS (SELECT customer_id, count(*) AS n FROM read_parquet('{tags}')
  WHERE tag = 'store_visit'
    AND CAST(occurred_at AS DATE) BETWEEN DATE '{d}' - 89 AND DATE '{d}' GROUP BY 1),
spend AS (SELECT customer_id, sum(amount) AS s FROM read_parquet('{transactions}')
  WHERE CAST(occurred_at AS DATE) BETWEEN DATE '{d}' - 365 AND DATE '{d}' - 30 GROUP BY 1)
SELECT count(*) FILTER (WHERE b.age BETWEEN 25 AND 34 AND (coalesce(v.n, 0) >= 1
    OR coalesce(s.s, 0) > 100 OR a.loyalty_tier = 'gold')), count(*)
FROM base b LEFT JOIN visits v USING (customer_id) LEFT JOIN spend s USING (customer_id)
LEFT JOIN read_parquet('{appended}') a USING (customer_id)
"""

CODE = """
import json, resource, statistics, sys, time
sys.path.insert(0, {root!r})
import workbench
wb = workbench.open({home!r})
with wb.snapshot() as snapshot:
    paths = {{k: str(snapshot.file(k)) for k in ("profiles", "transactions", "tags", "appended")}}
hand = {hand!r}.format(d={day!r}, **paths)
definition = json.loads({definition!r})
ours, theirs = [], []
for i in range({runs} + 1):
    t = time.perf_counter(); e = wb.audiences.estimate(definition, {day!r})
    ours.append(time.perf_counter() - t)
    t = time.perf_counter(); size, base = wb.duck.execute(hand).fetchone()
    theirs.append(time.perf_counter() - t)
    assert (e.size, e.base) == (size, base), (e, size, base)
warm = sorted(ours[1:])
print(json.dumps({{"cold": ours[0], "cold_hand": theirs[0], "p50": statistics.median(warm),
                  "p95": warm[int(0.95 * len(warm)) - 1],
                  "hand_p50": statistics.median(theirs[1:]), "size": size, "base": base,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--as-of", default="2026-11-28")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    code = CODE.format(root=str(ROOT), home=args.home, hand=HAND, day=args.as_of,
                       definition=json.dumps(GROUPED), runs=args.runs)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    r = json.loads(done.stdout.strip().splitlines()[-1])
    keep("groups", [
        "# The builder's estimate with an OR group (issue 21)", "",
        f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{__import__('os').cpu_count()} cores; `benchmarks/bench_groups.py --home HOME "
        f"--as-of {args.as_of} --runs {args.runs}`, HOME from `workbench sample --customers "
        f"1000000 --seed 7`. One process (a builder's kernel); the hand-written DuckDB query "
        "on the same connection, same answer checked each time.", "",
        f"Definition: age 25–34 and any of (store visit in the last 90 days, spend over 100 "
        f"between 30 and 365 days ago, loyalty tier gold): {r['size']:,} of {r['base']:,}.", "",
        "| | workbench | by hand | ratio |", "|---|---|---|---|",
        f"| first estimate of the day (cold: features built) | {r['cold']:.2f} s | "
        f"{r['cold_hand']:.2f} s | {r['cold'] / r['cold_hand']:.2f}x |",
        f"| warm estimate, p50 of {args.runs} | {r['p50']:.3f} s | {r['hand_p50']:.3f} s | "
        f"**{r['p50'] / r['hand_p50']:.2f}x** |",
        f"| warm estimate, p95 | {r['p95']:.3f} s | | |", "",
        f"Peak memory of the process: {r['peak_mb']:.0f} MB. Target: warm under 1 s "
        f"({'met' if r['p50'] < 1 else 'MISSED'}).",
    ])


if __name__ == "__main__":
    main()
