"""Foundation benchmark: sample generation, ingest and the feature table at scale.

    .venv/bin/python benchmarks/bench_foundation.py --customers 1000000 [--csv-transactions 20000000]

Each measurement runs in its own child process so that its peak memory (ru_maxrss) is its own.
Compared in the same run with the raw tool:
- ingest of the sample's transactions vs DuckDB copying the same Parquet file (no checks): the
  floor of any ingest;
- the feature table vs the same query hand-written against the Parquet files in a bare DuckDB
  connection (our overhead: views, freshness checks, table materialisation).
Results are printed as a Markdown table and written to benchmarks/results/foundation.md.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from harness import child, keep

AS_OF = date(2026, 11, 28)




def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--csv-transactions", type=int, default=0,
                        help="also ingest a CSV of this many transactions (memory check)")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="wb-bench-"))
    home = work / "home"
    shutil.rmtree(home, ignore_errors=True)
    subprocess.run([str(Path(sys.executable).with_name("workbench")), "init", "--home", str(home),
                    "--user", "bench"], check=True, capture_output=True)
    rows = []

    generated = child(f"""
import time; from datetime import date; from pathlib import Path
from workbench.customers.sample import write_sample
t = time.perf_counter(); files = write_sample(Path({str(work / 'sample')!r}), {args.customers}, 42, date(2026, 11, 28))
RESULT = {{'seconds': time.perf_counter() - t}}""")
    rows.append(("write_sample (generate Parquet)", generated, None))

    ingested = child(f"""
import time, workbench; from pathlib import Path
wb = workbench.open({str(home)!r}, user='bench'); t = time.perf_counter(); per = {{}}
for kind in ('profiles', 'appended', 'transactions', 'tags'):
    k = time.perf_counter(); wb.customers.ingest(kind, Path({str(work / 'sample')!r}) / f'{{kind}}.parquet')
    per[kind] = time.perf_counter() - k
RESULT = {{'seconds': time.perf_counter() - t, 'transactions_seconds': per['transactions']}}""")
    rows.append(("ingest the sample (4 kinds)", ingested, None))

    copied = child(f"""
import time, duckdb; c = duckdb.connect(); t = time.perf_counter()
c.execute("COPY (SELECT * FROM read_parquet('{work / 'sample' / 'transactions.parquet'}')) "
          "TO '{work / 'copy.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
RESULT = {{'seconds': time.perf_counter() - t}}""")
    rows.append(("  transactions ingest", {"seconds": ingested["transactions_seconds"],
                                            "peak_mb": ingested["peak_mb"]}, copied))

    features = child(f"""
import time, workbench
wb = workbench.open({str(home)!r}, user='bench'); wb.duck
t = time.perf_counter(); rel = wb.features('{AS_OF}')
RESULT = {{'seconds': time.perf_counter() - t, 'rows': len(rel)}}""")
    hand = child(f"""
import time, duckdb, datetime, workbench
from workbench.customers.features import Day, everything, features_query
wb = workbench.open({str(home)!r}, user='bench')
with wb.snapshot() as snapshot:
    tables = snapshot.tables()
    sql = features_query(tables, Day(datetime.date.fromisoformat('{AS_OF}'), wb.settings.zone),
                         everything(tables)).sql('duckdb')
    c = duckdb.connect(); c.execute("SET TimeZone='UTC'")
    t = time.perf_counter()
    c.execute('CREATE TEMP TABLE f AS ' + sql)
    RESULT = {{'seconds': time.perf_counter() - t}}""")
    rows.append((f"feature table as of {AS_OF} ({features['rows']:,} rows)", features, hand))

    if args.csv_transactions:
        rows.append(csv_ingest(work, home, args.csv_transactions))

    keep("foundation", render(args, rows))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


def csv_ingest(work: Path, home: Path, count: int):
    """A CSV of ``count`` transactions, ingested with the default 4GB memory limit."""
    csv = work / "big.csv"
    subprocess.run([sys.executable, "-c", f"""
import duckdb; duckdb.connect().execute('''COPY (SELECT 'X' || i AS transaction_id,
 'C' || lpad(CAST(i % 1000000 AS VARCHAR), 7, '0') AS customer_id,
 TIMESTAMP '2025-01-01' + to_seconds(i % 60000000) AS occurred_at,
 round((i % 10000) / 100.0, 2) AS amount, NULL AS store_id, 'online' AS channel
 FROM range({count}) t(i)) TO '{csv}' (HEADER)''')"""], check=True)
    result = child(f"""
import time, workbench
wb = workbench.open({str(home)!r}, user='bench'); t = time.perf_counter()
r = wb.customers.ingest('transactions', '{csv}')
RESULT = {{'seconds': time.perf_counter() - t, 'accepted': r.accepted}}""")
    raw = child(f"""
import time, duckdb; c = duckdb.connect(); t = time.perf_counter()
c.execute("COPY (SELECT * FROM read_csv('{csv}')) TO '{work / 'csv.parquet'}' (FORMAT parquet)")
RESULT = {{'seconds': time.perf_counter() - t}}""")
    return (f"ingest CSV of {count:,} transactions", result, raw)


def render(args, rows) -> list[str]:
    lines = [f"# Foundation benchmark, {args.customers:,} customers",
             "", f"{date.today()} · {platform.machine()} · Python {platform.python_version()}",
             "", "| step | seconds | peak MB | raw tool seconds | ratio |", "|---|---|---|---|---|"]
    for label, ours, raw in rows:
        ratio = f"{ours['seconds'] / raw['seconds']:.2f}x" if raw else ""
        raw_s = f"{raw['seconds']:.2f}" if raw else ""
        lines.append(f"| {label} | {ours['seconds']:.2f} | {ours['peak_mb']:.0f} | {raw_s} "
                     f"| {ratio} |")
    lines += ["", "Raw tools: transactions ingest vs DuckDB COPY of the same Parquet; feature table "
              "vs the same SQL in a bare DuckDB connection; CSV ingest vs DuckDB read_csv → Parquet."]
    return lines


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
