#!/usr/bin/env bash
# One command for the whole test suite, installing what the tests need first.
#   Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
