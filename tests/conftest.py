"""Fixtures as a chain: a home folder -> an initialised home -> a Workbench on it."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import workbench
from workbench.clock import VARIABLE, Clock
from workbench.home import SETTINGS_TEMPLATE, Home, init_home

ADMIN = "ada"

# No test depends on the day it runs: the workbench's clock is pinned (WORKBENCH_NOW, read by
# workbench/clock.py in this process and in every process a test starts) for the whole session,
# before anything is created. NOW is 01:00 UTC on the night after tests/audience_data.py's day D
# (2026-03-10): D is yesterday, and nightly processing's time has passed. A module that needs
# another "now" sets its own NOW; a test moves it through the ``clock`` fixture.
NOW = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)


class TestClock:
    """The pinned clock, as a test sees it: read it, set it, move it on."""

    def now(self) -> datetime:
        return Clock().now()

    def set(self, at: datetime) -> None:
        os.environ[VARIABLE] = at.astimezone(UTC).isoformat()

    def advance(self, **delta) -> datetime:
        self.set(self.now() + timedelta(**delta))
        return self.now()


def _module_now(request) -> datetime:
    return getattr(request.module, "NOW", NOW) if request.module else NOW


@pytest.fixture(autouse=True, scope="session")
def _pinned_clock():
    before = os.environ.get(VARIABLE)
    TestClock().set(NOW)
    yield
    if before is None:
        os.environ.pop(VARIABLE, None)
    else:
        os.environ[VARIABLE] = before


@pytest.fixture(autouse=True, scope="session")
def _no_backfill():
    # Activating starts a background backfill of the audience's history (backfill_days, 30 by
    # default): off for every home and process of the tests, whose histories are their own;
    # tests/test_backfill.py turns it on.
    from workbench.settings import BACKFILL_VARIABLE

    before = os.environ.get(BACKFILL_VARIABLE)
    os.environ[BACKFILL_VARIABLE] = "0"
    yield
    if before is None:
        os.environ.pop(BACKFILL_VARIABLE, None)
    else:
        os.environ[BACKFILL_VARIABLE] = before


@pytest.fixture(autouse=True, scope="module")
def _module_clock(request, _pinned_clock):
    # Module-scoped fixtures (a shared home, a server) are made at the module's "now" too.
    TestClock().set(_module_now(request))


@pytest.fixture(autouse=True)
def clock(request, _module_clock) -> TestClock:
    """Each test starts at its module's NOW; ``clock.set(...)`` or ``clock.advance(days=1)``
    moves it for the workbenches of this process and the processes started after."""
    pinned = TestClock()
    pinned.set(_module_now(request))
    return pinned


# Modules whose tests run on both metadata stores: SQLite, and PostgreSQL when the machine can
# start one (tests/postgres.py). Everything the store does is exercised there: migrations, the
# freeze triggers, optimistic versions, the atomic claim of export runs, several processes.
BOTH_STORES = {"test_store", "test_audit", "test_audience_lifecycle", "test_export_configs",
               "test_export_runs", "test_scheduler", "test_processing", "test_destinations",
               "test_encryptions", "test_cli_audiences", "test_export_races"}


# Modules whose tests run on both query engines: DuckDB, and Spark (a local session shared by
# the whole run) when pyspark and Java are there. Same definitions, same data, same answers.
# (The property test has a Spark twin; tests/test_engine_parity.py compares the two directly.)
BOTH_ENGINES = {"test_audience_rules"}


def pytest_generate_tests(metafunc):
    module = metafunc.module.__name__.rsplit(".", 1)[-1]
    if "store" in metafunc.fixturenames and module in BOTH_STORES:
        metafunc.parametrize("store", ["sqlite", "postgresql"], indirect=True)
    if "engine" in metafunc.fixturenames and module in BOTH_ENGINES:
        metafunc.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)],
                             indirect=True, scope="module")


# Under pytest-xdist (scripts/test.sh: ``-n 2``) each module runs whole on one worker (its
# module fixtures are made once), and the modules that run Spark share one worker: one JVM and
# one cluster for the run, as without xdist. (By module, as xdist's loadscope; its loadgroup
# marks do not reach the scheduler under pytest 9.)
SPARK_MODULES = {"test_audience_property", "test_audience_rules", "test_engine_parity",
                 "test_quintiles", "test_spark_cluster"}


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class SparkTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return "spark" if Path(module).stem in SPARK_MODULES else module

    return SparkTogether(config, log)


def pytest_collection_modifyitems(config, items):
    strays = sorted({item.module.__name__ for item in items if (
        item.get_closest_marker("spark") or item.get_closest_marker("spark_cluster"))
        and item.module.__name__.rsplit(".", 1)[-1] not in SPARK_MODULES})
    if strays:
        raise pytest.UsageError(f"tests/conftest.py: add {', '.join(strays)} to SPARK_MODULES "
                                "(modules on Spark share one xdist worker)")


@pytest.fixture(scope="module")
def engine(request):
    """Which query engine a home uses: "duckdb" (the default) or "spark"."""
    kind = getattr(request, "param", "duckdb")
    if kind == "spark":
        from tests.spark import skip_reason

        if skip_reason():
            pytest.skip(skip_reason())
    return kind


def use_engine(root: Path, kind: str) -> None:
    """Point an initialised home's settings at a query engine."""
    settings = root / "workbench.toml"
    text = settings.read_text(encoding="utf-8")
    settings.write_text(text.replace('kind = "duckdb"', f'kind = "{kind}"'), encoding="utf-8")


@pytest.fixture(scope="session")
def spark_cluster(tmp_path_factory):
    """A Spark standalone cluster on loopback (tests/sparkcluster.py): a master and two workers,
    separate JVMs of 1 core and 1 GB each, one per test run, stopped at its end."""
    from tests.spark import skip_reason
    from tests.sparkcluster import running_cluster

    if skip_reason():
        pytest.skip(skip_reason())
    with running_cluster(tmp_path_factory.mktemp("spark-cluster")) as cluster:
        yield cluster
        from workbench.query.spark import stop_application

        stop_application()  # its executors end before the workers do


@pytest.fixture(scope="session")
def postgres():
    from tests.postgres import running_postgres, skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    with running_postgres() as server:
        yield server


@pytest.fixture
def store(request):
    """Which metadata store a home uses: "sqlite" (its file) or a fresh PostgreSQL database."""
    kind = getattr(request, "param", "sqlite")
    if kind == "postgresql":
        return request.getfixturevalue("postgres").database()
    return None


@pytest.fixture
def home(tmp_path: Path, store) -> Path:
    root = tmp_path / "home"
    if store:  # the settings name the store before the home first opens it
        root.mkdir(parents=True)
        (root / "workbench.toml").write_text(
            SETTINGS_TEMPLATE.format(timezone="UTC", users=f'"{ADMIN}" = "admin"')
            .replace('store_url = ""', f'store_url = "{store}"'), encoding="utf-8")
    init_home(root, admin=ADMIN, timezone="UTC")
    return root


@pytest.fixture
def wb(home: Path):
    with workbench.open(home, user=ADMIN) as opened:
        yield opened


def csv_writer(folder: Path):
    """write("name.csv", header, *rows) -> path of a CSV file written with csv.writer."""

    def write(name: str, header: list[str], *rows: list) -> Path:
        path = folder / name
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return write


@pytest.fixture
def write_csv(tmp_path: Path):
    return csv_writer(tmp_path)


@pytest.fixture(scope="module")
def server():
    """A throwaway OpenSSH server on loopback (tests/sshd.py), one per test module."""
    from tests.sshd import running_sshd, skip_reason

    if skip_reason():
        pytest.skip(skip_reason())
    with running_sshd() as sshd:
        yield sshd


@pytest.fixture
def women(wb, write_csv, server):
    """The hand-made base with one live audience, "Women" (id 1), processed as of its day D;
    the SFTP server's folder is emptied afterwards."""
    from tests.audience_data import D, load

    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create({"name": "Women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    wb.processing.run(D)
    yield wb
    for leftover in server.writable.iterdir():
        leftover.unlink()


@pytest.fixture
def partnered(women, server):
    """``women`` with the destination "partner" (the test SFTP server)."""
    add_partner(women, server)
    return women


def women_export(wb, **changes) -> int:
    """A one-time export of "Women" (customer ids) to "partner"; ``changes`` override."""
    return wb.exports.create({"name": "Women daily", "audience": 1,
                              "file_name": "women_{run}.csv", "destination": "partner",
                              "schedule": {"start": "2027-01-04T06:00"},
                              "columns": [{"attribute": "customer_id"}], **changes}).id


def add_partner(wb, server) -> None:
    """The destination "partner": the test SFTP server, its host key pinned."""
    wb.destinations.add({"name": "partner", "host": server.host, "port": server.port,
                         "path": str(server.writable), "username": server.user,
                         "password": server.password, "host_key": server.host_key_line()})


@pytest.fixture(scope="module")
def sample_wb(tmp_path_factory, engine):
    """A workbench on the hand-made base of tests/audience_data.py, shared by a module's tests
    (they must not change customer data)."""
    from tests.audience_data import load

    folder = tmp_path_factory.mktemp("sample")
    init_home(folder / "home", admin=ADMIN, timezone="UTC")
    use_engine(folder / "home", engine)
    with workbench.open(folder / "home", user=ADMIN) as opened:
        load(opened, csv_writer(folder))
        yield opened


def read_rejects(path: str | Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)  # a rejected record may be megabytes long
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def place_version(home: Path, table, kind: str) -> None:
    """Record a pyarrow table as the current version of a kind, as an ingest would (for tests
    that build data the ingest checks would not let through, or need it fast)."""
    import pyarrow.parquet as pq

    from workbench.customers.schema import type_of_storage
    from workbench.store import open_store
    from workbench.store.customers import CustomerDataRecords

    folder = home / "data" / "customers" / kind
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"v-test-{len(list(folder.iterdir()))}.parquet"
    import pyarrow as pa

    table = table.cast(pa.schema([pa.field(f.name, pa.string()) if str(f.type) == "null" else f
                                  for f in table.schema]))
    pq.write_table(table, path)
    duck_types = {"string": "VARCHAR", "date32[day]": "DATE", "bool": "BOOLEAN",
                  "int64": "BIGINT", "double": "DOUBLE"}
    columns = {}
    for field in table.schema:
        text = str(field.type)
        duck = ("TIMESTAMP WITH TIME ZONE" if text.startswith("timestamp") else
                "DECIMAL(18,2)" if text.startswith("decimal") else duck_types[text])
        columns[field.name] = type_of_storage(duck)
    store = open_store(Home(home).store_url())
    CustomerDataRecords(store).record_version(
        kind=kind, file=str(path.relative_to(home)), columns=columns, rows=table.num_rows,
        choices=None, ingest=dict(source=str(path), accepted=table.num_rows, rejected=0,
                                  orphans=0, rejects_file=None, ingested_by="test"))
    store.dispose()


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """One sample home for the Chromium tests (tests/served.py), served for the admin and for
    the viewer "vic": (home, admin, viewer)."""
    from tests.served import served_home

    yield from served_home(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (tests/served.py), shared by the Chromium tests."""
    from tests.served import chromium

    yield from chromium()


@pytest.fixture(scope="session")
def s3():
    """moto's standalone S3 server on loopback (tests/s3.py), shared by the S3 tests."""
    from tests.s3 import running_moto

    with running_moto() as server:
        yield server
