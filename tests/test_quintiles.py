"""RFM quintile scores without one partition (customers/features.py ``_distributed_scores``):
exactly DuckDB's ntile(5) over (metric, customer_id), whatever the number of purchasers (fewer
than five too), ties (across the approximate cut points as well), NULL metrics and refunds.
On DuckDB here; on Spark against DuckDB's ntile too, and through the parity tests' features.
"""

from __future__ import annotations

import random
from decimal import Decimal

import duckdb
import pytest
from sqlglot import exp

from workbench.customers.features import RANGES, _with_scores, distributed_scores

COLUMNS = ('customer_id VARCHAR, "rfm.recency_days" BIGINT, "rfm.frequency" BIGINT, '
           '"rfm.monetary" DECIMAL(38, 2)')


def cases() -> list[tuple[str, list[tuple]]]:
    rng = random.Random(23)
    found = [(f"{n} customers", [(f"C{i:03d}", rng.choice([None, 1, 3]), rng.choice([0, 1, 2]),
                                  Decimal(rng.choice(["0", "1.50", "-2.00"]))) for i in range(n)])
             for n in range(0, 12)]
    # One value held by most purchasers: its ties cover many of the approximate cut points.
    found.append(("ties across cut points", [
        (f"C{i:04d}", 5 if i % 7 else i, 1 if i % 3 else 2, Decimal("9.99") if i % 5 else
         Decimal(i)) for i in range(997)]))
    found.append(("spread values", [
        (f"C{rng.randrange(10**6):07d}-{i}", rng.randrange(400), rng.randrange(0, 40),
         Decimal(rng.randrange(-5000, 10**6)) / 100) for i in range(2003)]))
    found.append(("NULL metrics among purchasers", [
        (f"C{i:04d}", None if i % 4 == 0 else i % 13, 1 + i % 3,
         None if i % 6 == 0 else Decimal(i % 17)) for i in range(301)]))
    return found


def scored(con, rows: list[tuple], distributed: bool) -> list[tuple]:
    con.execute(f"CREATE OR REPLACE TABLE t ({COLUMNS})")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    query = _with_scores(exp.select("*").from_("t"), distributed=distributed)
    return con.execute(query.sql("duckdb") + " ORDER BY customer_id").fetchall()


@pytest.mark.parametrize(("name", "rows"), cases(), ids=[name for name, _ in cases()])
def test_distributed_scores_are_duckdbs_ntile(name, rows):
    con = duckdb.connect()
    expected = scored(con, rows, distributed=False)
    assert scored(con, rows, distributed=True) == expected
    if len(rows) > 100:  # every quintile is there, and non-purchasers have none
        assert {r[4] for r in expected if r[2] > 0} == {1, 2, 3, 4, 5}
        assert all(r[4:] == (None, None, None) for r in expected if r[2] == 0)


def test_the_engine_swaps_the_ntile_form_in_any_tree():
    """The scores query is found by its mark wherever the features sit (a CTE of a compiled
    audience, a materialized table) and the rest of the tree is left as it was."""
    inner = _with_scores(exp.select("*").from_("t"))
    outer = exp.select("customer_id").from_("features").with_("features", as_=inner)
    swapped = distributed_scores(outer.copy())
    assert "NTILE(" in outer.sql("duckdb")
    assert "NTILE(" not in swapped.sql("spark")
    assert "PERCENTILE_APPROX" in swapped.sql("spark")
    assert f"THEN {RANGES} ELSE" in swapped.sql("spark")  # NULLs: a range of their own
    assert distributed_scores(swapped).sql("spark") == swapped.sql("spark")
    # Nested, the features are not marked (Spark's SQL has no MATERIALIZED); at the top they
    # are, for the engine to compute them once (processing keeps the day's features).
    assert "MATERIALIZED" not in swapped.sql("spark")
    top = distributed_scores(inner)
    assert [c.alias for c in top.args["with_"].expressions if c.args.get("materialized")] == [
        "base_features"]


@pytest.mark.spark
def test_on_spark_the_distributed_scores_are_duckdbs_ntile(tmp_path):
    from tests.spark import on_master, skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    on_master("local[2]")
    from workbench.query.spark import _unique_ctes, start
    from workbench.settings import EngineSettings

    session = start(EngineSettings(kind="spark"), tmp_path).newSession()
    con = duckdb.connect()
    for name, rows in cases()[3:4] + cases()[-3:]:
        expected = scored(con, rows, distributed=False)
        session.createDataFrame(rows or [("x", 1, 1, Decimal(0))], COLUMNS.replace(
            '"', "`").replace("VARCHAR", "STRING")).where(
            "customer_id != 'x'" if not rows else "true").createOrReplaceTempView("t")
        query = distributed_scores(_with_scores(exp.select("*").from_("t")))
        for cte in query.find_all(exp.CTE):  # kept by the engine (_keep_ctes), not here
            cte.set("materialized", None)
        got = [tuple(r) for r in session.sql(_unique_ctes(query).sql("spark") +
                                             " ORDER BY customer_id").collect()]
        assert got == expected, name
