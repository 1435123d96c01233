"""Ingest benchmark: `workbench ingest transactions FILE.csv` against DuckDB's own read_csv -> Parquet.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_ingest.py \\
        --csv /big/tx10m.csv --csv /big/tx100m.csv [--rounds 2] \\
        [--parquet-home /bench22/home] [--bad /big/tx100m-bad.csv] [--out ingest]

Each measurement is a whole fresh process (the CLI, or `python -c` for the yardstick), its wall time
and its peak memory (ru_maxrss of that process, from wait4). Ours and the yardstick alternate in
pairs, each ours into a fresh home (a first ingest); medians are recorded.
- CSV: the yardstick is what a user writes by hand, with DuckDB's defaults:
  COPY (SELECT * FROM read_csv('FILE')) TO 'x.parquet'.
- --parquet-home: the Parquet path `workbench sample` takes: the home's profiles, then its
  transactions and tags (orphans counted against the profiles), each against DuckDB copying the
  same Parquet file.
- --bad: a file with one bad row; ours once (time, memory, what was rejected).
Writes benchmarks/results/OUT.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from harness import keep  # noqa: E402

WORKBENCH = ROOT / ".venv" / "bin" / "workbench"
PYTHON = ROOT / ".venv" / "bin" / "python"


def measured(command: list[str], env: dict | None = None) -> dict:
    """Run a process to its end in a wrapper process of its own: wall seconds and the peak memory
    of that one child (RUSAGE_CHILDREN of the wrapper), with its output."""
    code = ("import json, resource, subprocess, sys, time; t = time.perf_counter(); "
            f"done = subprocess.run({command!r}, capture_output=True, text=True); "
            "wall = time.perf_counter() - t; "
            "usage = resource.getrusage(resource.RUSAGE_CHILDREN); "
            "sys.stderr.write(done.stderr); "
            "print(json.dumps({'seconds': wall, 'peak_mb': usage.ru_maxrss / 1024, "
            "'cpu': usage.ru_utime + usage.ru_stime, 'rc': done.returncode, "
            "'out': done.stdout}))")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["rc"]:
        raise SystemExit(f"{command[:4]} failed: {done.stderr[-2000:]}")
    return result


def fresh_home(work: Path, name: str) -> tuple[Path, dict]:
    home = work / name
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_USER": "bench",
           "PYTHONPATH": str(ROOT)}
    subprocess.run([str(WORKBENCH), "init", "--home", str(home), "--user", "bench"], check=True,
                   capture_output=True, env=env)
    return home, env


def ours(work: Path, kind: str, path: Path, home: Path | None = None,
         env: dict | None = None) -> dict:
    if home is None:
        home, env = fresh_home(work, "home")
    result = measured([str(WORKBENCH), "--json", "ingest", kind, str(path)], env)
    result["report"] = json.loads(result.pop("out"))
    return result


def yardstick(work: Path, path: Path) -> dict:
    target = work / "by-hand.parquet"
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    code = (f"import duckdb; duckdb.connect().execute(\"COPY (SELECT * FROM {reader}('{path}')) "
            f"TO '{target}'\")")
    result = measured([str(PYTHON), "-c", code])
    target.unlink(missing_ok=True)
    return result


def rows_of(path: Path) -> int:
    import duckdb

    if path.suffix == ".parquet":
        return duckdb.connect().execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) - 1


def median(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def pairs(work: Path, kind: str, path: Path, rounds: int) -> tuple[list[dict], list[dict]]:
    mine, hand = [], []
    for _ in range(rounds):
        mine.append(ours(work, kind, path))
        hand.append(yardstick(work, path))
        print(f"  {path.name}: ours {mine[-1]['seconds']:.1f} s (cpu {mine[-1]['cpu']:.1f}) "
              f"{mine[-1]['peak_mb']:.0f} MB, by hand {hand[-1]['seconds']:.1f} s (cpu "
              f"{hand[-1]['cpu']:.1f}) {hand[-1]['peak_mb']:.0f} MB", flush=True)
    return mine, hand


def row(label: str, mine: list[dict], hand: list[dict] | None) -> str:
    wall, peak, cpu = (median(mine, k) for k in ("seconds", "peak_mb", "cpu"))
    if not hand:
        return f"| {label} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | | | | | | |"
    hand_wall, hand_peak, hand_cpu = (median(hand, k) for k in ("seconds", "peak_mb", "cpu"))
    return (f"| {label} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | {hand_wall:.1f} | {hand_cpu:.1f} "
            f"| {hand_peak:.0f} | **{wall / hand_wall:.2f}x** | {cpu / hand_cpu:.2f}x "
            f"| **{peak / hand_peak:.2f}x** |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", action="append", default=[],
                        help="FILE or FILE:ROUNDS (pairs of ours and by hand; default --rounds)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parquet-home", type=Path, default=None)
    parser.add_argument("--bad", type=Path, default=None)
    parser.add_argument("--out", default="ingest")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="wb-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    lines = ["| measure | ours s | ours CPU s | ours peak MB | by hand s | by hand CPU s "
             "| by hand peak MB | wall ratio | CPU ratio | memory ratio |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []

    def report_so_far() -> None:  # after each measurement: a long run killed keeps its figures
        load_now = Path("/proc/loadavg").read_text().split()[:3]
        header = [f"# Ingest benchmark ({date.today()})", "",
                  f"{platform.machine()}, {os.cpu_count()} cores, "
                  f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, "
                  f"Python {platform.python_version()}; load average before "
                  f"{' '.join(load_before)}, after {' '.join(load_now)}. Medians of the "
                  "alternated pairs (ours, by hand) given per file, each a fresh process; ours a "
                  "first ingest into a fresh home (`workbench --json ingest KIND FILE`). By hand: "
                  "`COPY (SELECT * FROM read_csv('FILE')) TO 'x.parquet'` (DuckDB defaults: "
                  "Snappy; `read_parquet` for Parquet) in a fresh `python`; ours writes zstd. "
                  "Files in the page cache (warm).", ""]
        keep(args.out, header + lines + [""] + notes)

    for given in args.csv:
        name, _, rounds = given.partition(":")
        path = Path(name)
        count = rows_of(path)
        mine, hand = pairs(work, "transactions", path, int(rounds or args.rounds))
        assert all(m["report"]["accepted"] == count for m in mine), mine[0]["report"]
        lines.append(row(f"CSV, {count:,} transactions ({path.stat().st_size / 1e9:.1f} GB; "
                         f"{len(mine)} pairs)", mine, hand))
        report_so_far()
    if args.bad:
        mine = ours(work, "transactions", args.bad)
        report = mine["report"]
        with open(report["rejects_file"], newline="") as handle:
            rejected = list(csv.DictReader(handle))
        lines.append(row(f"CSV with one bad row, {report['accepted'] + report['rejected']:,} "
                         "rows (once)", [mine], None))
        notes.append(f"One bad row: accepted {report['accepted']:,}, rejected "
                     f"{report['rejected']}; the rejects file holds {len(rejected)} row: "
                     f"`{rejected[0]['_reason']}`.")
        report_so_far()
    if args.parquet_home:
        home, env = fresh_home(work, "home-parquet")
        for kind in ("profiles", "transactions", "tags"):
            [source] = (args.parquet_home / "data" / "customers" / kind).glob("v-*.parquet")
            mine = [ours(work, kind, source, home, env)]
            hand = [yardstick(work, source)]
            report = mine[0]["report"]
            lines.append(row(f"Parquet (the sample's path), {kind}: {report['accepted']:,} rows, "
                             f"{report['orphans']:,} orphans (once)", mine, hand))
            print(lines[-1], flush=True)
            report_so_far()
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
