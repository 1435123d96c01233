"""The faster paths of issue 23 give the answers of the paths they replace, exactly:

- processing reads the RFM features and its audiences' purchase windows from one aggregate of
  the transactions (``purchases_query``) instead of two scans: the features table and the
  pass table are the same rows, column for column, on random days of a random sample base;
- an estimate joins only the customers who pass its plain rules to the event aggregates and
  counts the base apart: size and base are those of a plain Python reading (random bases and
  definitions of tests/test_audience_property.py).
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings

import workbench
from tests.conftest import use_engine
from tests.test_audience_property import (
    BASES,
    DEFINITIONS,
    PROPERTY,
    D,
    python_features,
    python_members,
    write_base,
)
from workbench.audiences.compiler import Sources, needed_attributes
from workbench.customers.features import Day, features_query
from workbench.home import init_home
from workbench.processing import day as processing_day
from workbench.processing.composition import DEFAULTS
from workbench.processing.evaluate import ActiveAudience, pass_queries

UNTIL = date(2026, 3, 10)  # the tests stand on 2026-03-11
WINDOWED = [  # every kind of purchase window, tags, scores and plain attributes
    {"name": "young", "rules": [
        {"attribute": "age", "op": "between", "value": [25, 34]},
        {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90,
         "min_count": 2},
        {"attribute": "rfm.monetary", "op": "gt", "value": 100, "within_days": 365},
        {"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"],
         "exclude": True}]},
    {"name": "champions", "rules": [
        {"attribute": "rfm.r_score", "op": "in", "value": [4, 5]},
        {"attribute": "rfm.f_score", "op": "in", "value": [4, 5]},
        {"attribute": "rfm.m_score", "op": "in", "value": [4, 5]}]},
    {"name": "lapsing", "rules": [
        {"attribute": "tag", "op": "has", "value": ["app_login"], "within_days": 60},
        {"attribute": "rfm.frequency", "op": "eq", "value": 0, "within_days": 90}]},
    {"name": "earlier", "rules": [
        {"any": [{"attribute": "rfm.monetary", "op": "lte", "value": 50.5,
                  "days_ago": [30, 200]},
                 {"attribute": "rfm.frequency", "op": "gte", "value": 2, "days_ago": [7, None]},
                 {"attribute": "rfm.frequency", "op": "lt", "value": 1, "within_days": 1}]}]},
]


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    root = tmp_path_factory.mktemp("fast") / "home"
    init_home(root, admin="ada")
    with workbench.open(root, user="ada") as wb:
        wb.customers.sample(1500, seed=23, until=UNTIL)
        yield wb


def _different_rows(conn, a: str, b: str) -> int:
    return conn.execute(f"SELECT (SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})) "
                        f"+ (SELECT count(*) FROM (FROM {b} EXCEPT ALL FROM {a}))").fetchone()[0]


@pytest.mark.parametrize("day", [UNTIL, date(2025, 10, 14), date(2024, 3, 20)])
def test_one_scan_of_transactions_gives_the_same_features_and_memberships(sampled, day):
    wb = sampled
    with wb.snapshot() as snapshot:
        tables = snapshot.tables()
        audiences = [ActiveAudience(i, d["name"], wb.audiences.check(d)[0])
                     for i, d in enumerate(WINDOWED, start=1)]
        as_of = Day(day, wb.calendar.zone)
        needed = {b.column for b in DEFAULTS}.union(
            *(needed_attributes(a.rules) for a in audiences))
        engine = wb.processing._engine
        engine.materialize("old_features", features_query(tables, as_of, needed))
        [old] = pass_queries(audiences, Sources(tables, as_of, features="old_features"))
        engine.materialize("old_pass", old)
        prebuilt = processing_day._purchases(engine, tables, as_of, needed, audiences)
        assert prebuilt is not None and len(prebuilt.windows) == 5
        engine.materialize("new_features", features_query(tables, as_of, needed,
                                                          prebuilt.table))
        [new] = pass_queries(audiences, Sources(tables, as_of, features="new_features",
                                                purchases=prebuilt))
        engine.materialize("new_pass", new)
        conn = engine.conn
        assert "purchases_day" in new.sql("duckdb") and "transactions" not in new.sql("duckdb")
        for a, b in (("old_features", "new_features"), ("old_pass", "new_pass")):
            assert conn.execute(f"DESCRIBE {a}").fetchall() == conn.execute(
                f"DESCRIBE {b}").fetchall()
            assert _different_rows(conn, a, b) == 0
        counts = conn.execute("SELECT count(*), count(*) FILTER (WHERE audience_1), count(*) "
                              "FILTER (WHERE audience_3), count(*) FILTER (WHERE audience_4) "
                              "FROM new_pass").fetchone()
        assert counts[0] > 0  # a base, and (on the last day) members to compare
        if day == UNTIL:
            assert all(counts[1:])


def test_a_day_without_rfm_features_keeps_its_windowed_scan(sampled):
    wb = sampled
    with wb.snapshot() as snapshot:
        audience = ActiveAudience(1, "x", wb.audiences.check(WINDOWED[2])[0])
        assert processing_day._purchases(wb.processing._engine, snapshot.tables(),
                                         Day(UNTIL, wb.calendar.zone), {"age"},
                                         [audience]) is None


@settings(max_examples=25, **PROPERTY)
@given(people=BASES, rules=DEFINITIONS)
def test_estimate_counts_what_python_counts(tmp_path_factory, people, rules):
    customers = {f"c{i:02d}": c for i, c in enumerate(people)}
    root = tmp_path_factory.mktemp("estimate") / "home"
    init_home(root, admin="ada")
    use_engine(root, "duckdb")
    write_base(root, customers)
    with workbench.open(root, user="ada") as wb:
        estimate = wb.audiences.estimate({"name": "p", "rules": rules}, D)
    assert (estimate.size, estimate.base) == (len(python_members(customers, rules)),
                                              len(python_features(customers)))
