"""Nightly processing: history, memberships, changes, composition, failures, concurrency."""

from __future__ import annotations

import fcntl
import json
import re
from datetime import timedelta

import pytest
from sqlglot import exp

import workbench
from tests.audience_data import D, load
from workbench.errors import Conflict, PermissionDenied, ProcessingFailed
from workbench.memberships import Memberships
from workbench.query.duckdb import DuckDBEngine

WOMEN = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}
BUYERS = {"name": "Recent buyers", "rules": [
    {"attribute": "rfm.frequency", "op": "gte", "value": 1, "within_days": 30}]}


@pytest.fixture
def loaded(wb, write_csv):
    load(wb, write_csv)
    ids = [wb.audiences.activate(wb.audiences.create(d).id).id for d in (WOMEN, BUYERS)]
    return wb, ids


def test_processing_a_day_records_size_base_membership(loaded):
    wb, (women, buyers) = loaded
    report = wb.processing.run(D)
    assert report.days[0].sizes == {women: 3, buyers: 2} and report.days[0].base == 6
    audience = wb.audiences.get(women)
    assert (audience.size, audience.base, audience.last_processed_on) == (3, 6, D)
    assert audience.percent_of_base == 50.0
    assert list(wb.audiences.members(women)["customer_id"]) == ["ann", "eve", "fay"]
    assert list(wb.audiences.members(buyers)["customer_id"]) == ["ann", "bob"]
    history = wb.processing.history(women)
    assert history.to_dict("records") == [{"day": D, "size": 3, "base": 6, "added": 3,
                                           "removed": 0, "treatment": 3, "holdout": 0,
                                           "percent_of_base": 50.0}]


def test_reprocessing_a_day_replaces_it(loaded):
    wb, (women, _) = loaded
    wb.processing.run(D)
    first = wb.processing.composition(women)
    wb.processing.run(D)
    assert len(wb.processing.history(women)) == 1
    assert wb.processing.composition(women).equals(first)
    folder = wb.home.results_dir / "membership" / f"day={D}"
    assert len(list(folder.glob("*.parquet"))) == 1  # the replaced run's file is gone


def test_part_files_of_a_killed_spark_run_are_removed_by_the_next_run(loaded):
    wb, _ = loaded
    wb.processing.run(D)
    folder = wb.home.results_dir / "membership" / f"day={D}"
    parts = folder / ".run-99.parquet.spark"  # where Spark was writing when killed
    parts.mkdir()
    (parts / "part-00000.parquet").write_bytes(b"x")
    wb.processing.run(D)
    assert not parts.exists()


def test_backfill_equals_day_by_day(loaded, tmp_path, write_csv):
    wb, (women, buyers) = loaded
    wb.processing.run(date_from=D - timedelta(days=10), date_to=D)
    backfilled = {a: wb.processing.history(a) for a in (women, buyers)}
    composition = wb.processing.composition(buyers)

    from workbench.home import init_home

    init_home(tmp_path / "other", admin="ada")
    with workbench.open(tmp_path / "other", user="ada") as other:
        load(other, write_csv)
        for d in (WOMEN, BUYERS):
            other.audiences.activate(other.audiences.create(d).id)
        for offset in range(10, -1, -1):
            other.processing.run(D - timedelta(days=offset))
        for a in (women, buyers):
            assert other.processing.history(a).equals(backfilled[a])
        assert other.processing.composition(buyers).equals(composition)
    # The base grows when dee (created D-9) joins; buyers change as purchases age.
    sizes = backfilled[buyers].set_index("day")["size"]
    assert sizes[D - timedelta(days=10)] == 0 and sizes[D] == 2


def test_added_and_removed_between_days_and_after_reprocessing(loaded):
    wb, (_, buyers) = loaded
    wb.processing.run(date_from=D - timedelta(days=1), date_to=D + timedelta(days=1))
    history = wb.processing.history(buyers).set_index("day")
    # bob buys on D; on D+1 eve buys and late (a buyer) joins the base.
    assert (history.loc[D, "added"], history.loc[D, "removed"]) == (1, 0)
    assert (history.loc[D + timedelta(days=1), "added"],
            history.loc[D + timedelta(days=1), "removed"]) == (2, 0)
    # Re-processing a middle day recomputes the changes of the day after it.
    wb.store.engine.dispose()
    with wb.store.begin() as conn:
        conn.exec_driver_sql("UPDATE audience_history SET added = 99")
    wb.processing.run(D)
    history = wb.processing.history(buyers).set_index("day")
    assert history.loc[D + timedelta(days=1), "added"] == 2


def test_point_in_time_history_ignores_later_transactions(loaded, write_csv):
    wb, (_, buyers) = loaded
    wb.processing.run(D)
    wb.customers.ingest("transactions", write_csv(
        "late.csv", ["transaction_id", "customer_id", "occurred_at", "amount"],
        ["t99", "cy", (D + timedelta(days=1)).isoformat(), "10.00"]))
    wb.processing.run(D)
    assert wb.audiences.get(buyers).size == 2
    wb.processing.run(D + timedelta(days=1))
    assert wb.audiences.get(buyers).size == 5  # + cy and eve (bought on D+1), late (joined)


def test_composition_sums_to_the_audience_and_the_base(loaded):
    wb, (women, _) = loaded
    wb.processing.run(D)
    frame = wb.processing.composition(women)
    assert set(frame["attribute"]) == {"gender", "age", "recency", "frequency", "monetary"}
    for attribute, rows in frame.groupby("attribute"):
        assert rows["count"].sum() == 3, attribute
        assert rows["base_count"].sum() == 6, attribute
        assert round(rows["percent_of_audience"].sum()) == 100
    age = frame[frame["attribute"] == "age"]
    assert list(age["bucket"]) == ["<18", "18–24", "25–34", "35–44", "45–54", "55–64", "65+",
                                   "unknown"]
    assert dict(zip(age["bucket"], age["count"], strict=True))["35–44"] == 2  # ann 35, fay 40
    gender = frame[frame["attribute"] == "gender"]
    assert list(gender["bucket"])[-1] == "unknown"
    assert dict(zip(gender["bucket"], gender["percent_of_base"], strict=True))["female"] == 50.0


def test_custom_composition_attributes_from_settings(home, write_csv):
    settings = home / "workbench.toml"
    settings.write_text(settings.read_text().replace(
        "attributes = []", 'attributes = ["appended.loyalty_tier", "home_state"]'))
    with workbench.open(home, user="ada") as wb:
        load(wb, write_csv)
        women = wb.audiences.activate(wb.audiences.create(WOMEN).id).id
        wb.processing.run(D)
        tiers = wb.processing.composition(women, attribute="appended.loyalty_tier")
    assert dict(zip(tiers["bucket"], tiers["count"], strict=True)) == {
        "bronze": 0, "gold": 1, "platinum": 1, "silver": 0, "unknown": 1}


def test_a_failed_run_leaves_previous_results_and_is_visible(loaded):
    wb, (women, _) = loaded
    wb.processing.run(D)
    before = (wb.processing.history(women), wb.processing.composition(women))

    def broken(*args):  # the caller's progress report fails once the first day is written
        raise RuntimeError("disk on fire")

    with pytest.raises(ProcessingFailed, match="disk on fire; the previous results are unchanged"):
        wb.processing.run(date_from=D, date_to=D + timedelta(days=1), progress=broken)
    assert wb.processing.history(women).equals(before[0])
    assert wb.processing.composition(women).equals(before[1])
    assert wb.audiences.get(women).last_processed_on == D
    failed = wb.processing.runs(limit=1)[0]
    assert failed["status"] == "failed" and "disk on fire" in failed["error"]
    assert "failed: RuntimeError: disk on fire" in wb.audiences.get(women).processing_error
    assert len(list((wb.home.results_dir / "membership").rglob("*.parquet"))) == 1
    wb.processing.run(D)
    assert wb.audiences.get(women).processing_error is None


def test_a_second_run_at_the_same_time_is_refused(loaded):
    wb, _ = loaded
    with open(wb.home.root / ".processing.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.write("pid 4242, started by someone")
        held.flush()
        with pytest.raises(Conflict, match="another processing run is in progress "
                                           "\\(pid 4242, started by someone\\)"):
            wb.processing.run(D)
    assert wb.processing.runs() == []


def test_audiences_of_audiences_resolve_in_dependency_order(loaded):
    wb, (women, buyers) = loaded
    both = wb.audiences.activate(wb.audiences.create({"name": "Women buyers", "rules": [
        {"attribute": "audience", "op": "in", "value": [women]},
        {"attribute": "audience", "op": "in", "value": [buyers]}]}).id).id
    neither = wb.audiences.activate(wb.audiences.create({"name": "Others", "rules": [
        {"attribute": "audience", "op": "in", "value": [both], "exclude": True}]}).id).id
    report = wb.processing.run(D)
    assert report.days[0].sizes[both] == 1 and report.days[0].sizes[neither] == 5
    assert wb.audiences.estimate(wb.audiences.get(both).definition, as_of=D).size == 1


def test_viewers_cannot_process(loaded):
    wb, _ = loaded
    with workbench.open(wb.home.root, user="vic") as viewer:
        with pytest.raises(PermissionDenied, match="processing.run needs the analyst role"):
            viewer.processing.run(D)


def test_workbench_process_runs_the_papermill_notebook(loaded):
    from tests.test_cli import run

    wb, (women, _) = loaded
    done = run("process", "--from", D - timedelta(days=2), "--to", D, home=wb.home.root)
    assert done.returncode == 0, done.stderr
    assert "processing run #1 succeeded: 2 active audiences" in done.stdout
    assert [line for line in done.stderr.splitlines() if line.startswith("day ")][-1] \
        .startswith(f"day 3/3: {D} processed in")
    [notebook] = (wb.home.runs_dir / "processing").glob("*.ipynb")
    outputs = json.dumps(json.loads(notebook.read_text())["cells"])
    assert "processing run #1: 2 active audiences, 3 day(s)" in outputs
    assert "image/svg+xml" in outputs  # the static chart
    assert wb.processing.runs()[0]["notebook"] == str(notebook)
    assert len(wb.processing.history(women)) == 3


def test_workbench_process_refuses_bad_ranges(loaded):
    from tests.test_cli import run

    wb, _ = loaded
    done = run("process", "--from", D, "--to", D - timedelta(days=1), home=wb.home.root)
    assert done.returncode == 2 and "is after --to" in done.stderr
    done = run("process", "--from", D, home=wb.home.root)
    assert done.returncode == 2 and "needs both --from and --to" in done.stderr


def test_a_failure_before_the_commit_leaves_no_trace(loaded, tmp_path):
    wb, (women, _) = loaded
    wb.processing.run(D)
    # The last step before the commit, corrections of the following day's changes, reads D's
    # membership file: the disk holding it is lost while D - 1 is processed.
    [following] = (wb.home.results_dir / "membership").rglob("*.parquet")
    lost = following.rename(tmp_path / following.name)
    try:
        with pytest.raises(ProcessingFailed, match=re.escape(str(following))):
            wb.processing.run(D - timedelta(days=1))
    finally:
        following.parent.mkdir(exist_ok=True)  # an empty day folder is collected
        lost.rename(following)
    assert list(wb.processing.history(women)["day"]) == [D]
    assert len(wb.audiences.members(women)) == 3  # its membership file is still there


def test_replaced_files_are_collected_while_the_lock_is_held(loaded):
    wb, _ = loaded
    held = []

    class Watched(Memberships):
        def collect_garbage(self, kept: set[str]) -> None:
            with open(wb.home.root / ".processing.lock", "a+") as other:
                try:
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held.append(False)
                except BlockingIOError:
                    held.append(True)
            super().collect_garbage(kept)

    with workbench.open(wb.home.root, user="ada") as watched:
        watched.memberships = Watched(watched.home, watched.engine)
        watched.processing.run(D)
    assert held == [True]


def test_a_killed_kernel_is_recorded_as_interrupted_and_its_files_removed(loaded):
    """kill -9 of the processing kernel mid-run: the CLI says so in one line, the run is marked
    interrupted with its audit notebook named, and the files it wrote are removed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    wb, (women, _) = loaded
    wb.processing.run(D)
    kept = set((wb.home.results_dir / "membership").rglob("*.parquet"))
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    cli = subprocess.Popen([sys.executable, "-m", "workbench", "process", "--from",
                            str(D - timedelta(days=400)), "--to", str(D - timedelta(days=1))],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    kernel = None
    while time.monotonic() < deadline and kernel is None:
        written = set((wb.home.results_dir / "membership").rglob("*.parquet")) - kept
        running = [r for r in wb.processing.runs(limit=1) if r["status"] == "running"]
        if written and running:
            kernel = next((p for p in psutil.Process(cli.pid).children(recursive=True)
                           if "ipykernel" in " ".join(p.cmdline())), None)
        time.sleep(0.05)
    assert kernel is not None, "the run never started"
    os.kill(kernel.pid, signal.SIGKILL)
    _, stderr = cli.communicate(timeout=120)
    assert cli.returncode == 1
    [line] = stderr.strip().splitlines()[-1:]
    assert "interrupted: the processing kernel died" in line and "audit notebook" in line
    run = wb.processing.runs(limit=1)[0]
    assert run["status"] == "failed" and "interrupted" in run["error"]
    assert run["notebook"] in run["error"]
    assert set((wb.home.results_dir / "membership").rglob("*.parquet")) == kept
    assert wb.audiences.get(women).last_processed_on == D
    assert "interrupted" in wb.audiences.get(women).processing_error


class FailingOnBoston(DuckDBEngine):
    """DuckDB, where a test of home_city = 'Boston' fails while the query runs (as a query
    can fail on the data it meets)."""

    def rows(self, query, parameters=None):
        return super().rows(_boom(query), parameters)

    def materialize(self, name, query):
        super().materialize(name, _boom(query))


def _boom(query):
    boston = exp.Literal.string("Boston")
    return query.transform(lambda node: exp.func("error", exp.Literal.string("boom"))
                           if isinstance(node, exp.EQ) and node.expression == boston else node)


def test_one_failing_audience_does_not_stop_the_others(loaded):
    """An audience whose rules no longer check, and one whose query fails only when it runs,
    are each recorded against that audience; the others are processed; the run is partial."""
    from sqlalchemy import text

    wb, (women, buyers) = loaded
    broken = wb.audiences.activate(wb.audiences.create({"name": "Broken", "rules": [
        {"attribute": "appended.points", "op": "gt", "value": 10}]}).id).id
    exploding = wb.audiences.activate(wb.audiences.create({"name": "Exploding", "rules": [
        {"attribute": "home_city", "op": "eq", "value": "Boston"}]}).id).id
    user = wb.audiences.activate(wb.audiences.create({"name": "Uses exploding", "rules": [
        {"attribute": "audience", "op": "in", "value": [exploding]}]}).id).id
    # The store's own guard would refuse this edit; an operator bypassing it, or data changing
    # under a frozen rule, leaves the same state: a definition that no longer checks.
    with wb.store.begin() as conn:
        on = " ON audiences" if conn.dialect.name == "postgresql" else ""
        conn.execute(text(f"DROP TRIGGER audiences_frozen_when_active{on}"))
        conn.execute(text("UPDATE audiences SET definition = :d WHERE id = :i"), {
            "d": '{"name": "Broken", "rules": [{"attribute": "appended.gone", "op": "gt", '
                 '"value": 10}]}', "i": broken})
    with workbench.open(wb.home.root, user="ada") as failing:
        failing.engine = FailingOnBoston(failing.home, failing.settings)
        report = failing.processing.run(D)
    assert report.partial and set(report.failures) == {broken, exploding, user}
    assert report.days[0].sizes == {women: 3, buyers: 2}
    assert "unknown attribute" in report.failures[broken]
    assert "boom" in report.failures[exploding]
    assert f"uses audience {exploding}" in report.failures[user]
    assert wb.processing.runs(limit=1)[0]["status"] == "partial"
    assert "boom" in wb.audiences.get(exploding).processing_error
    assert wb.audiences.get(women).processing_error is None
    assert wb.audiences.get(women).last_processed_on == D
    assert wb.audiences.get(broken).last_processed_on is None


def test_archived_audiences_are_kept_read_only_and_no_longer_processed(loaded):
    from sqlalchemy import text

    from workbench.errors import Conflict as Refused

    wb, (women, buyers) = loaded
    wb.processing.run(D - timedelta(days=1))
    archived = wb.audiences.archive(women)
    assert archived.status == "archived" and archived.archived_on == wb.today()
    report = wb.processing.run(D)
    assert set(report.audiences) == {buyers}
    assert list(wb.processing.history(women)["day"]) == [D - timedelta(days=1)]
    with pytest.raises(Refused, match="archived and frozen"):
        wb.audiences.update(women, {"name": "x", "rules": []}, version=archived.version)
    with pytest.raises(Refused, match="is archived already; only an active audience can be archived"):
        wb.audiences.archive(women)
    with pytest.raises(Exception, match="active and frozen"):
        with wb.store.begin() as conn:
            conn.execute(text("DELETE FROM audiences WHERE id = :i"), {"i": buyers})
    with pytest.raises(Exception, match="active and frozen"):
        with wb.store.begin() as conn:
            conn.execute(text("UPDATE audiences SET status = 'active' WHERE id = :i"),
                         {"i": women})


def test_a_stopped_cli_records_the_run_as_interrupted(loaded):
    """SIGTERM (how cron, systemd and Kubernetes stop a job) to `workbench process` mid-run:
    one line, the run recorded as interrupted, its files removed, nothing else changed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    wb, (women, _) = loaded
    wb.processing.run(D)
    kept = set((wb.home.results_dir / "membership").rglob("*.parquet"))
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    cli = subprocess.Popen([sys.executable, "-m", "workbench", "process", "--from",
                            str(D - timedelta(days=400)), "--to", str(D - timedelta(days=1))],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            set((wb.home.results_dir / "membership").rglob("*.parquet")) - kept):
        time.sleep(0.05)
    cli.send_signal(signal.SIGTERM)
    _, stderr = cli.communicate(timeout=120)
    lines = [line for line in stderr.splitlines() if not line.startswith("day ")]
    assert cli.returncode == 1 and len(lines) == 1, stderr
    assert "interrupted: stopped by Ctrl-C or a stop signal" in lines[0]
    run = wb.processing.runs(limit=1)[0]
    assert run["status"] == "failed" and "interrupted" in run["error"]
    assert set((wb.home.results_dir / "membership").rglob("*.parquet")) == kept
    assert wb.audiences.get(women).last_processed_on == D


def test_an_archived_audience_that_uses_another_archived_one_still_evaluates(loaded):
    wb, (women, buyers) = loaded
    users = wb.audiences.activate(wb.audiences.create({"name": "Women who buy", "rules": [
        {"attribute": "audience", "op": "in", "value": [women]},
        {"attribute": "audience", "op": "in", "value": [buyers]}]}).id).id
    wb.audiences.archive(users)
    wb.audiences.archive(women)
    assert list(wb.audiences.members(users, as_of=D)["customer_id"]) == ["ann"]
    assert wb.audiences.explain(users, "ann", D).member
