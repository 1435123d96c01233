"""Parity: on the same sample base, Spark gives exactly DuckDB's answers: features (RFM values,
scores, tags, aware timestamps), estimates, members, explanations, two days of processing
(memberships, sizes, changes, composition) and export files, byte for byte.

One home is built on DuckDB and copied; the copy runs on Spark: in this process (local[2],
shared by the test run) or on a real standalone cluster on loopback (a master and two workers,
separate JVMs: tests/sparkcluster.py, marked ``spark_cluster``), where the Spark Connect test
runs too, its server's application on the cluster (CLUSTER_ONLY below). The timezone is not UTC, so
that day boundaries and timestamps are really tested.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import workbench
from tests.conftest import ADMIN, use_engine
from tests.spark import on_master, point_at, skip_reason
from workbench.customers.features import Day, everything, features_query
from workbench.home import init_home
from workbench.store.exports import DestinationRecords

pytestmark = pytest.mark.spark

D = date(2026, 11, 28)  # the sample's last day: the clock stands on the morning after
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_audiences.json"
# Beyond the demo audiences: every kind of attribute, an audience of audiences, a window of one
# day, an unknown-value rule, a text contains.
EXTRA = [
    {"name": "Women in a city with 'san'", "rules": [
        {"attribute": "gender", "op": "eq", "value": "female"},
        {"attribute": "home_city", "op": "contains", "value": "SAN"}]},
    {"name": "Recent or big", "rules": [
        {"attribute": "rfm.recency_days", "op": "lte", "value": 30},
        {"attribute": "rfm.monetary", "op": "between", "value": [50, 5000]},
        {"attribute": "birth_date", "op": "before", "value": "1990-01-01"}]},
    {"name": "Yesterday's email openers, no age", "rules": [
        {"attribute": "tag", "op": "has", "value": ["email_open"], "within_days": 1},
        {"attribute": "age", "op": "is_known", "exclude": True}]},
    {"name": "New customers", "holdout_percent": 30, "rules": [
        {"attribute": "created_at", "op": "within_last_days", "value": 120}]},
]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The DuckDB home every engine is compared with, built once (copied, never opened)."""
    if skip_reason():
        pytest.skip(skip_reason())
    folder = tmp_path_factory.mktemp("parity")
    init_home(folder / "duckdb", admin=ADMIN, timezone="America/New_York")
    settings = folder / "duckdb" / "workbench.toml"  # composition by top values too
    settings.write_text(settings.read_text().replace(
        "attributes = []", 'attributes = ["appended.loyalty_tier", "home_state"]'))
    with workbench.open(folder / "duckdb", user=ADMIN) as wb:
        wb.customers.sample(1500, seed=11, until=D)
        for definition in json.loads(DEMO.read_text(encoding="utf-8")) + EXTRA:
            wb.audiences.activate(wb.audiences.create(definition).id)
        champions = wb.audiences.list()[-2]  # the demo's second
        top = wb.audiences.activate(wb.audiences.create({"name": "Champions in the base",
                                                         "rules": [
            {"attribute": "audience", "op": "in", "value": [champions.id]},
            {"attribute": "gender", "op": "is_known"}]}).id)
        # A diamond three levels deep: Spark must not inline it into one plan (hostile pass).
        for level in range(3):
            top = wb.audiences.activate(wb.audiences.create({"name": f"Level {level}", "rules": [
                {"attribute": "audience", "op": "in", "value": [top.id]},
                {"attribute": "audience", "op": "in", "value": [champions.id]},
                {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 400},
                {"attribute": "audience", "op": "in", "value": [1], "exclude": True}]}).id)
        DestinationRecords(wb.store).insert({
            "name": "partner", "type": "sftp", "host": "127.0.0.1", "port": 22, "path": "/in",
            "username": "u", "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOo"
            "qKLsabgH5C9okWi0dh2l9GKJl"}, user=ADMIN)
    return folder / "duckdb"


# Where each test runs: each once, except the features (their scores are ranked differently on
# a cluster: customers/features.py). What a cluster adds (executors in other JVMs reading and
# writing the home's files, kept tables on them, rows streamed back) is in processing, exports
# and Spark Connect: those run there; the rest in local[2], which costs less.
CLUSTER = pytest.param("cluster", marks=pytest.mark.spark_cluster)
LOCAL_ONLY = pytest.mark.parametrize("homes", ["local[2]"], indirect=True)
CLUSTER_ONLY = pytest.mark.parametrize("homes", [CLUSTER], indirect=True)


@pytest.fixture(scope="module", params=["local[2]", CLUSTER])
def homes(request, base, tmp_path_factory):
    """(DuckDB, Spark) workbenches on copies of the base: Spark in this process (local[2]),
    or on the test run's standalone cluster (a master and two workers, tests/sparkcluster.py)
    with the homes in a folder every JVM shares."""
    from workbench.query.spark import stop_application

    folder = tmp_path_factory.mktemp(request.param.strip("[]2"))
    shutil.copytree(base, folder / "duckdb")
    shutil.copytree(base, folder / "spark")
    use_engine(folder / "spark", "spark")
    master = (request.getfixturevalue("spark_cluster").url if request.param == "cluster"
              else request.param)
    point_at(folder / "spark", master)
    on_master(master)  # one Spark application per process: the one on this master
    with workbench.open(folder / "duckdb", user=ADMIN) as duck, \
            workbench.open(folder / "spark", user=ADMIN) as spark:
        assert (duck.engine.kind, spark.engine.kind) == ("duckdb", "spark")
        assert spark.settings.engine.master == master
        yield duck, spark
    if request.param == "cluster":
        stop_application()  # the cluster's executors are freed; local[2] stays for the others


def both(homes, work):
    duck, spark = homes
    return work(duck), work(spark)


def features(wb, day=D) -> list[dict]:
    with wb.snapshots.pin() as snapshot:
        tables = snapshot.tables()
        query = features_query(tables, Day(day, wb.calendar.zone), everything(tables))
        return wb.engine.dicts(query.order_by("customer_id"))


def test_features_rfm_values_scores_and_tags_are_identical(homes):
    on_duckdb, on_spark = both(homes, features)
    assert len(on_duckdb) == 1500
    assert on_spark == on_duckdb
    # Values, not only equal ones: aware timestamps in the home's zone, exact money, lists.
    row = next(r for r in on_spark if r["created_at"] and r["rfm.m_score"] and r["tags"])
    assert str(row["created_at"].tzinfo) == "America/New_York"
    assert type(row["rfm.monetary"]).__name__ == "Decimal" and isinstance(row["tags"], list)


@LOCAL_ONLY
def test_estimates_members_and_explanations_are_identical(homes):
    def answers(wb):
        found = []
        for audience in sorted(wb.audiences.list(), key=lambda a: a.id):
            estimate = wb.audiences.estimate(audience.definition, as_of=D)
            members = list(wb.audiences.members_of(audience.definition, as_of=D)["customer_id"])
            nested = any(r.attribute == "audience" for r in audience.definition.rules)
            explained = None if nested else wb.audiences.explain(
                audience.id, (members or ["C0000007"])[0], as_of=D)
            found.append((audience.name, estimate.size, estimate.base, members, explained))
        # Groups and offset windows (SPEC 5, wave 3) on each engine, explain's groups too.
        grouped = {"name": "Grouped", "rules": [
            {"attribute": "age", "op": "between", "value": [25, 60]},
            {"any": [{"attribute": "tag", "op": "has", "value": ["store_visit"],
                      "days_ago": [7, 120]},
                     {"all": [{"attribute": "rfm.monetary", "op": "gt", "value": 50,
                               "days_ago": [0, 365]},
                              {"attribute": "gender", "op": "eq", "value": "male",
                               "exclude": True}]}]}]}
        # (Members only: explain folds the same conditions in Python, and the property test
        # tries groups on Spark too.)
        found.append(("Grouped", list(wb.audiences.members_of(grouped, as_of=D)["customer_id"])))
        return found

    on_duckdb, on_spark = both(homes, answers)
    assert on_spark == on_duckdb
    assert all(size > 0 for _, size, *_ in on_duckdb[:3])  # the demo audiences are not empty
    assert on_duckdb[-1][1]  # the grouped definition is not empty


@CLUSTER_ONLY
def test_two_days_of_processing_are_identical(homes):
    def processed(wb):
        report = wb.processing.run(date_from=D - timedelta(days=1), date_to=D)
        assert not report.partial
        # In the notebook; a DuckDB run of several days adds ", features carried day to day".
        assert f" on {wb.engine.description}" in report.lines()[0]
        result = []
        for audience in sorted(wb.audiences.list(), key=lambda a: a.id):
            history = wb.processing.history(audience.id).to_dict("records")
            days = [wb.processing.composition(audience.id, day).to_dict("records")
                    for day in (D - timedelta(days=1), D)]
            members = list(wb.processing.stored_members(audience.id, D)["customer_id"])
            held_out = list(wb.audiences.members(audience.id, group="holdout")["customer_id"])
            result.append((audience.id, history, days, members, held_out))
        # Overlap (audiences/overlap.py): one pass over the kept memberships, on each engine.
        ids = sorted(a.id for a in wb.audiences.list(status="active"))[:3]  # the demo's
        result.append(wb.audiences.overlap(ids, D).to_dict("records"))
        return result

    on_duckdb, on_spark = both(homes, processed)
    assert on_spark == on_duckdb
    # The holdout (audiences/holdout.py): the same customers on both, and the rule's.
    from workbench.audiences.holdout import in_holdout

    new_customers = next(r for r in on_duckdb[:-1] if r[1][-1]["holdout"])
    audience_id, members, held_out = new_customers[0], new_customers[3], new_customers[4]
    assert held_out == [c for c in members if in_holdout(audience_id, c, 30)]
    assert 0 < len(held_out) < len(members)
    assert len(on_duckdb[-1]) == 3 and any(pair["both"] for pair in on_duckdb[-1])
    attributes = {row["attribute"] for row in on_duckdb[0][2][1]}
    assert {"gender", "age", "monetary", "appended.loyalty_tier", "home_state"} <= attributes
    assert sum(len(r[3]) for r in on_duckdb[:-1]) > 0


@CLUSTER_ONLY
def test_export_files_are_byte_identical(homes, tmp_path):
    config = {"name": "Everything", "audience": 2, "file_name": "all_%Y%m%d.csv",
              "schedule": {"start": "2026-12-01T06:00", "timezone": "UTC"},
              "destination": "partner", "encryption": None,
              "csv": {"header": True, "record_delimiter": "CRLF", "field_delimiter": "comma"},
              "columns": [{"attribute": "customer_id"}, {"attribute": "email"},
                          {"attribute": "birth_date"}, {"attribute": "created_at"},
                          {"attribute": "rfm.monetary"},
                          {"attribute": "rfm.r_score"}, {"attribute": "appended.loyalty_tier"},
                          {"label": "Hello", "template": "Hi {{first_name}}"}]}
    logic = {**config, "columns": config["columns"] + [
        {"label": "Tier", "template": "{{#if appended.loyalty_tier}}{{appended.loyalty_tier}}"
                                      "{{else}}none{{/if}}"}]}
    written = {}
    for wb in homes:
        wb.processing.run(D)
        for name, export in (("plain", config), ("logic", logic)):
            target = tmp_path / f"{wb.engine.kind}-{name}.csv"
            wb.exports.write_csv(export, target)
            written[wb.engine.kind, name] = target.read_bytes()
    assert written["spark", "plain"] == written["duckdb", "plain"]
    assert written["spark", "logic"] == written["duckdb", "logic"]
    assert written["duckdb", "plain"].count(b"\r\n") > 10


@CLUSTER_ONLY
def test_spark_connect_gives_the_same_processing(homes, tmp_path):
    """The same home on a Spark Connect server (sc://) whose application runs on the test
    cluster, as a team's cluster would serve it."""
    from workbench.query.spark import stop_application

    duck, spark = homes
    master = spark.settings.engine.master
    duck.processing.run(D)
    copy = tmp_path / "connect"
    shutil.copytree(duck.home.root, copy)
    stop_application()  # the server's application takes the cluster's cores in its turn
    try:
        connected_to_cluster(duck, copy, tmp_path, master)
    finally:
        # pyspark marks a process that opened a Connect session as Connect-only (its own
        # Spark application could not start again); the tests after this one start theirs.
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def connected_to_cluster(duck, copy, tmp_path, master) -> None:
    from tests.spark import connect_server

    with connect_server(tmp_path / "server", master) as url:
        use_engine(copy, "spark")
        point_at(copy, url)
        with workbench.open(copy, user=ADMIN) as connected:
            assert connected.settings.engine.remote
            connected.processing.run(D)
            deepest = connected.audiences.list()[0]  # the last created: the diamond's top
            assert connected.audiences.estimate(deepest.definition, as_of=D) == \
                duck.audiences.estimate(deepest.definition, as_of=D)
            for audience in connected.audiences.list():
                assert list(connected.processing.stored_members(audience.id, D)["customer_id"]) \
                    == list(duck.processing.stored_members(audience.id, D)["customer_id"])
                assert connected.processing.composition(audience.id, D).equals(
                    duck.processing.composition(audience.id, D))
