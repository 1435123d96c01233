"""The engine against what a user could write by hand, as whole processes, pairs alternated.

    .venv/bin/python benchmarks/bench_engine.py --home HOME [--pairs 3] [--runs 15]
    .venv/bin/python benchmarks/bench_engine.py --home HOME10M --out engine-10m --no-fifty

HOME holds `workbench sample --customers N --seed 7` (1,000,000 for results/engine.md,
10,000,000 for results/engine-10m.md) and the three demo audiences (`workbench demo`), and
nothing else active. The workbench's modules are byte-compiled first (as an installed package
is), so that neither side of the `audience list` pair pays for compiling them.

Measured, each figure the median of --pairs runs alternated with its yardstick (A B A B ...),
wall and CPU seconds and peak memory of the largest process (CLI or kernel):

1. cold `workbench audience estimate` of the SPEC example against one hand-written DuckDB query
   over the same Parquet files in a fresh `python` process (same answer checked), then against
   the same answer narrowed by hand (the plain rules, then the tags, then the purchases);
2. estimates in one process (a kernel), as the builder makes them: the SPEC example first,
   then --runs edits of its values (the oldest age 34 to 38, the spend 100 to 120, as a user
   changes them), each against the hand-written query of the same values on the same
   connection: the first estimate, and the p50 of the edits;
3. `workbench process --as-of D` (papermill) with the three demo audiences against a
   hand-written script computing the three memberships (with RFM scores) into Parquet, run
   through papermill the same way; then with 50 active audiences (47 added, archived after);
4. `workbench audience list` against `workbench --help`;
5. cold `workbench audience estimate` of the definition of benchmarks/scale.sh (age 25-34 and
   a store visit in 90 days) against its hand-written query, the same way as 1.

Results: benchmarks/results/engine.md.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
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
SCALE = {"name": "Young store visitors", "rules": [  # benchmarks/scale.sh's estimate
    {"attribute": "age", "op": "between", "value": [25, 34]},
    {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90}]}

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
SELECT count(*) FILTER (WHERE b.age BETWEEN 25 AND {oldest} AND b.gender = 'female' AND v.n >= 2
    AND s.s > {spend} AND a.loyalty_tier IS DISTINCT FROM 'bronze'), count(*)
FROM base b LEFT JOIN visits v USING (customer_id) LEFT JOIN spend s USING (customer_id)
LEFT JOIN read_parquet('{appended}') a USING (customer_id)
"""

# The same answer written by a user who narrows by hand: the plain rules first, then the tag
# windows of those candidates, then a year of purchases summed only for those who pass both;
# events filtered on their instants (the session's time zone is UTC), which Parquet's
# statistics can skip by.
HAND_NARROWED = """
WITH c AS MATERIALIZED (
  SELECT p.customer_id FROM read_parquet('{profiles}') p
  LEFT JOIN read_parquet('{appended}') a USING (customer_id)
  WHERE (p.created_at IS NULL OR CAST(p.created_at AS DATE) <= DATE '{d}') AND p.gender = 'female'
    AND date_diff('year', p.birth_date, DATE '{d}')
      - CASE WHEN strftime(p.birth_date, '%m%d') > strftime(DATE '{d}', '%m%d') THEN 1 ELSE 0 END
      BETWEEN 25 AND {oldest}
    AND a.loyalty_tier IS DISTINCT FROM 'bronze'),
t AS MATERIALIZED (SELECT customer_id FROM read_parquet('{tags}')
  WHERE tag = 'store_visit' AND occurred_at >= CAST(DATE '{d}' - 89 AS TIMESTAMPTZ)
    AND occurred_at < CAST(DATE '{d}' + 1 AS TIMESTAMPTZ)
    AND customer_id IN (SELECT customer_id FROM c) GROUP BY 1 HAVING count(*) >= 2)
SELECT (SELECT count(*) FROM (SELECT customer_id FROM read_parquet('{transactions}')
    WHERE occurred_at >= CAST(DATE '{d}' - 364 AS TIMESTAMPTZ)
      AND occurred_at < CAST(DATE '{d}' + 1 AS TIMESTAMPTZ)
      AND customer_id IN (SELECT customer_id FROM t) GROUP BY 1 HAVING sum(amount) > {spend})),
  (SELECT count(*) FROM read_parquet('{profiles}')
    WHERE created_at IS NULL OR CAST(created_at AS DATE) <= DATE '{d}')
"""

HAND_SCALE = """
WITH base AS (
  SELECT customer_id,
    date_diff('year', birth_date, DATE '{d}')
      - CASE WHEN strftime(birth_date, '%m%d') > strftime(DATE '{d}', '%m%d') THEN 1 ELSE 0 END
      AS age
  FROM read_parquet('{profiles}')
  WHERE created_at IS NULL OR CAST(created_at AS DATE) <= DATE '{d}'),
visits AS (SELECT DISTINCT customer_id FROM read_parquet('{tags}')
  WHERE tag = 'store_visit' AND CAST(occurred_at AS DATE) BETWEEN DATE '{d}' - 89 AND DATE '{d}')
SELECT count(*) FILTER (WHERE b.age BETWEEN 25 AND 34 AND v.customer_id IS NOT NULL), count(*)
FROM base b LEFT JOIN visits v USING (customer_id)
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


def warm(home: str, day: str, hand: str, runs: int, env: dict) -> dict:
    """The kernel's first estimate and the p50 of ``runs`` edits after it (see above)."""
    code = f"""
import json, statistics, time, workbench
wb = workbench.open({home!r})
ours, theirs = [], []
for i in range({runs} + 1):
    oldest, spend = 34 + i % 5, 100 + 10 * (i % 3)
    definition = json.loads({json.dumps(json.dumps(SPEC))})
    definition["rules"][0]["value"] = [25, oldest]
    definition["rules"][3]["value"] = spend
    t = time.perf_counter(); e = wb.audiences.estimate(definition, {day!r})
    ours.append(time.perf_counter() - t)
    query = {hand!r}.replace("{{oldest}}", str(oldest)).replace("{{spend}}", str(spend))
    t = time.perf_counter(); size, base = wb.duck.execute(query).fetchone()
    theirs.append(time.perf_counter() - t)
    assert (e.size, e.base) == (size, base), (e, size, base)
print(json.dumps({{"ours": statistics.median(ours[1:]), "theirs": statistics.median(theirs[1:]),
                  "ours_p95": sorted(ours[1:])[int(0.95 * {runs}) - 1], "size": size,
                  "ours_first": ours[0], "theirs_first": theirs[0]}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--as-of", default="2026-11-28")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default="engine", help="results/OUT.md")
    parser.add_argument("--no-fifty", action="store_true",
                        help="skip the 50-audience processing (long at 10M)")
    args = parser.parse_args()
    compileall.compile_dir(str(ROOT / "workbench"), quiet=1)
    # The 47 extra audiences are activated (here) for one day's processing: a backfill started
    # by each activation would hold the processing lock and the measured run would be refused.
    os.environ["WORKBENCH_BACKFILL_DAYS"] = "0"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["WORKBENCH_HOME"] = args.home
    workbench_cli = [str(BIN / "workbench")]
    paths = files(args.home)
    hand = HAND_ESTIMATE.format(d=args.as_of, oldest=34, spend=100, **paths)
    edited = HAND_ESTIMATE.format(d=args.as_of, oldest="{oldest}", spend="{spend}", **paths)
    folder = Path(tempfile.mkdtemp())
    (folder / "spec.json").write_text(json.dumps(SPEC))
    (folder / "scale.json").write_text(json.dumps(SCALE))

    def hand_py(query: str) -> list[str]:
        return [str(BIN / "python"), "-c",
                "import duckdb; c = duckdb.connect(); c.execute(\"SET TimeZone = 'UTC'\"); "
                f"print(c.execute({query!r}).fetchone())"]

    load = [os.getloadavg()]
    customers = count_customers(paths["profiles"])
    lines = [f"# Engine against hand-written DuckDB, {date.today()}", "",
             f"{customers:,} customers (`workbench sample --customers {customers} --seed 7`), "
             f"as of {args.as_of}. Whole processes, pairs alternated, medians of {args.pairs}; "
             "peak = the largest process (CLI or kernel). The home's `[engine] memory_limit`: "
             f"{memory_limit(args.home)}; the hand-written side has DuckDB's default (80% of "
             "the memory).", "",
             "| measurement | ours s | ours CPU s | ours MB | hand s | hand CPU s | hand MB | "
             "wall ratio | memory ratio |", "|---|---|---|---|---|---|---|---|---|"]

    for label, spec, query in (("SPEC example", "spec.json", hand),
                               ("SPEC example, against a query narrowed by hand", "spec.json",
                                HAND_NARROWED.format(d=args.as_of, oldest=34, spend=100,
                                                     **paths)),
                               ("scale.sh's age and store visit", "scale.json",
                                HAND_SCALE.format(d=args.as_of, **paths))):
        ours, theirs = pairs([*workbench_cli, "audience", "estimate", str(folder / spec),
                              "--as-of", args.as_of, "--json"], hand_py(query), env, args.pairs)
        size = json.loads(ours["out"])["size"]
        assert str(size) in theirs["out"].replace(",", ""), (ours["out"], theirs["out"])
        lines.append(row(f"cold CLI estimate, {label} ({size:,} members)", ours, theirs))

    hand_args = [str(BIN / "papermill"), "--no-progress-bar", "--log-level", "ERROR",
                 str(HAND_NOTEBOOK), str(folder / "hand-out.ipynb"), "-p", "as_of", args.as_of,
                 "-p", "out", str(folder / "hand.parquet"), *sum(
                     (["-p", k, v] for k, v in paths.items()), [])]
    process = [*workbench_cli, "process", "--as-of", args.as_of]
    three, hand_three = pairs(process, hand_args, env, args.pairs)
    lines.append(row("one-day processing, 3 demo audiences (papermill)", three, hand_three))
    fifty = None
    if not args.no_fifty:
        added = activate_bench_audiences(args.home, 47)
        try:
            fifty = statistics.median(measure(process, env)["wall"] for _ in range(args.pairs))
        finally:
            archive(args.home, added)
    listing, helping = pairs([*workbench_cli, "audience", "list"], [*workbench_cli, "--help"],
                             env, max(args.pairs, 5))
    w = warm(args.home, args.as_of, edited, args.runs, env)
    load.append(os.getloadavg())
    lines += ["", "| measurement | ours | yardstick | ratio |", "|---|---|---|---|",
              f"| a kernel's first estimate (the builder's tables kept) | "
              f"{w['ours_first']:.3f} s | {w['theirs_first']:.3f} s (hand-written, same "
              f"connection) | **{w['ours_first'] / w['theirs_first']:.2f}x** |",
              f"| warm estimate after an edit of a value, p50 of {args.runs} (p95 "
              f"{w['ours_p95']:.3f} s) | {w['ours']:.3f} s | {w['theirs']:.3f} s (hand-written, "
              f"same connection) | **{w['ours'] / w['theirs']:.2f}x** |"]
    if fifty is not None:
        lines.append(f"| one-day processing, 50 audiences vs 3 | {fifty:.2f} s | "
                     f"{three['wall']:.2f} s (3 audiences) | **{fifty / three['wall']:.2f}x** |")
    lines += [f"| `workbench audience list` vs `workbench --help` | {listing['wall']:.3f} s | "
              f"{helping['wall']:.3f} s | **+{listing['wall'] - helping['wall']:.3f} s** |", "",
              f"Machine: {os.cpu_count()} cores (`nproc`), {platform.machine()}, Python "
              f"{platform.python_version()}; load average (1, 5, 15 min) before "
              f"{', '.join(f'{x:.2f}' for x in load[0])}, after "
              f"{', '.join(f'{x:.2f}' for x in load[1])} (other work shared the 2 cores)."]
    keep(args.out, lines)


def memory_limit(home: str) -> str:
    import tomllib

    with open(Path(home) / "workbench.toml", "rb") as handle:
        return tomllib.load(handle).get("engine", {}).get("memory_limit", "4GB (default)")


def count_customers(profiles: str) -> int:
    import duckdb

    return duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{profiles}')").fetchone()[0]


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
