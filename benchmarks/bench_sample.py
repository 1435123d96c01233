"""`workbench sample` at scale: the whole command, and its two parts with a yardstick.

    flock /tmp/i23/heavy.lock .venv/bin/python benchmarks/bench_sample.py \
        --customers 10000000 --work /work/big/sample/bench [--only whole|parts]

Measured, each in a fresh process (wall; peak resident memory of its whole process tree,
sampled every 0.1 s, so helper processes or threads are counted with it):
- whole: `workbench sample --customers N --seed 7 --until 2026-11-28` into a new home (the
  target: <= 300 s and <= 4 GB at 10M customers);
- generate: `write_sample` alone (the Parquet files the command hands to ingest);
- ingest: `wb.customers.ingest` of those four files, in the order sample uses, with the time
  of each kind;
- yardstick: DuckDB COPY of the same four Parquet files to zstd Parquet in a bare connection
  with the same memory_limit (no checks, no merge): the floor of any ingest of them.
There is no hand-written generator to compare generation with: its yardstick is the target.
Prints a Markdown table for benchmarks/results/scale.md, with the machine and the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
UNTIL, SEED = "2026-11-28", 7
KINDS = ("profiles", "appended", "transactions", "tags")  # service.SAMPLE_ORDER


def measure(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak GB of the process tree (sampled), and the command's stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    root, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            total = 0
            for member in tree:
                try:
                    total += member.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            peak = max(peak, total)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.1)
    out = process.stdout.read()
    if process.returncode:
        raise SystemExit(f"{command[:3]} failed ({process.returncode}): {out[-2000:]}")
    return time.perf_counter() - started, peak / 1e9, out


def python(code: str) -> list[str]:
    return [str(PYTHON), "-c", code]


def whole(work: Path, customers: int) -> list[str]:
    home = work / "home-whole"
    shutil.rmtree(home, ignore_errors=True)
    env = {"WORKBENCH_HOME": str(home), "WORKBENCH_USER": "bench"}
    cli = str(ROOT / ".venv" / "bin" / "workbench")
    subprocess.run([cli, "init"], check=True, capture_output=True, env={**os.environ, **env})
    wall, peak, _ = measure([cli, "sample", "--customers", str(customers), "--seed", str(SEED),
                             "--until", UNTIL], env)
    shutil.rmtree(home, ignore_errors=True)
    return [f"| `workbench sample --customers {customers:,}` (generate + ingest) | {wall:.1f} s "
            f"| {peak:.2f} GB |"]


def parts(work: Path, customers: int) -> list[str]:
    files, home = work / "files", work / "home-parts"
    shutil.rmtree(files, ignore_errors=True)
    wall, peak, _ = measure(python(
        "from datetime import date; from workbench.customers.sample import write_sample; "
        f"write_sample({str(files)!r}, {customers}, {SEED}, date.fromisoformat({UNTIL!r}))"))
    rows = [f"| generate (`write_sample`, four Parquet files) | {wall:.1f} s | {peak:.2f} GB |"]

    shutil.rmtree(home, ignore_errors=True)
    wall, peak, out = measure(python(f"""
import json, time, workbench
from workbench.home import init_home
init_home({str(home)!r}, admin="bench")
times = {{}}
with workbench.open({str(home)!r}, user="bench") as wb:
    for kind in {KINDS!r}:
        t = time.perf_counter()
        wb.customers.ingest(kind, {str(files)!r} + f"/{{kind}}.parquet")
        times[kind] = time.perf_counter() - t
print(json.dumps(times))"""))
    ours = json.loads(out.strip().splitlines()[-1])
    shutil.rmtree(home, ignore_errors=True)
    rows.append(f"| ingest of those files (`wb.customers.ingest`, 4 kinds) | {wall:.1f} s "
                f"| {peak:.2f} GB |")

    copies = work / "copies"
    shutil.rmtree(copies, ignore_errors=True)
    copies.mkdir()
    wall, peak, out = measure(python(f"""
import json, time, duckdb
conn = duckdb.connect()
conn.execute("SET memory_limit = '4GB'")
times = {{}}
for kind in {KINDS!r}:
    t = time.perf_counter()
    conn.execute(f"COPY (SELECT * FROM read_parquet('{files}/{{kind}}.parquet')) "
                 f"TO '{copies}/{{kind}}.parquet' (FORMAT parquet, COMPRESSION zstd)")
    times[kind] = time.perf_counter() - t
print(json.dumps(times))"""))
    theirs = json.loads(out.strip().splitlines()[-1])
    shutil.rmtree(copies, ignore_errors=True)
    rows.append(f"| yardstick: DuckDB COPY of the same 4 files (memory_limit 4GB) | {wall:.1f} s "
                f"| {peak:.2f} GB |")
    rows.append("")
    rows.append("| kind | ingest | DuckDB COPY | ratio |")
    rows.append("|---|---|---|---|")
    for kind in KINDS:
        rows.append(f"| {kind} | {ours[kind]:.1f} s | {theirs[kind]:.1f} s "
                    f"| {ours[kind] / theirs[kind]:.1f}x |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000_000)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--only", choices=("whole", "parts"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    before = Path("/proc/loadavg").read_text().split()[:3]
    rows = ["| step | wall | peak memory (process tree) |", "|---|---|---|"]
    if args.only in (None, "whole"):
        rows += whole(args.work, args.customers)
    if args.only in (None, "parts"):
        rows += parts(args.work, args.customers)
    after = Path("/proc/loadavg").read_text().split()[:3]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.customers:,} customers, "
          f"seed {SEED}, until {UNTIL}; {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GB, {platform.machine()}, "
          f"Python {platform.python_version()}; load before {' '.join(before)}, "
          f"after {' '.join(after)}\n")
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
