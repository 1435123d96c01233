"""Audience Workbench: define, track and deliver customer audiences.

    import workbench
    wb = workbench.open("/path/to/home")      # or $WORKBENCH_HOME
    wb.customers.ingest("profiles", "profiles.csv")
    wb.features(wb.yesterday()).df()
"""

from __future__ import annotations

from .app import Workbench
from .errors import WorkbenchError

__all__ = ["Workbench", "WorkbenchError", "open"]


def open(home=None, *, user: str | None = None, clock=None,  # noqa: A001
         via: str = "python", role: str | None = None) -> Workbench:
    """Open a workbench home (``home`` or $WORKBENCH_HOME) as ``user`` (default: SPEC 8 order);
    or a team's workbench service: ``home`` an http(s) URL, or $WORKBENCH_URL (set in servers
    the hub spawns), as the user of the hub token (docs/team.md);
    ``clock``: where it reads the time (a ``workbench.clock.Clock``, or an instant such as
    ``"2026-11-29T06:00:00+00:00"`` to stand at; default: the system's); ``via``: the entry
    point its changes are recorded as coming through (python, cli, page, api, scheduler)."""
    from .service import is_url, service_url

    target = home if home is not None else service_url()
    if is_url(target):
        from .service.client import RemoteWorkbench

        if user is not None or role is not None:
            from .errors import InvalidInput

            raise InvalidInput("user: a team's workbench knows you by your hub token; "
                               "there is no acting as another user")
        return RemoteWorkbench(str(target), clock=clock, via=via)
    return Workbench(home, user=user, clock=clock, via=via, role=role)
