"""Builds the attribute catalog from what is stored: appended column types, tag names, active
audiences, and refinement choices on demand (distinct values, min/max) via DuckDB."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..customers.engine import stored_types
from ..customers.schema import type_of_storage
from ..sql import ident
from .catalog import Attribute, Catalog, Choices

if TYPE_CHECKING:
    from ..app import Workbench

# Up to this many distinct values are fetched; more means the list is not complete.
MAX_VALUES = 1000
PROFILE_TEXT = {"customer_id", "first_name", "last_name", "email", "gender", "home_city",
                "home_state"}


def load_catalog(wb: Workbench) -> Catalog:
    appended = {name: type_of_storage(type_)
                for name, type_ in stored_types(wb.duck, wb.home, "appended").items()
                if name != "customer_id"}
    return Catalog.build(appended, lambda attribute: _choices(wb, attribute))


def _choices(wb: Workbench, attribute: Attribute) -> Choices:
    if attribute.type == "membership":
        from ..store.audiences import AudienceRecords

        active = AudienceRecords(wb.store).list(status="active", sort="name")
        return Choices(values=tuple(row["id"] for row in active), complete=True)
    if attribute.type == "boolean":
        return Choices(values=(True, False), complete=True)
    if attribute.type == "event":
        return _distinct(wb, "tags", "tag")
    if attribute.type == "text":
        if attribute.name in PROFILE_TEXT:
            return _distinct(wb, "profiles", attribute.name)
        return _distinct(wb, "appended", attribute.name.removeprefix("appended."))
    return _range(wb, attribute)


def _distinct(wb: Workbench, table: str, column: str) -> Choices:
    wb.feature_tables.refresh_views()
    rows = wb.duck.execute(
        f"SELECT {ident(column)} FROM {table} WHERE {ident(column)} IS NOT NULL "
        f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {MAX_VALUES + 1}").fetchall()
    values = tuple(row[0] for row in rows[:MAX_VALUES])
    return Choices(values=values, complete=len(rows) <= MAX_VALUES)


def _range(wb: Workbench, attribute: Attribute) -> Choices:
    features = wb.feature_tables.table(wb.yesterday())
    low, high = wb.duck.execute(f"SELECT min({ident(attribute.name)}), "
                                f"max({ident(attribute.name)}) FROM {features}").fetchone()
    return Choices(minimum=low, maximum=high)
