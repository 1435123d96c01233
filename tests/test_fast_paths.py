"""The faster paths of issue 23 give the answers of the paths they replace, exactly:

- processing reads the RFM features and its audiences' purchase windows from one aggregate of
  the transactions (``purchases_query``) instead of two scans: the features table and the
  pass table are the same rows, column for column, on random days of a random sample base;
- an estimate joins only the customers who pass its plain rules to the event aggregates and
  counts the base apart: size and base are those of a plain Python reading (random bases and
  definitions of tests/test_audience_property.py);
- a kernel's estimates read the features and window aggregates from tables it keeps
  (audiences/kept.py): the same counts, across edits and new data.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from workbench.audiences.kept import KEPT_TABLES, Kept
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


# -- tables a kernel keeps between estimates (audiences/kept.py) ---------------------------------

@settings(max_examples=15, **PROPERTY)
@given(people=BASES, definitions=st.lists(DEFINITIONS, min_size=2, max_size=4))
def test_estimates_in_one_kernel_reuse_kept_tables_and_count_what_python_counts(
        tmp_path_factory, people, definitions):
    customers = {f"c{i:02d}": c for i, c in enumerate(people)}
    root = tmp_path_factory.mktemp("kept") / "home"
    init_home(root, admin="ada")
    use_engine(root, "duckdb")
    write_base(root, customers)
    with workbench.open(root, user="ada") as wb:  # a kernel: one engine for every estimate
        for rules in definitions:
            estimate = wb.audiences.estimate({"name": "p", "rules": rules}, D)
            assert (estimate.size, estimate.base) == (len(python_members(customers, rules)),
                                                      len(python_features(customers)))
        assert 0 < len(kept_tables(wb)) <= KEPT_TABLES


def kept_tables(wb) -> list[str]:
    return [name for (name,) in wb.engine.conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'kept_%'").fetchall()]


def test_an_edit_reuses_the_kept_tables_and_new_data_is_never_read_stale(sampled, tmp_path):
    wb = sampled
    day = UNTIL.isoformat()
    spec = {"name": "young", "rules": [dict(rule) for rule in WINDOWED[0]["rules"]]}
    first = wb.audiences.estimate(spec, day)
    tables = kept_tables(wb)
    assert len(tables) == 3  # the features, the tag window, the purchase window
    spec["rules"][0]["value"] = [20, 60]
    wider = wb.audiences.estimate(spec, day)
    assert kept_tables(wb) == tables  # an edit of a value computes nothing again
    with workbench.open(wb.home.root, user="ada", via="cli") as once:  # keeps nothing
        assert once.audiences.estimate(spec, day).size == wider.size
        assert not kept_tables(once)
    assert wider.size >= first.size
    # New tags make more customers store visitors: a new version file, so new kept tables.
    with wb.snapshot() as snapshot:
        profiles = snapshot.file("profiles")
    ids = [c for (c,) in wb.duck.execute(
        f"SELECT customer_id FROM read_parquet('{profiles}')").fetchall()]
    path = tmp_path / "tags.csv"
    path.write_text("customer_id,tag,occurred_at\n" + "".join(
        f"{c},store_visit,{UNTIL - timedelta(days=d)}\n" for c in ids for d in (1, 2)))
    wb.customers.ingest("tags", path)
    after = wb.audiences.estimate(spec, day)
    with workbench.open(wb.home.root, user="ada", via="cli") as once:
        assert after.size == once.audiences.estimate(spec, day).size
    assert after.size > wider.size
    assert len(kept_tables(wb)) <= KEPT_TABLES


def test_kept_tables_after_the_workbench_was_closed_are_computed_again(sampled):
    spec = {"name": "young", "rules": WINDOWED[0]["rules"]}
    day = UNTIL.isoformat()
    with workbench.open(sampled.home.root, user="ada") as wb:
        first = wb.audiences.estimate(spec, day)
        wb.close()  # the engine's connection, and the tables in it, are gone
        assert wb.audiences.estimate(spec, day).size == first.size
        assert len(kept_tables(wb)) == 3


def test_estimates_from_two_threads_of_one_kernel_each_get_their_own_answer(sampled):
    from concurrent.futures import ThreadPoolExecutor

    day = UNTIL.isoformat()
    definitions = [{"name": d["name"], "rules": d["rules"]} for d in WINDOWED]
    with workbench.open(sampled.home.root, user="ada", via="cli") as once:
        expected = [once.audiences.estimate(d, day).size for d in definitions]
    with workbench.open(sampled.home.root, user="ada") as wb, ThreadPoolExecutor(2) as pool:
        # More definitions than kept tables: tables are dropped while the other thread reads.
        sizes = list(pool.map(lambda i: wb.audiences.estimate(definitions[i % 4], day).size,
                              range(24)))
    assert sizes == [expected[i % 4] for i in range(24)]


class RecordingEngine:
    """Records what Kept asks of an engine (Kept's own bookkeeping; real tables above)."""

    closings = 0

    def __init__(self):
        self.made, self.dropped = [], []

    def materialize(self, name, query):
        self.made.append(name)

    def forget(self, name):
        self.dropped.append(name)


def test_kept_computes_a_query_once_and_drops_the_least_recently_used():
    from sqlglot import exp

    engine = RecordingEngine()
    kept = Kept(engine, limit=2)
    a, b, c = (exp.select(exp.Literal.number(n)) for n in (1, 2, 3))
    assert kept.table(a) == kept.table(a.copy()) == "kept_1"  # by its SQL text
    kept.table(b)
    kept.table(a)  # a is now the most recent
    kept.table(c)
    assert engine.made == ["kept_1", "kept_2", "kept_3"]
    assert engine.dropped == ["kept_2"]
    assert kept.table(a) == "kept_1" and kept.count == 2
