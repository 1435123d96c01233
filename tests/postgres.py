"""A throwaway PostgreSQL server for tests (Debian's postgresql, TOOLCHAIN): initdb as the
`postgres` user in a temporary folder, listening on 127.0.0.1:<free port> only, trust
authentication from loopback; stopped and removed on exit. ``database()`` makes a fresh
database per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
            if (p / "initdb").exists()), None) if Path("/usr/lib/postgresql").exists() else None


def skip_reason() -> str | None:
    if BIN is None:
        return "PostgreSQL is not installed (scripts/test.sh installs it)"
    if os.geteuid() != 0:
        return "starting a throwaway PostgreSQL server needs root (to run it as postgres)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


def _as_postgres(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True,
                          text=True, timeout=120)


@dataclass
class Postgres:
    port: int
    count: int = 0

    def url(self, name: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def database(self) -> str:
        """A new, empty database; its URL."""
        import psycopg

        self.count += 1
        name = f"wb_{os.getpid()}_{self.count}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    from tests.sshd import free_port

    folder = Path(tempfile.mkdtemp(prefix="wbpg-", dir="/tmp"))
    shutil.chown(folder, "postgres", "postgres")
    data, sockets = folder / "data", folder / "run"
    port = free_port()
    try:
        done = _as_postgres(str(BIN / "initdb"), "-D", str(data), "--auth=trust", "-U",
                            "postgres", "--no-sync")
        if done.returncode:
            raise RuntimeError(f"initdb failed: {done.stderr.strip()[:300]}")
        _as_postgres("mkdir", "-p", str(sockets))
        done = _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-w", "-l",
                            str(folder / "log"), "-o",
                            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 "
                            "-c fsync=off -c max_connections=60", "start")
        if done.returncode:
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()[:300]}")
        yield Postgres(port)
    finally:
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
