"""Audience Workbench: define, track and deliver customer audiences.

    import workbench
    wb = workbench.open("/path/to/home")      # or $WORKBENCH_HOME
    wb.customers.ingest("profiles", "profiles.csv")
    wb.features("2026-11-28").df()
"""

from __future__ import annotations

from .app import Workbench
from .errors import WorkbenchError

__all__ = ["Workbench", "WorkbenchError", "open"]


def open(home=None, *, user: str | None = None) -> Workbench:  # noqa: A001 - the API's verb
    """Open a workbench home (``home`` or $WORKBENCH_HOME) as ``user`` (default: SPEC 8 order)."""
    return Workbench(home, user=user)
