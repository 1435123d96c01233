"""Spark on a standalone cluster (a master and 1 or 2 workers on this machine, each worker 1 core
and 1 GB; tests/sparkcluster.py starts it with Spark's own spark-daemon.sh) against DuckDB on the
same home, in the same run: one-day processing of the 3 demo audiences and a cold estimate, whole
CLI commands, wall and peak memory of the client's process tree (CLI, kernel, driver JVM) plus
the cluster's JVMs (master, workers, executors), sampled together every 0.1 s.

Then the quintile scores alone (the features of every customer, counted), in one process per
engine: DuckDB's ntile against the distributed form (customers/features.py) on DuckDB, and the
two forms on the 2-worker cluster.

    python benchmarks/bench_cluster.py --home /work/bench19/home --work /work/big/cluster
(copies --home once into WORK; archives audience 98 "bench everyone" if it is there; --reuse
measures WORK's homes again). Results: results/cluster.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.harness import keep  # noqa: E402

D = "2026-11-28"
CLI = [str(ROOT / ".venv" / "bin" / "workbench")]
YOUNG = ('{"name": "Young store visitors", "rules": [{"attribute": "age", "op": "between", '
         '"value": [25, 34]}, {"attribute": "tag", "op": "has", "value": ["store_visit"], '
         '"within_days": 90}]}')


def tree_rss(roots: list[int]) -> int:
    total = 0
    for pid in roots:
        try:
            top = psutil.Process(pid)
            members = [top, *top.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    return total


def measure(command: list[str], home: Path, cluster=None) -> dict:
    """Wall, the client tree's peak and the client + cluster peak of one CLI command."""
    env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_USER": "root",
           "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(CLI + command, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    daemons = [p for p in (cluster.java_pids() if cluster else [])]
    client_peak = total_peak = 0
    while process.poll() is None:
        client = tree_rss([process.pid])
        total = client + tree_rss(daemons)
        client_peak, total_peak = max(client_peak, client), max(total_peak, total)
        time.sleep(0.1)
    wall = time.perf_counter() - started
    out = process.stdout.read()
    if process.returncode:
        raise SystemExit(f"{command} failed on {home}:\n{out[-3000:]}")
    day = re.search(r"in ([\d.]+) s", out)
    return {"wall": wall, "client_mb": client_peak / 2**20, "total_mb": total_peak / 2**20,
            "day": float(day.group(1)) if day else None, "out": out}


def set_master(home: Path, master: str) -> None:
    settings = home / "workbench.toml"
    text = re.sub(r'(?m)^master = ".*"\n', "", settings.read_text())
    text = text.replace('kind = "spark"\n', f'kind = "spark"\nmaster = "{master}"\n', 1)
    if "[engine.spark]" not in text:
        text += ('\n[engine.spark]\n"spark.executor.memory" = "1g"\n'
                 '"spark.executor.cores" = "1"\n')
    settings.write_text(text)


def prepare(source: Path, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(work / "duckdb")], check=True)
    env = {**os.environ, "WORKBENCH_HOME": str(work / "duckdb"), "WORKBENCH_USER": "root",
           "PYTHONPATH": str(ROOT)}
    listed = subprocess.run(CLI + ["audience", "list"], env=env, capture_output=True, text=True)
    if "bench everyone" in listed.stdout:  # its exports first (an archived one is not delivered)
        archived = subprocess.run(CLI + ["audience", "archive", "98"], env=env,
                                  capture_output=True, text=True)
        for export in re.findall(r"(\d+) \(bench export", archived.stderr):
            subprocess.run(CLI + ["export", "cancel", export], env=env, check=True,
                           capture_output=True)
        subprocess.run(CLI + ["audience", "archive", "98"], env=env, check=True,
                       capture_output=True)
    subprocess.run(["cp", "-a", str(work / "duckdb"), str(work / "spark")], check=True)
    settings = work / "spark" / "workbench.toml"
    settings.write_text(settings.read_text().replace('kind = "duckdb"', 'kind = "spark"'))


SCORES_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import workbench
from workbench.customers import features
from workbench.customers.features import Day, everything, features_query
from sqlglot import exp
from datetime import date
{patch}
with workbench.open({home!r}, user="root") as wb:
    with wb.snapshots.pin() as snapshot:
        tables = snapshot.tables()
        query = features_query(tables, Day(date(2026, 11, 28), wb.calendar.zone), everything(tables))
        counted = exp.select("COUNT(*)", "SUM(\\"rfm.r_score\\" * 100 + \\"rfm.f_score\\" * 10 + "
                             "\\"rfm.m_score\\")").from_("kept_features")
        wb.engine.rows(exp.select("1"))  # the engine (Spark's application) is up first
        times = []
        for _ in range({repeat}):  # kept, as processing keeps the day's features
            t = time.perf_counter(); wb.engine.materialize("kept_features", query)
            times.append(time.perf_counter() - t)
        answer = wb.engine.rows(counted)
print("RESULT", min(times), answer[0][0], answer[0][1])
"""

PATCHES = {
    "duckdb ntile": "",
    "duckdb distributed": "features._with_scores.__defaults__ = (True,)",
    "spark distributed": "",
    "spark ntile": "features.distributed_scores = lambda tree: tree",
}


def scores(home: Path, form: str, repeat: int, cluster=None) -> dict:
    code = SCORES_CHILD.format(root=str(ROOT), patch=PATCHES[form], home=str(home), repeat=repeat)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    daemons = cluster.java_pids() if cluster else []
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss([process.pid]) + tree_rss(daemons))
        time.sleep(0.1)
    out = process.stdout.read()
    line = next((x for x in out.splitlines() if x.startswith("RESULT")), None)
    if process.returncode or not line:
        raise SystemExit(f"scores {form} failed: {out[-2000:]}")
    _, best, rows, checksum = line.split()
    return {"query": float(best), "rows": int(rows), "checksum": checksum,
            "wall": time.perf_counter() - started, "peak_mb": peak / 2**20}


def main() -> int:
    from tests.sparkcluster import WORKER, running_cluster

    parser = argparse.ArgumentParser()
    parser.add_argument("--home", type=Path, default=Path("/work/bench19/home"))
    parser.add_argument("--work", type=Path, default=Path("/work/big/cluster"))
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    if not args.reuse:
        shutil.rmtree(args.work, ignore_errors=True)
        prepare(args.home, args.work)
    load_before = Path("/proc/loadavg").read_text().strip()
    (args.work / "young.json").write_text(YOUNG)
    estimate = ["audience", "estimate", str(args.work / "young.json"), "--as-of", D]
    process = ["process", "--as-of", D]
    found: dict[str, list[dict]] = {}
    checks: dict[str, dict] = {}
    with running_cluster(args.work / "cluster") as cluster:
        set_master(args.work / "spark", cluster.url)
        for round_ in range(args.rounds):
            for name in ("duckdb", "spark 2 workers", "spark 1 worker"):
                if name == "spark 1 worker":
                    cluster._daemon("stop", WORKER, 2)
                    deadline = time.monotonic() + 60
                    while cluster.alive_workers() > 1 and time.monotonic() < deadline:
                        time.sleep(0.5)
                elif name == "spark 2 workers" and cluster.alive_workers() < 2:
                    cluster.start_worker(2)
                    cluster.wait_for_workers(2)
                home = args.work / ("duckdb" if name == "duckdb" else "spark")
                on = None if name == "duckdb" else cluster
                for step, command in (("process", process), ("estimate", estimate)):
                    result = measure(command, home, on)
                    found.setdefault(f"{step} {name}", []).append(result)
                    print(f"round {round_ + 1} {step} {name}: {result['wall']:.1f} s, client "
                          f"{result['client_mb']:.0f} MB, with cluster {result['total_mb']:.0f}"
                          f" MB, day {result['day']}", flush=True)
                    if step == "estimate":
                        checks[name] = result["out"].strip().splitlines()[-1]
        if cluster.alive_workers() < 2:
            cluster.start_worker(2)
            cluster.wait_for_workers(2)
        quintiles = {}
        for form in ("duckdb ntile", "duckdb distributed"):
            quintiles[form] = scores(args.work / "duckdb", form, 3)
            print(form, quintiles[form], flush=True)
        for form in ("spark distributed", "spark ntile"):
            quintiles[form] = scores(args.work / "spark", form, 2, cluster)
            print(form, quintiles[form], flush=True)
    load_after = Path("/proc/loadavg").read_text().strip()
    report(args, found, checks, quintiles, load_before, load_after)
    return 0


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def report(args, found, checks, quintiles, load_before, load_after) -> None:
    def row(step, name):
        runs = found[f"{step} {name}"]
        wall = median([r["wall"] for r in runs])
        duck = median([r["wall"] for r in found[f"{step} duckdb"]])
        days = [r["day"] for r in runs if r["day"]]
        return (f"| {step} | {name} | {wall:.1f} s | {median(days) if days else '–'} | "
                f"{median([r['client_mb'] for r in runs]):,.0f} MB | "
                f"{median([r['total_mb'] for r in runs]):,.0f} MB | {wall / duck:.1f}x |")

    lines = [f"# Spark on a standalone cluster: 1 worker vs 2, against DuckDB ({date.today()})", "",
             "`python benchmarks/bench_cluster.py` on this machine: "
             f"{os.cpu_count()} cores (`nproc`), {psutil.virtual_memory().total / 2**30:.0f} GB, "
             f"{platform.machine()}, Python {platform.python_version()}; load before "
             f"`{load_before}`, after `{load_after}` (other work shared the machine).",
             f"Home: a copy of {args.home} (1,000,000 customers, seed 7, the 3 demo audiences). "
             "The cluster: Spark's own standalone master and workers (pyspark 4.3's "
             "`sbin/spark-daemon.sh`), each worker 1 core and 1 GB, one executor of 1 core and 1 GB "
             "on each; the driver in the CLI's process (1 GB). Whole CLI commands, "
             f"{args.rounds} round(s), medians. Memory: the client's process tree (CLI, kernel, "
             "driver JVM), and with the cluster's JVMs (master, workers, executors) sampled at "
             "the same instants.", "",
             "| step | engine | wall | the day itself | peak, client | peak, with cluster | "
             "/ DuckDB |", "|---|---|---|---|---|---|---|"]
    for step in ("process", "estimate"):
        for name in ("duckdb", "spark 2 workers", "spark 1 worker"):
            lines.append(row(step, name))
    lines += ["", "Same answers (the estimate's last line on each):", ""]
    lines += [f"- {name}: `{text}`" for name, text in checks.items()]
    lines += ["", "## Quintile scores: the day's features of every customer kept, as "
              "processing keeps them (best of 3 on DuckDB, of 2 on the 2-worker cluster)", "",
              "| form | query | process wall | peak (with cluster) | rows | checksum |",
              "|---|---|---|---|---|---|"]
    for form, r in quintiles.items():
        lines.append(f"| {form} | {r['query']:.2f} s | {r['wall']:.1f} s | {r['peak_mb']:,.0f} MB | "
                     f"{r['rows']:,} | {r['checksum']} |")
    keep("cluster", lines)


if __name__ == "__main__":
    raise SystemExit(main())
