#!/usr/bin/env bash
# One command for the whole test suite, installing what the tests need first.
#   Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

# Delivery tests run real tools: a throwaway OpenSSH server (tests/sshd.py) and GnuPG; the
# dashboard tests drive Debian's Chromium through Playwright; the store tests also run on a
# throwaway PostgreSQL server (tests/postgres.py); the Spark engine's tests need a Java runtime
# for pyspark (Debian's default JRE), and those marked spark_cluster start a standalone Spark
# cluster on loopback from pyspark's own scripts (tests/sparkcluster.py); faketime shifts the machine's clock to show that no test
# depends on the day it runs (docs/operations.md); team mode's tests start a real JupyterHub
# with local accounts (tests/hub.py, docs/team.md). As root, install what is missing
# (without root, the SFTP server tests skip and say why).
missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
[ -x /usr/bin/chromium ] || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
command -v faketime >/dev/null 2>&1 || missing+=(faketime)  # the suite run a year ahead (.ci/run)
# Team mode's tests install a copy from the system's Python (scripts/team-install.sh).
/usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
    echo "test: installing ${missing[*]} for the delivery and dashboard tests"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
            >.venv/logs/apt-test-tools.log 2>&1; then
        echo "test: installing ${missing[*]} with apt-get failed (log: .venv/logs/apt-test-tools.log)" >&2
        exit 1
    fi
fi
# Two workers (pytest-xdist): most of a test's time is spent waiting on the processes it
# drives (kernels, Chromium, sshd, JupyterHub, Spark), so two share 2 cores well. Each module
# stays on one worker, and Spark's tests share one (tests/conftest.py); `-n 0` runs in one.
exec .venv/bin/python -m pytest -n "${WORKBENCH_TEST_WORKERS:-2}" "$@"
