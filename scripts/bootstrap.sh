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
mkdir -p .venv/logs
echo "setup: installing the workbench and its packages into .venv (a minute or two the first time)"
# pip is chatty (index warnings, build backend notices): keep its log, show it only on failure.
if ! .venv/bin/python -m pip install --disable-pip-version-check -e ".[test]" \
        >.venv/logs/pip-install.log 2>&1; then
    tail -n 40 .venv/logs/pip-install.log >&2
    echo "setup: installing the workbench failed (full log: .venv/logs/pip-install.log)" >&2
    exit 1
fi
