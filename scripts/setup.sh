#!/usr/bin/env bash
# One command for a newcomer: install everything, create a home with sample data, and run the
# product on its embedded defaults.   Usage: bash scripts/setup.sh
#   WORKBENCH_HOME   where the home goes (default: ./home)
#   SAMPLE_CUSTOMERS size of the synthetic customer base (default: 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

export WORKBENCH_HOME=${WORKBENCH_HOME:-$PWD/home}
.venv/bin/workbench init
.venv/bin/workbench sample --customers "${SAMPLE_CUSTOMERS:-100000}" --seed 42

cat <<MSG

Ready. The workbench home is $WORKBENCH_HOME.
  export WORKBENCH_HOME=$WORKBENCH_HOME
  .venv/bin/workbench --help
  .venv/bin/jupyter lab notebooks/        # analysts: import workbench; wb = workbench.open()
MSG
