#!/usr/bin/env bash
# The same one-day processing (the three demo audiences) and a cold estimate on local Spark
# (local[2], 1 GB driver: the defaults) and on DuckDB, side by side, over one sample base
# copied into two homes that differ only in [engine] kind. Runs alternate, 3 of each; wall time,
# CPU and the peak memory of the whole process tree (CLI, kernel, JVM: benchmarks/treepeak.py)
# of whole CLI commands. Results are kept by hand in benchmarks/results/spark.md.
#   bash benchmarks/spark_vs_duckdb.sh [CUSTOMERS]     (folder: $SPARK_BENCH, default /tmp/sparkbench;
#   SPARK_BENCH_REUSE=1 measures the homes made by an earlier run again)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=${SPARK_BENCH:-/tmp/sparkbench}
B=$PWD/.venv/bin
export WORKBENCH_USER=bench
if [ -z "${SPARK_BENCH_REUSE:-}" ]; then
  rm -rf "$ROOT" && mkdir -p "$ROOT"
  $B/workbench --home "$ROOT/duckdb" init >/dev/null
  echo "== sample of ${1:-1000000} customers (DuckDB ingest)"
  $B/workbench --home "$ROOT/duckdb" sample --customers "${1:-1000000}" --seed 7 --until 2026-11-28 | tail -1
  $B/workbench --home "$ROOT/duckdb" demo
  cp -a "$ROOT/duckdb" "$ROOT/spark"
  sed -i 's/^kind = "duckdb"/kind = "spark"/' "$ROOT/spark/workbench.toml"
fi
cat > "$ROOT/young.json" <<'J'
{"name": "Young store visitors", "rules": [{"attribute": "age", "op": "between", "value": [25, 34]},
 {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90}]}
J
m() { $B/python benchmarks/treepeak.py "$@"; }
for i in 1 2 3; do
  for engine in duckdb spark; do
    m "process $engine" $B/workbench --home "$ROOT/$engine" process --as-of 2026-11-28
  done
done
for i in 1 2 3; do
  for engine in duckdb spark; do
    m "estimate $engine" $B/workbench --home "$ROOT/$engine" audience estimate "$ROOT/young.json" --as-of 2026-11-28
  done
done
echo "== results agree?"
for engine in duckdb spark; do
  $B/workbench --home "$ROOT/$engine" --json audience list | $B/python -c \
    "import json,sys; print('$engine', sorted((a['id'], a['size'], a['base']) for a in json.load(sys.stdin)))"
done
