"""Faults on a real Spark cluster (tests/sparkcluster.py): a worker JVM killed with SIGKILL while
a processing run is in Spark's hands.

The parity of answers on the cluster is tests/test_engine_parity.py's, run there with the
cluster parameter.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

import workbench
from tests.conftest import ADMIN, use_engine
from tests.spark import on_master, point_at, skip_reason
from tests.sparkcluster import WORKER
from workbench.errors import ProcessingFailed
from workbench.home import init_home

pytestmark = [pytest.mark.spark, pytest.mark.spark_cluster]

D = date(2026, 11, 28)
NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo_audiences.json"


@pytest.fixture(scope="module")
def on_cluster(tmp_path_factory, spark_cluster):
    """A sample home on the cluster (its folder shared by every JVM), and the same on DuckDB."""
    from workbench.query.spark import stop_application

    if skip_reason():
        pytest.skip(skip_reason())
    folder = tmp_path_factory.mktemp("cluster-faults")
    for kind in ("duckdb", "spark"):
        init_home(folder / kind, admin=ADMIN, timezone="UTC")
        with workbench.open(folder / kind, user=ADMIN) as wb:
            wb.customers.sample(3000, seed=5, until=D)
            for definition in json.loads(DEMO.read_text(encoding="utf-8")):
                wb.audiences.activate(wb.audiences.create(definition).id)
    use_engine(folder / "spark", "spark")
    point_at(folder / "spark", spark_cluster.url)
    on_master(spark_cluster.url)
    with workbench.open(folder / "duckdb", user=ADMIN) as duck, \
            workbench.open(folder / "spark", user=ADMIN) as spark:
        yield duck, spark, spark_cluster
    stop_application()


def tracker():
    from workbench.query import spark

    return spark._ROOT.sparkContext.statusTracker()


def running_tasks(after_job: int) -> int:
    """Tasks running now in jobs later than ``after_job``."""
    status = tracker()
    active = [tracker().getJobInfo(j) for j in status.getActiveJobsIds() if j > after_job]
    stages = {s for job in active if job for s in job.stageIds}
    return sum(info.numActiveTasks for info in map(status.getStageInfo, stages) if info)


def test_a_worker_killed_mid_processing_is_retried_or_fails_cleanly(on_cluster):
    """kill -9 of one worker's JVM while a processing run's tasks are running, after its
    features are kept on the executors (localCheckpoint): Spark loses that executor, runs its
    tasks again on the other one, and the run succeeds with exactly DuckDB's memberships; or,
    when the lost executor held a block kept by localCheckpoint (which Spark cannot recompute),
    the run fails cleanly: one line, marked failed, nothing recorded; the next run succeeds."""
    duck, spark, cluster = on_cluster
    spark.audiences.estimate(spark.audiences.list()[0].definition, as_of=D)  # executors up
    assert len(tracker().getExecutorInfos()) == 3  # the driver and one executor per worker
    last_job = max(tracker().getJobIdsForGroup(None), default=-1)
    outcome: dict = {}

    def process():
        try:
            outcome["report"] = spark.processing.run(D)
        except Exception as exc:  # noqa: BLE001 - the test reads what it was
            outcome["error"] = exc

    worker = threading.Thread(target=process)
    worker.start()
    # Past the first jobs (the day's features, kept), while tasks run.
    deadline = time.monotonic() + 300
    while not running_tasks(last_job + 2) and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.is_alive(), "processing ended before the kill"
    cluster.kill_worker(2)
    worker.join(600)
    try:
        assert not worker.is_alive()
        assert len(tracker().getExecutorInfos()) == 2  # the killed worker's executor is gone
        report = outcome.get("report")
        if "error" in outcome or report.partial:
            # Spark could not redo it: the lost executor held a block kept by localCheckpoint
            # (not recomputable). Then the run fails cleanly, marked, in one line: as a whole
            # (failed, nothing of the day recorded) or audience by audience (partial, the
            # others recorded); the next run does it.
            if "error" in outcome:
                error = outcome["error"]
                assert isinstance(error, ProcessingFailed) and "\n" not in str(error), error
                assert "failed: Spark: " in str(error)
                assert "previous results are unchanged" in str(error)
                assert spark.processing.runs()[0]["status"] == "failed"
            else:
                for line in report.failures.values():
                    assert line.startswith("Spark: ") and "\n" not in line, line
                    assert "An error occurred while calling" not in line, line
                assert spark.processing.runs()[0]["status"] == "partial"
            cluster.start_worker(2)
            cluster.wait_for_workers(2)
            spark.processing.run(D)
        assert spark.processing.runs()[0]["status"] == "succeeded"
        duck.processing.run(D)
        for audience in duck.audiences.list():
            assert list(spark.processing.stored_members(audience.id, D)["customer_id"]) == \
                list(duck.processing.stored_members(audience.id, D)["customer_id"])
    finally:
        if cluster.pid(WORKER, 2) is None:  # the cluster whole again for whatever runs next
            cluster.start_worker(2)
        cluster.wait_for_workers(2)
