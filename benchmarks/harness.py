"""What every benchmark shares: measuring in a fresh process, and keeping the report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def child(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (no warm caches; its own peak memory). The code
    sets ``RESULT`` to a dict; it comes back with ``peak_mb`` added."""
    wrapper = (code + "\nimport resource, json as _j\n"
               "print(_j.dumps({**RESULT, 'peak_mb': resource.getrusage("
               "resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    done = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def keep(name: str, lines: list[str]) -> None:
    """Print the report and write it to results/NAME.md."""
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(report)
