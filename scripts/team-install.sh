#!/usr/bin/env bash
# Install the workbench for a team (docs/team.md): a copy of it, its own Python environment from
# the system's Python, and JupyterHub, under PREFIX (default /opt/audience-workbench), readable
# by every account: the service account and each person's server run from it. (The checkout's
# .venv may use a Python under a private folder, such as /root/.pyenv, that they cannot run.)
#   Usage: bash scripts/team-install.sh [PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${1:-${WORKBENCH_TEAM_PREFIX:-/opt/audience-workbench}}
PYTHON=${TEAM_PYTHON:-/usr/bin/python3}
if ! "$PYTHON" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "team-install: $PYTHON must be Python 3.11+ with venv (apt-get install python3-venv)" >&2
    exit 2
fi
mkdir -p "$PREFIX/src" "$PREFIX/logs"
# The code, copied: an editable install of the copy keeps notebooks/ and dashboards/ beside it.
for part in pyproject.toml README.md workbench notebooks dashboards data; do
    rm -rf "${PREFIX:?}/src/$part"
    cp -R "$part" "$PREFIX/src/$part"
done
find "$PREFIX/src" -name __pycache__ -prune -exec rm -rf {} +
[ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/venv"
echo "team-install: installing the workbench and JupyterHub into $PREFIX/venv"
if ! "$PREFIX/venv/bin/python" -m pip install --disable-pip-version-check -e "$PREFIX/src[team]" \
        >"$PREFIX/logs/pip-install.log" 2>&1; then
    tail -n 30 "$PREFIX/logs/pip-install.log" >&2
    echo "team-install: pip failed (log: $PREFIX/logs/pip-install.log)" >&2
    exit 1
fi
chmod -R a+rX "$PREFIX/src" "$PREFIX/venv"
chmod 755 "$PREFIX"
echo "team-install: done ($PREFIX/venv/bin/workbench)"
