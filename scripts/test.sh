#!/usr/bin/env bash
# One command for the whole test suite, installing what the tests need first.
#   Usage: bash scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

# The SFTP tests run a throwaway OpenSSH server (tests/sshd.py); as root, install it when missing
# (without root those tests skip and say why).
if [ ! -x /usr/sbin/sshd ] && [ "$(id -u)" -eq 0 ]; then
    echo "test: installing openssh-server for the SFTP tests"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server; } \
            >.venv/logs/apt-openssh-server.log 2>&1; then
        echo "test: installing openssh-server with apt-get failed (log: .venv/logs/apt-openssh-server.log)" >&2
        exit 1
    fi
fi
exec .venv/bin/python -m pytest "$@"
