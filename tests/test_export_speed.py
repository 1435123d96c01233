"""What keeps an export run fast (docs/exports.md, "Export speed"), checked as behaviour: the
timings themselves are benchmarks/bench_export.py's, never a test's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_papermill_starts_without_the_remote_store_clients_which_still_import_afterwards():
    code = ("import sys, workbench.notebooks as n\n"
            "n._papermill()\n"
            "print(sorted(m for m in ('boto3', 'pyarrow', 'numpy') if m in sys.modules))\n"
            "import boto3, pyarrow.fs, papermill.iorw\n"
            "print(boto3.__name__, pyarrow.fs.__name__, 'papermill' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["[]", "boto3 pyarrow.fs True"]


def test_duckdb_keeps_the_join_sides_as_written_while_it_writes_a_file_and_only_then(wb):
    def disabled() -> str:
        return wb.engine.conn.execute(
            "SELECT current_setting('disabled_optimizers')").fetchone()[0]

    assert disabled() == ""
    with wb.engine.streaming():
        assert disabled() == "build_side_probe_side"
    assert disabled() == ""
