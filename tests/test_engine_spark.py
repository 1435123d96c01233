"""The Spark engine's own logic, without a JVM: how trees are rendered for Spark, where files
are read, the settings that choose it. (What it answers is tests/test_engine_parity.py.)"""

from __future__ import annotations

import pytest
import sqlglot

import workbench
from tests.conftest import ADMIN
from workbench.errors import SettingsError
from workbench.query.duckdb import DuckDBEngine
from workbench.query.spark import SparkEngine, describe
from workbench.settings import load_settings


def spark_engine(home, **engine) -> SparkEngine:
    settings = home / "workbench.toml"
    text = settings.read_text().replace('kind = "duckdb"\n', 'kind = "spark"\n')
    extra = "".join(f'{key} = "{value}"\n' for key, value in engine.items())
    settings.write_text(text.replace('kind = "spark"\n', 'kind = "spark"\n' + extra, 1))
    with workbench.open(home, user=ADMIN) as wb:
        assert isinstance(wb.engine, SparkEngine)  # built, not started: no query ran
        return wb.engine


def test_duckdb_is_the_default(home):
    with workbench.open(home, user=ADMIN) as wb:
        assert isinstance(wb.engine, DuckDBEngine)


def test_an_unknown_engine_is_refused_naming_the_key(home):
    settings = home / "workbench.toml"
    settings.write_text(settings.read_text().replace('kind = "duckdb"', 'kind = "spork"'))
    with pytest.raises(SettingsError, match="engine.kind: .*'duckdb' or 'spark'"):
        load_settings(home)


def test_nested_ctes_get_names_of_their_own(home):
    # An audience rule's member query has its own "features" beside its parent's; Spark's
    # dialect lifts both to the top, where the same name twice is an error.
    query = sqlglot.parse_one("""
        WITH features AS (SELECT customer_id, age FROM p)
        SELECT count(*) FROM features AS f
        WHERE f.customer_id IN (WITH features AS (SELECT customer_id FROM q)
                                SELECT f.customer_id FROM features AS f)""", read="duckdb")
    rendered = spark_engine(home).sql(query)
    parsed = sqlglot.parse_one(rendered, read="spark")
    names = [cte.alias for cte in parsed.find_all(sqlglot.exp.CTE)]
    assert len(names) == len(set(names)) == 2
    inner = next(c for c in parsed.find_all(sqlglot.exp.CTE) if c.alias != "features")
    assert inner.this.find(sqlglot.exp.Table).name == "q"  # the renamed one is the inner one
    assert f"FROM {inner.alias} AS" in rendered and "FROM features AS" in rendered


def test_file_tables_are_read_where_the_cluster_sees_the_home(home):
    path = home / "data" / "customers" / "profiles" / "v-1.parquet"
    query = sqlglot.parse_one(f"SELECT * FROM read_parquet('{path}') AS p WHERE id = $id",
                              read="duckdb")
    assert spark_engine(home).sql(query) == f"SELECT * FROM parquet.`{path}` AS p WHERE id = :id"
    shared = spark_engine(home, home_url="hdfs://nn/wb")
    assert "parquet.`hdfs://nn/wb/data/customers/profiles/v-1.parquet`" in shared.sql(query)


def test_spark_errors_are_one_line_without_the_sql():
    class AnalysisException(Exception):
        __module__ = "pyspark.errors.exceptions.captured"

        def getCondition(self):
            return "PATH_NOT_FOUND"

        def getMessage(self):
            return ("[PATH_NOT_FOUND] Path does not exist: file:/x. SQLSTATE: 42K03\n"
                    "== SQL ==\nSELECT secret FROM t")

    line = describe(AnalysisException())
    assert line == "Spark: PATH_NOT_FOUND: Path does not exist: file:/x."


def test_a_java_failure_is_told_by_its_own_line_not_by_py4j_s():
    class Py4JJavaError(Exception):
        __module__ = "py4j.protocol"

    error = Py4JJavaError("An error occurred while calling o3682.collectToPython.\n"
                          ": org.apache.spark.SparkException: Job aborted due to stage failure: "
                          "ExecutorLostFailure (executor 1 exited)\n\tat org.apache.spark.x(y)")
    assert describe(error) == ("Spark: Job aborted due to stage failure: ExecutorLostFailure "
                               "(executor 1 exited)")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("master", "nonsense://x", "engine.master: .*a Spark master"),
    ("home_url", "relative/path", "engine.home_url: .*an absolute path or a URL"),
])
def test_spark_settings_are_checked_before_any_jvm_starts(home, key, value, message):
    settings = home / "workbench.toml"
    settings.write_text(settings.read_text().replace(
        'kind = "duckdb"\n', f'kind = "spark"\n{key} = "{value}"\n'))
    with pytest.raises(SettingsError, match=message):
        load_settings(home)


@pytest.mark.parametrize(("table", "message"), [
    ('"foo" = "bar"', "named spark"),
    ('"spark.driver.memory" = "lots"', "a size such as 1g"),
])
def test_spark_application_settings_are_checked(home, table, message):
    settings = home / "workbench.toml"
    settings.write_text(settings.read_text() + f"\n[engine.spark]\n{table}\n")
    with pytest.raises(SettingsError, match=f"engine.spark: .*{message}"):
        load_settings(home)


def test_an_unreachable_spark_connect_server_is_one_line_at_once(home):
    from tests.sshd import free_port
    from workbench.errors import EngineError

    engine = spark_engine(home, master=f"sc://127.0.0.1:{free_port()};token=SECRET")
    with pytest.raises(EngineError, match=r"cannot reach the Spark Connect server at "
                                          r"127.0.0.1:\d+ \(\[engine\] master\)") as caught:
        engine.rows(sqlglot.exp.select("1"))
    assert "SECRET" not in str(caught.value)
