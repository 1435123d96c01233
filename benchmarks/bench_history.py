"""A year of history at 1M customers: carried features against full recomputation and a
hand-written DuckDB loop.

    flock /tmp/i23/heavy.lock .venv/bin/python benchmarks/bench_history.py --home HOME \\
        [--last 2026-11-28] [--days 365] [--sample 10]

HOME holds `workbench sample --customers 1000000 --seed 7 --until 2026-11-28` with the three
demo audiences active and nothing else (its processed history is rewritten). Measured as whole
processes (wall, CPU, peak of the largest process: the papermill kernel), what a user runs:

1. `workbench process --from L-364 --to L`: 365 days, the 3 demo audiences, point in time,
   features carried from day to day (processing/history.py);
2. the same entry point with `WORKBENCH_CARRIED_FEATURES=off` (every day recomputed from all
   history, as before) over --sample days in the middle of the year: a whole year that way is
   ~45 minutes, so it is extrapolated from the sample (per-day mean x 365 + the run's fixed
   cost) and said to be so; the stored sizes, holdouts, added and removed of those days are
   compared with what the carried year recorded (must be equal);
3. a hand-written DuckDB loop (benchmarks/handwritten_processing.ipynb's SQL, one connection,
   one day after another, memberships to Parquet) over the same sample days: per day.

Results: benchmarks/results/history.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from harness import keep

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
HAND_NOTEBOOK = Path(__file__).parent / "handwritten_processing.ipynb"

MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"wall": wall, "cpu": r.ru_utime + r.ru_stime, "peak_mb": r.ru_maxrss / 1024,
                  "rc": done.returncode, "out": done.stdout + done.stderr, "err": done.stderr[-3000:]}))
"""

# The hand-written notebook's cells, in one process: one connection, a loop over the days.
HAND_LOOP = """
import json, sys, time
import duckdb
paths, days, out = json.loads(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
cells = json.load(open(sys.argv[4]))["cells"]
body = "".join([c for c in cells if c["cell_type"] == "code"][-1]["source"])
seconds = []
for as_of in days:
    started = time.perf_counter()
    scope = dict(as_of=as_of, out=f"{out}/{as_of}.parquet", **paths)
    exec(body, scope)
    scope["con"].close()
    seconds.append(time.perf_counter() - started)
print(json.dumps(seconds))
"""


def measure(command: list[str], env: dict) -> dict:
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True,
                          text=True, env=env)
    result = json.loads(done.stdout)
    if result["rc"]:
        raise SystemExit(f"{command} failed: {result['err']}")
    return result


def day_seconds(output: str) -> list[float]:
    """The per-day times the CLI prints ("day 3/14: 2026-11-17 processed in 0.9 s ...")."""
    return [float(s) for s in re.findall(r"^day \d+/\d+: \S+ processed in ([0-9.]+) s",
                                         output, re.M)]


def carried(output: str) -> bool:
    """Whether the run's audit notebook says its features were carried (its summary)."""
    notebook = re.search(r"audit notebook: (\S+\.ipynb)", output).group(1)
    return "features carried day to day" in Path(notebook).read_text()


def files(home: str) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    import workbench

    with workbench.open(home) as wb, wb.snapshot() as snapshot:
        return {kind: str(snapshot.file(kind)) for kind in
                ("profiles", "transactions", "tags", "appended")}


def stored(home: str, first: date, last: date) -> list[tuple]:
    """What the store holds for these days of every active audience."""
    sys.path.insert(0, str(ROOT))
    import workbench

    with workbench.open(home) as wb:
        rows = []
        for audience in wb.audiences.list(status="active"):
            frame = wb.processing.history(audience.id)
            for r in frame.to_dict("records"):
                if first <= r["day"] <= last:
                    rows.append((audience.id, r["day"], r["size"], r["holdout"], r["base"],
                                 r["added"], r["removed"]))
        return sorted(rows)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--last", default="2026-11-28")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--sample", type=int, default=10)
    args = parser.parse_args()
    last = date.fromisoformat(args.last)
    first = last - timedelta(days=args.days - 1)
    middle = first + timedelta(days=args.days // 2)
    sample = [middle + timedelta(days=i) for i in range(args.sample)]
    env = {**os.environ, "WORKBENCH_HOME": args.home, "PYTHONPATH": str(ROOT)}
    env.pop("WORKBENCH_CARRIED_FEATURES", None)
    cli = [str(BIN / "workbench"), "process"]
    loads = [load()]

    year = measure([*cli, "--from", str(first), "--to", str(last)], env)
    year_days = day_seconds(year["out"])
    assert len(year_days) == args.days, year["out"][-500:]
    assert carried(year["out"]), "the year was not carried"
    carried_rows = stored(args.home, sample[0], sample[-1])
    loads.append(load())

    full = measure([*cli, "--from", str(sample[0]), "--to", str(sample[-1])],
                   {**env, "WORKBENCH_CARRIED_FEATURES": "off"})
    full_days = day_seconds(full["out"])
    assert not carried(full["out"]), "the sample was carried"
    full_rows = stored(args.home, sample[0], sample[-1])
    same = carried_rows == full_rows and len(full_rows) == 3 * args.sample
    loads.append(load())

    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        hand = measure([sys.executable, "-c", HAND_LOOP, json.dumps(files(args.home)),
                        ",".join(map(str, sample)), out, str(HAND_NOTEBOOK)], env)
        hand_days = json.loads(hand["out"].strip().splitlines()[-1])
        hand["wall"] = time.perf_counter() - started
    loads.append(load())

    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    full_fixed = full["wall"] - sum(full_days)
    full_year = mean(full_days) * args.days + full_fixed
    hand_year = mean(hand_days) * args.days
    lines = [
        f"# A year of history at 1M customers, {time.strftime('%Y-%m-%d')}",
        "",
        f"Machine: {os.cpu_count()} cores (`nproc`), {platform.machine()} (`uname -m`), "
        f"Python {platform.python_version()}; load average (1, 5, 15 min) before / after each "
        f"measurement: {' → '.join(loads)}. Home: {args.home}; 3 demo audiences; days "
        f"{first} to {last} ({args.days}); sample: {sample[0]} to {sample[-1]} "
        f"({args.sample} days in the middle of the year).",
        "",
        "| measurement | wall s | CPU s | peak MB | per day s (mean of the days) |",
        "|---|---|---|---|---|",
        f"| **ours: `workbench process --from {first} --to {last}`** (carried features, "
        f"{args.days} days, papermill) | **{year['wall']:.1f}** | {year['cpu']:.1f} | "
        f"{year['peak_mb']:.0f} | {mean(year_days):.2f} (max {max(year_days):.2f}) |",
        f"| full recomputation, same entry point, {args.sample} sample days "
        f"(`WORKBENCH_CARRIED_FEATURES=off`) | {full['wall']:.1f} | {full['cpu']:.1f} | "
        f"{full['peak_mb']:.0f} | {mean(full_days):.2f} |",
        f"| hand-written DuckDB loop (the hand-written notebook's SQL per day, one process), "
        f"{args.sample} sample days | {hand['wall']:.1f} | {hand['cpu']:.1f} | "
        f"{hand['peak_mb']:.0f} | {mean(hand_days):.2f} |",
        "",
        f"| {args.days} days | seconds | minutes | ours / it |",
        "|---|---|---|---|",
        f"| ours, measured | {year['wall']:.0f} | {year['wall'] / 60:.1f} | 1.00x |",
        f"| full recomputation, extrapolated ({mean(full_days):.2f} s x {args.days} + "
        f"{full_fixed:.0f} s fixed) | {full_year:.0f} | {full_year / 60:.1f} | "
        f"**{year['wall'] / full_year:.2f}x** |",
        f"| hand-written loop, extrapolated ({mean(hand_days):.2f} s x {args.days}) | "
        f"{hand_year:.0f} | {hand_year / 60:.1f} | **{year['wall'] / hand_year:.2f}x** |",
        "",
        "Target (issue 23): a year at 1M in <= 10 minutes: "
        f"**{'met' if year['wall'] <= 600 else 'NOT met'}** "
        f"({year['wall'] / 60:.1f} min). Sizes, holdouts, base, added and removed of the sample "
        f"days as the carried year recorded them and as full recomputation recorded them "
        f"again: **{'identical' if same else 'DIFFERENT'}** ({len(full_rows)} rows).",
        "",
        "The per-day figure of ours is the mean over the year (the first day carries the "
        "state's start: one full aggregate). The hand-written loop does less than a day of "
        "processing (memberships only: no composition, no changes, no holdouts, no store), "
        "reads events by local date (`CAST(occurred_at AS DATE)`), and recomputes from all "
        "history every day.",
    ]
    keep("history", lines)


if __name__ == "__main__":
    main()
