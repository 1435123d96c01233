# Sourced by setup.sh and test.sh: a .venv with the workbench and its test tools installed.
# Idempotent and quick when everything is already there.
set -euo pipefail

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup: Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=/path/to/python3.11)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>&1 \
    | grep -v "is ignored: it is neither" || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[test]" 2>&1 \
    | grep -v "is ignored: it is neither" || true
.venv/bin/python -c 'import workbench' || { echo "setup: installing the workbench failed" >&2; exit 1; }
