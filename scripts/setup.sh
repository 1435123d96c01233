#!/usr/bin/env bash
# One command for a newcomer: install everything, create a home with sample data, and run the
# product on its embedded defaults.   Usage: bash scripts/setup.sh
#   WORKBENCH_HOME   where the home goes (default: ./home)
#   SAMPLE_CUSTOMERS size of the synthetic customer base (default: 100000)
#   WORKBENCH_PORT   where the dashboards are served on 127.0.0.1 (default: 8866)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

export WORKBENCH_HOME=${WORKBENCH_HOME:-$PWD/home}
.venv/bin/workbench init
.venv/bin/workbench sample --customers "${SAMPLE_CUSTOMERS:-100000}" --seed 42
.venv/bin/workbench demo
# The sample's events end yesterday (in the home's timezone): process the two weeks up to it,
# so the demo audiences have a history that ends where the calendar is (a papermill run; its
# notebook is kept under $WORKBENCH_HOME/runs/processing).
.venv/bin/workbench process --days 14

cat <<MSG

Ready. The workbench home is $WORKBENCH_HOME.
  export WORKBENCH_HOME=$WORKBENCH_HOME
  .venv/bin/workbench --help
  .venv/bin/workbench audience list
  .venv/bin/jupyter lab notebooks/        # analysts: import workbench; wb = workbench.open()
Now serving the dashboards (Ctrl-C stops them; \`workbench serve\` starts them again):
MSG
exec .venv/bin/workbench serve --port "${WORKBENCH_PORT:-8866}"
