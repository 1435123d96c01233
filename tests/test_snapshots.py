"""Every job reads one snapshot of customer data, whatever is ingested while it runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import workbench
from tests.audience_data import D, load
from tests.conftest import ADMIN
from workbench.query.duckdb import DuckDBEngine

# Reads profiles (gender, age), appended data, tag events and purchases: every kind.
MIXED = {"name": "Mixed", "rules": [
    {"attribute": "gender", "op": "in", "value": ["female", "male"]},
    {"attribute": "age", "op": "gte", "value": 18},
    {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 400},
    {"attribute": "rfm.monetary", "op": "gt", "value": 0, "within_days": 400},
    {"attribute": "appended.loyalty_tier", "op": "in", "value": ["platinum"], "exclude": True}]}
WOMEN = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}
SCORED = {"name": "Scored", "rules": [{"attribute": "rfm.m_score", "op": "gte", "value": 1}]}


class Interleaved(DuckDBEngine):
    """DuckDB that calls ``between`` (when set) before every query: the seam where a test
    changes the data between the steps of a job."""

    between = None

    def rows(self, query, parameters=None):
        self._step()
        return super().rows(query, parameters)

    def dicts(self, query, parameters=None):
        self._step()
        return super().dicts(query, parameters)

    def frame(self, query, parameters=None):
        self._step()
        return super().frame(query, parameters)

    def batches(self, query, size):
        self._step()
        return super().batches(query, size)

    def materialize(self, name, query):
        self._step()
        super().materialize(name, query)

    def write_parquet(self, query, path):
        self._step()
        super().write_parquet(query, path)

    def _step(self):
        if self.between:
            self.between()


class Reshuffle:
    """Before every query of the job under test, another workbench on the same home ingests
    new profiles: a customer id that sorts before all others (which shifted every integer key
    of the old design), and every stored customer turned, in turn, into a man born on D (too
    young for MIXED) or a woman born in 1990, so that every ingest changes the answers."""

    def __init__(self, home, write_csv):
        self.other = workbench.open(home, user=ADMIN)
        self.write_csv = write_csv
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        gender, born = ("male", str(D)) if self.count % 2 else ("female", "1990-01-01")
        rows = [[f"A{self.count:04d}", "male", "2000-01-01", ""]] + [
            [cid, gender, born, ""] for cid in ("ann", "bob", "cy", "dee", "eve", "fay")]
        self.other.customers.ingest("profiles", self.write_csv(
            f"shuffle{self.count}.csv", ["customer_id", "gender", "birth_date", "created_at"],
            *rows))


@pytest.fixture
def reshuffled(wb, write_csv):
    """A workbench whose engine is ``Interleaved``, on a home with the test data."""
    load(wb, write_csv)
    hook = Reshuffle(wb.home.root, write_csv)
    with workbench.open(wb.home.root, user=ADMIN) as interleaved:
        interleaved.engine = Interleaved(interleaved.home, interleaved.settings)
        yield interleaved, hook
    hook.other.close()


def test_an_estimate_reads_the_snapshot_it_started_with(reshuffled):
    wb, hook = reshuffled
    expected = wb.audiences.estimate(MIXED, D)
    assert (expected.size, expected.base) == (2, 6)  # ann and bob
    wb.engine.between = hook
    during = wb.audiences.estimate(MIXED, D)
    assert hook.count >= 1
    assert (during.size, during.base) == (expected.size, expected.base)
    wb.engine.between = None
    after = wb.audiences.estimate(MIXED, D)  # the new data, which the job did not see
    assert after.base == 6 + hook.count


def test_a_members_listing_reads_the_snapshot_it_started_with(reshuffled):
    wb, hook = reshuffled
    expected = list(wb.audiences.members_of(MIXED, D)["customer_id"])
    wb.engine.between = hook
    assert list(wb.audiences.members_of(MIXED, D)["customer_id"]) == expected == ["ann", "bob"]
    wb.engine.between = None
    before = wb.audiences.explain(MIXED, "ann", D)  # the data the hook left: one job
    wb.engine.between = hook
    during = wb.audiences.explain(MIXED, "ann", D)  # the hook flips ann meanwhile
    wb.engine.between = None
    assert during.to_json() == before.to_json() and hook.count == 2
    assert wb.audiences.explain(MIXED, "ann", D).to_json() != before.to_json()


def test_a_processing_run_reads_the_snapshot_it_started_with(reshuffled):
    wb, hook = reshuffled
    ids = [wb.audiences.activate(wb.audiences.create(d).id).id for d in (MIXED, WOMEN, SCORED)]
    expected = {i: list(wb.audiences.members_of(d, D)["customer_id"])
                for i, d in zip(ids, (MIXED, WOMEN, SCORED), strict=True)}
    wb.engine.between = hook
    report = wb.processing.run(D)
    wb.engine.between = None
    assert hook.count >= 5  # features, evaluation, counts, membership, composition ...
    assert report.days[0].base == 6
    assert report.days[0].sizes == {i: len(m) for i, m in expected.items()}
    for audience_id, members in expected.items():
        assert list(wb.audiences.members(audience_id)["customer_id"]) == members
    gender = wb.processing.composition(ids[1], attribute="gender")
    assert dict(zip(gender["bucket"], gender["count"], strict=True))["female"] == 3


def test_superseded_versions_are_removed_once_no_job_reads_them(reshuffled):
    wb, hook = reshuffled
    folder = wb.home.customers_dir / "profiles"
    with wb.snapshot() as pinned:
        hook()
        hook()
        # The pinned version is still read: it stays; the one between was never read.
        assert pinned.file("profiles").exists()
        assert len(list(folder.glob("*.parquet"))) == 2
    hook()
    assert len(list(folder.glob("*.parquet"))) == 1  # only the current version


INGEST_LOOP = """
import sys, time, workbench
wb = workbench.open(sys.argv[1], user="ada")
end = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < end:
    wb.customers.ingest("profiles", sys.argv[3 + n % 2])
    n += 1
print(n)
"""

ESTIMATE_LOOP = """
import json, sys, time, workbench
wb = workbench.open(sys.argv[1], user="ada")
definition = json.loads(sys.argv[3])
end = time.monotonic() + float(sys.argv[2])
sizes = []
while time.monotonic() < end:
    e = wb.audiences.estimate(definition, "2026-03-10")
    sizes.append([e.size, e.base])
print(json.dumps(sizes))
"""


def test_two_processes_ingest_and_estimate_every_answer_is_one_of_the_two(wb, write_csv):
    """Two profile files that give different answers; one process ingests them in turn while
    another estimates: each estimate is the answer of one file, never a mix."""
    load(wb, write_csv)
    header = ["customer_id", "gender", "birth_date"]
    everyone = ("ann", "bob", "cy", "dee", "eve", "fay")
    women = write_csv("women.csv", header, *[[c, "female", "1990-01-01"] for c in everyone])
    men = write_csv("men.csv", header, ["A0", "male", "1990-01-01"],
                    *[[c, "male", "1990-01-01"] for c in everyone])
    answers = set()
    for path in (women, men):
        wb.customers.ingest("profiles", path)
        e = wb.audiences.estimate(MIXED, D)
        answers.add((e.size, e.base))
    assert len(answers) == 2
    home = str(wb.home.root)
    ingesting = subprocess.Popen([sys.executable, "-c", INGEST_LOOP, home, "4", str(women),
                                  str(men)], stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    estimating = subprocess.run([sys.executable, "-c", ESTIMATE_LOOP, home, "3",
                                 json.dumps(MIXED)], capture_output=True, text=True, timeout=120)
    ingests = int(ingesting.communicate(timeout=120)[0])
    assert estimating.returncode == 0, estimating.stderr
    seen = [tuple(s) for s in json.loads(estimating.stdout)]
    assert ingests >= 3 and len(seen) >= 3
    assert set(seen) <= answers


def test_a_data_file_removed_outside_the_workbench_is_named_not_retried(wb, write_csv):
    from workbench.errors import DataMissing

    load(wb, write_csv)
    [profiles] = (wb.home.root / "data" / "customers" / "profiles").glob("v-*.parquet")
    profiles.unlink()
    with pytest.raises(DataMissing, match=r"current profiles data file is missing .*ingest "
                                          r"profiles again"):
        wb.audiences.estimate(WOMEN, as_of=D)
