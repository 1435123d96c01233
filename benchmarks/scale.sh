#!/usr/bin/env bash
# One machine, pushed: 10M customers and ~100M transactions (`workbench sample`) ingested,
# processed for one day (the three demo audiences), and a cold estimate; wall time and the
# peak memory of each step (GNU time). Results are kept by hand in benchmarks/results/scale.md.
#   bash benchmarks/scale.sh [CUSTOMERS]      (home: $SCALE_HOME, default /tmp/scale/home)
set -uo pipefail
cd "$(dirname "$0")/.."
export WORKBENCH_HOME=${SCALE_HOME:-/tmp/scale/home} WORKBENCH_USER=scale
B=$PWD/.venv/bin
rm -rf "$WORKBENCH_HOME"
$B/workbench init
m() { /usr/bin/time -f "%e s wall, %M KB peak" "$@"; }
echo "== sample + ingest"; m $B/workbench sample --customers "${1:-10000000}" --seed 7 --until 2026-11-28
echo "== demo audiences"; $B/workbench demo
echo "== one-day processing"; m $B/workbench process --as-of 2026-11-28
cat > "$WORKBENCH_HOME/young.json" <<'J'
{"name": "Young store visitors", "rules": [{"attribute": "age", "op": "between", "value": [25, 34]},
 {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90}]}
J
echo "== cold estimate"; m $B/workbench audience estimate "$WORKBENCH_HOME/young.json" --as-of 2026-11-28
du -sh "$WORKBENCH_HOME/data"
