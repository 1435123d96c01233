"""The engine against what a user could write by hand, as whole processes, pairs alternated.

    .venv/bin/python benchmarks/bench_engine.py --home HOME [--pairs 3] [--runs 15]

HOME holds `workbench sample --customers 1000000 --seed 7` and the three demo audiences
(`workbench demo`), and nothing else active. Measured, each figure the median of --pairs runs
alternated with its yardstick (A B A B ...), wall and CPU seconds and peak memory of the largest
process (CLI or kernel):

1. cold `workbench audience estimate` of the SPEC example against one hand-written DuckDB query
   over the same Parquet files in a fresh `python` process (same answer checked);
2. warm estimates in one process (a kernel): p50 of `wb.audiences.estimate` against the
   hand-written query on the same connection;
3. `workbench process --as-of D` (papermill) with the three demo audiences against a
   hand-written script computing the three memberships (with RFM scores) into Parquet, run
   through papermill the same way; then with 50 active audiences (47 added, archived after);
4. `workbench audience list` against `workbench --help`.

Results: benchmarks/results/engine.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from harness import keep

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
HAND_NOTEBOOK = Path(__file__).parent / "handwritten_processing.ipynb"
SPEC = {"name": "Young store visitors, high spend", "rules": [
    {"attribute": "age", "op": "between", "value": [25, 34]},
    {"attribute": "gender", "op": "in", "value": ["female"]},
    {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90, "min_count": 2},
    {"attribute": "rfm.monetary", "op": "gt", "value": 100, "within_days": 365},
    {"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"], "exclude": True}]}

# What a careful user writes: the same semantics (base as of D, events dated on or before D in
# the workbench timezone, full years of age), straight over the current Parquet files.
HAND_ESTIMATE = """
WITH base AS (
  SELECT customer_id, gender,
    date_diff('year', birth_date, DATE '{d}')
      - CASE WHEN strftime(birth_date, '%m%d') > strftime(DATE '{d}', '%m%d') THEN 1 ELSE 0 END
      AS age
  FROM read_parquet('{profiles}')
  WHERE created_at IS NULL OR CAST(created_at AS DATE) <= DATE '{d}'),
visits AS (SELECT customer_id, count(*) AS n FROM read_parquet('{tags}')
  WHERE tag = 'store_visit'
    AND CAST(occurred_at AS DATE) BETWEEN DATE '{d}' - 89 AND DATE '{d}' GROUP BY 1),
spend AS (SELECT customer_id, sum(amount) AS s FROM read_parquet('{transactions}')
  WHERE CAST(occurred_at AS DATE) BETWEEN DATE '{d}' - 364 AND DATE '{d}' GROUP BY 1)
SELECT count(*) FILTER (WHERE b.age BETWEEN 25 AND 34 AND b.gender = 'female' AND v.n >= 2
    AND s.s > 100 AND a.loyalty_tier IS DISTINCT FROM 'bronze'), count(*)
FROM base b LEFT JOIN visits v USING (customer_id) LEFT JOIN spend s USING (customer_id)
LEFT JOIN read_parquet('{appended}') a USING (customer_id)
"""

MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": r.ru_utime + r.ru_stime, "peak_mb": r.ru_maxrss / 1024,
                  "rc": done.returncode, "out": done.stdout[-2000:], "err": done.stderr[-2000:]}))
"""


def measure(command: list[str], env: dict) -> dict:
    """One run of a command as a whole process tree: wall, CPU, peak of the largest process."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                          text=True, env=env)
    result = json.loads(done.stdout)
    if result["rc"]:
        raise SystemExit(f"{command} failed: {result['err']}")
    return result


def pairs(ours: list[str], theirs: list[str], env: dict, count: int) -> tuple[dict, dict]:
    a, b = [], []
    for _ in range(count):
        a.append(measure(ours, env))
        b.append(measure(theirs, env))
    median = lambda runs: {k: statistics.median(r[k] for r in runs)  # noqa: E731
                           for k in ("wall", "cpu", "peak_mb")} | {"out": runs[-1]["out"]}
    return median(a), median(b)


def files(home: str) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    import workbench

    with workbench.open(home) as wb, wb.snapshot() as snapshot:
        return {kind: str(snapshot.file(kind)) for kind in
                ("profiles", "transactions", "tags", "appended")}


def row(label: str, ours: dict, theirs: dict) -> str:
    return (f"| {label} | {ours['wall']:.2f} | {ours['cpu']:.2f} | {ours['peak_mb']:.0f} | "
            f"{theirs['wall']:.2f} | {theirs['cpu']:.2f} | {theirs['peak_mb']:.0f} | "
            f"**{ours['wall'] / theirs['wall']:.2f}x** | "
            f"**{ours['peak_mb'] / theirs['peak_mb']:.2f}x** |")


def warm(home: str, day: str, hand: str, runs: int) -> dict:
    code = f"""
import json, statistics, time, workbench
wb = workbench.open({home!r})
definition = json.loads({json.dumps(json.dumps(SPEC))})
ours, theirs = [], []
for i in range({runs} + 1):
    t = time.perf_counter(); e = wb.audiences.estimate(definition, {day!r})
    ours.append(time.perf_counter() - t)
    t = time.perf_counter(); size, base = wb.duck.execute({hand!r}).fetchone()
    theirs.append(time.perf_counter() - t)
    assert (e.size, e.base) == (size, base), (e, size, base)
print(json.dumps({{"ours": statistics.median(ours[1:]), "theirs": statistics.median(theirs[1:]),
                  "ours_p95": sorted(ours[1:])[int(0.95 * {runs}) - 1], "size": size}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--as-of", default="2026-11-28")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "WORKBENCH_HOME": args.home}
    workbench_cli = [str(BIN / "workbench")]
    paths = files(args.home)
    hand = HAND_ESTIMATE.format(d=args.as_of, **paths)
    folder = Path(tempfile.mkdtemp())
    (folder / "spec.json").write_text(json.dumps(SPEC))
    hand_py = ("import duckdb; c = duckdb.connect(); c.execute(\"SET TimeZone = 'UTC'\"); "
               f"print(c.execute({hand!r}).fetchone())")
    lines = [f"# Engine against hand-written DuckDB, {date.today()}", "",
             "1,000,000 customers, 10.3M transactions, 7.6M tags (`workbench sample "
             f"--customers 1000000 --seed 7`), as of {args.as_of}. Whole processes, pairs "
             f"alternated, medians of {args.pairs}; peak = the largest process (CLI or kernel).",
             "", "| measurement | ours s | ours CPU s | ours MB | hand s | hand CPU s | hand MB | "
             "wall ratio | memory ratio |", "|---|---|---|---|---|---|---|---|---|"]

    ours, theirs = pairs([*workbench_cli, "audience", "estimate", str(folder / "spec.json"),
                          "--as-of", args.as_of, "--json"],
                         [str(BIN / "python"), "-c", hand_py], env, args.pairs)
    size = json.loads(ours["out"])["size"]
    assert str(size) in theirs["out"].replace(",", ""), (ours["out"], theirs["out"])
    lines.append(row(f"cold CLI estimate, SPEC example ({size:,} members)", ours, theirs))

    hand_args = [str(BIN / "papermill"), "--no-progress-bar", "--log-level", "ERROR",
                 str(HAND_NOTEBOOK), str(folder / "hand-out.ipynb"), "-p", "as_of", args.as_of,
                 "-p", "out", str(folder / "hand.parquet"), *sum(
                     (["-p", k, v] for k, v in paths.items()), [])]
    process = [*workbench_cli, "process", "--as-of", args.as_of]
    three, hand_three = pairs(process, hand_args, env, args.pairs)
    lines.append(row("one-day processing, 3 demo audiences (papermill)", three, hand_three))
    added = activate_bench_audiences(args.home, 47)
    try:
        fifty = statistics.median(measure(process, env)["wall"] for _ in range(args.pairs))
    finally:
        archive(args.home, added)
    listing, helping = pairs([*workbench_cli, "audience", "list"], [*workbench_cli, "--help"],
                             env, max(args.pairs, 5))
    w = warm(args.home, args.as_of, hand, args.runs)
    lines += ["", "| measurement | ours | yardstick | ratio |", "|---|---|---|---|",
              f"| warm estimate in one kernel, p50 of {args.runs} (p95 {w['ours_p95']:.3f} s) | "
              f"{w['ours']:.3f} s | {w['theirs']:.3f} s (hand-written, same connection) | "
              f"**{w['ours'] / w['theirs']:.2f}x** |",
              f"| one-day processing, 50 audiences vs 3 | {fifty:.2f} s | {three['wall']:.2f} s "
              f"(3 audiences) | **{fifty / three['wall']:.2f}x** |",
              f"| `workbench audience list` vs `workbench --help` | {listing['wall']:.3f} s | "
              f"{helping['wall']:.3f} s | **+{listing['wall'] - helping['wall']:.3f} s** |"]
    keep("engine", lines)


def activate_bench_audiences(home: str, count: int) -> list[int]:
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_processing import definitions

    import workbench

    with workbench.open(home) as wb:
        return [wb.audiences.activate(wb.audiences.create(d).id).id
                for d in definitions()[:count]]


def archive(home: str, ids: list[int]) -> None:
    import workbench

    with workbench.open(home) as wb:
        for audience_id in ids:
            wb.audiences.archive(audience_id)


if __name__ == "__main__":
    time.sleep(0)
    main()
