"""The process an activation starts for its audience's backfill (backfill.py): detached from
the page's kernel or the CLI command that activated, it runs the backfill's notebook through
papermill (the audit record) and says how it ended in its log.

``python -m workbench.processing.detached HOME USER ROLE VIA AUDIENCE_ID [NOW]``
"""

from __future__ import annotations

import sys

import workbench

from ..errors import WorkbenchError
from .backfill import backfill_days
from .notebook import run_processing


def _main(home: str, user: str, role: str, via: str, audience_id: str, now: str) -> int:
    """The detached process: run the backfill's notebook, say how it ended (its log)."""
    with workbench.open(home, user=user, role=role, clock=now or None, via=via) as wb:
        row = wb.audiences.get(audience_id)
        first, last = backfill_days(row.activated_on, wb.settings.backfill_days)
        try:
            run = run_processing(wb, first, last, audience=row.id, stream=False)
        except WorkbenchError as exc:
            print(f"backfill of audience {row.id} failed: {exc}", flush=True)
            return exc.exit_code
        print(f"backfill run #{run['id']} of audience {row.id} {run['status']}: {first} to "
              f"{last} (audit notebook: {run['notebook']})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(*sys.argv[1:7]))
