"""A workbench built with subclasses of its public adapters (its query engine, its membership
files), as a deployment could build one: how a test makes something fail inside them, or
watches them, without patching a workbench's private parts."""

from __future__ import annotations

from functools import cached_property

from tests.conftest import ADMIN
from workbench.app import Workbench
from workbench.memberships import Memberships
from workbench.query.engine import Engine


def workbench_with(home, *, engine: type[Engine] | None = None,
                   memberships: type[Memberships] | None = None) -> Workbench:
    """A workbench on ``home`` (opened as ADMIN) whose engine and membership files are of these
    classes; the others are the usual ones."""
    adapters = {}
    if engine is not None:
        adapters["engine"] = cached_property(lambda wb: engine(wb.home, wb.settings))
    if memberships is not None:
        adapters["memberships"] = cached_property(lambda wb: memberships(wb.home, wb.engine))
    return type("Workbench", (Workbench,), adapters)(home, user=ADMIN)
