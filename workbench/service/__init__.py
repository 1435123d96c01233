"""Team mode (docs/team.md): the workbench service (``server``), its client (``client``), and
``workbench hub`` (``hub``). Only what an embedded open asks lives here, so that opening a
home imports none of them."""

from __future__ import annotations

import os


def service_url() -> str | None:
    """Where a team's workbench service is: $WORKBENCH_URL (the hub sets it in the servers it
    spawns)."""
    return os.environ.get("WORKBENCH_URL") or None


def is_url(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://"))
