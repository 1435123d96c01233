"""Builds the attribute catalog of a snapshot: appended column types and the known values of
pick-list columns come recorded with the snapshot's versions (no query); active audiences come
from the store; ranges of numbers and dates are asked of the engine, only when a builder asks."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..customers.features import Day, features_query
from ..query.sql import column
from .catalog import Attribute, Catalog, Choices

if TYPE_CHECKING:
    from ..customers.snapshot import Snapshot
    from ..query.engine import Engine

PROFILE_COLUMNS = {"customer_id", "first_name", "last_name", "email", "gender", "home_city",
                   "home_state"}


def load_catalog(snapshot: Snapshot, active_audiences: Callable[[], list[int]],
                 engine: Engine | None = None, day: Day | None = None) -> Catalog:
    """``active_audiences``: ids of the audiences a rule may use; ``engine`` and ``day``: for
    the ranges of number and date attributes (without them, ranges are unknown)."""

    def choices(attribute: Attribute) -> Choices:
        if attribute.type == "membership":
            return Choices(values=tuple(active_audiences()), complete=True)
        if attribute.type == "boolean":
            return Choices(values=(True, False), complete=True)
        if attribute.type == "event":
            return _recorded(snapshot, "tags", "tag")
        if attribute.type == "text":
            if attribute.name in PROFILE_COLUMNS:
                return _recorded(snapshot, "profiles", attribute.name)
            return _recorded(snapshot, "appended", attribute.name.removeprefix("appended."))
        if engine is None or day is None:
            return Choices()
        return _range(engine, snapshot, day, attribute)

    return Catalog.build(snapshot.appended_types(), choices)


def _recorded(snapshot: Snapshot, kind: str, column: str) -> Choices:
    found = snapshot.choices(kind, column)
    if not found:
        return Choices()  # not recorded (names, e-mails): no pick list, no warnings
    return Choices(values=tuple(found["values"]), complete=found["complete"])


def _range(engine: Engine, snapshot: Snapshot, day: Day, attribute: Attribute) -> Choices:
    from sqlglot import exp

    features = features_query(snapshot.tables(), day, {attribute.name})
    value = column(attribute.name)
    query = exp.select(exp.Min(this=value), exp.Max(this=value)).from_(
        exp.Subquery(this=features, alias=exp.to_identifier("f")))
    low, high = engine.rows(query)[0]
    return Choices(minimum=low, maximum=high)
