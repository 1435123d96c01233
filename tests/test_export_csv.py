"""An export's CSV, byte for byte: every option, RFC 4180 quoting, labels, templates, an empty
audience; the DuckDB COPY path and the rendered path agree."""

from __future__ import annotations

import pytest
import sqlglot

import workbench
from tests.test_export_configs import config, setup  # noqa: F401 - the shared setup fixture
from workbench.errors import EngineError
from workbench.query.duckdb import DuckDBEngine

MEMORY_LIMIT = sqlglot.parse_one("SELECT current_setting('memory_limit')", read="duckdb")


def written(setup, tmp_path, **changes) -> bytes:  # noqa: F811
    target = tmp_path / "out.csv"
    result = setup.exports.write_csv(config(**changes), target)
    data = target.read_bytes()
    assert result.bytes == len(data)
    return data


@pytest.mark.parametrize(("csv", "expected"), [
    ({"header": True, "record_delimiter": "LF", "field_delimiter": "comma"},
     b"customer_id,First Name\nann,Ann\neve,Eve\nfay,O'Brien\n"),
    ({"header": True, "record_delimiter": "CRLF", "field_delimiter": "tab"},
     b"customer_id\tFirst Name\r\nann\tAnn\r\neve\tEve\r\nfay\tO'Brien\r\n"),
    ({"header": False, "record_delimiter": "LF", "field_delimiter": "pipe"},
     b"ann|Ann\neve|Eve\nfay|O'Brien\n"),
    ({"header": True, "record_delimiter": "CRLF", "field_delimiter": "semicolon"},
     b"customer_id;First Name\r\nann;Ann\r\neve;Eve\r\nfay;O'Brien\r\n"),
])
def test_every_csv_option_byte_exact(setup, tmp_path, csv, expected):  # noqa: F811
    columns = [{"attribute": "customer_id"}, {"attribute": "first_name", "label": "First Name"}]
    assert written(setup, tmp_path, csv=csv, columns=columns) == expected


def test_quoting_of_delimiters_quotes_and_line_breaks(setup, tmp_path):  # noqa: F811
    columns = [{"attribute": "customer_id"},
               {"label": 'Say "hi", x', "template": "{{first_name}}"},
               {"label": "Mixed", "template": '{{#if first_name}}{{first_name}}, "q"\nnext{{/if}}'}]
    data = written(setup, tmp_path, columns=columns,
                   csv={"header": True, "record_delimiter": "LF", "field_delimiter": "comma"})
    lines = data.decode().split("\n")
    assert lines[0] == 'customer_id,"Say ""hi"", x",Mixed'
    assert lines[1] == 'ann,Ann,"Ann, ""q""' and lines[2] == 'next"'


def test_copy_and_rendered_paths_write_the_same_bytes(setup, tmp_path):  # noqa: F811
    plain = [{"attribute": "customer_id"}, {"attribute": "rfm.monetary"},
             {"attribute": "birth_date"}, {"attribute": "created_at"},
             {"label": "Name", "template": "{{first_name}}"}]
    logic = plain[:4] + [{"label": "Name", "template":  # O'Brien: no HTML escaping
                          "{{#if first_name}}{{first_name}}{{/if}}"}]
    csv = {"header": True, "record_delimiter": "CRLF", "field_delimiter": "comma"}
    assert written(setup, tmp_path, columns=plain, csv=csv) == \
        written(setup, tmp_path, columns=logic, csv=csv)


def test_an_empty_audience_gives_the_header_only(setup, tmp_path):  # noqa: F811
    nobody = setup.audiences.activate(setup.audiences.create({"name": "Nobody", "rules": [
        {"attribute": "age", "op": "gt", "value": 150}]}).id)
    from tests.audience_data import D
    setup.processing.run(D)
    data = written(setup, tmp_path, audience=nobody.id,
                   columns=[{"attribute": "customer_id"}, {"label": "x", "template":
                                                           "{{#if first_name}}y{{/if}}"}])
    assert data == b"customer_id\tx\r\n"  # the base config: tab, CRLF


def test_an_export_query_runs_under_the_streaming_limit_and_restores_it(setup):  # noqa: F811
    engine = setup.engine
    preserve = sqlglot.parse_one("SELECT current_setting('preserve_insertion_order')",
                                 read="duckdb")
    [(before,)] = engine.rows(MEMORY_LIMIT)
    with engine.streaming():
        [(inside,)] = engine.rows(MEMORY_LIMIT)
        [(order,)] = engine.rows(preserve)
    [(after,)] = engine.rows(MEMORY_LIMIT)
    assert inside == "286.1 MiB" and order is False  # 300MB, the default
    assert after == before and before != inside


def test_out_of_memory_under_the_streaming_limit_is_redone_under_the_full_one(
        setup, tmp_path):  # noqa: F811
    setup.settings.engine.streaming_memory_limit = "4MB"  # too little for the query
    with pytest.raises(EngineError) as raised, setup.engine.streaming():
        setup.engine.rows(sqlglot.parse_one(
            "SELECT list(range) FROM range(200000) GROUP BY range % 1000", read="duckdb"))
    assert raised.value.out_of_memory
    columns = [{"attribute": "customer_id"}, {"attribute": "first_name", "label": "First Name"}]
    csv = {"header": True, "record_delimiter": "LF", "field_delimiter": "comma"}
    with workbench.open(setup.home.root, user=setup.user.name) as wb:
        wb.settings.engine.streaming_memory_limit = "4MB"
        wb.engine = FirstFileOutOfMemory(wb.home, wb.settings)
        data = written(wb, tmp_path, columns=columns, csv=csv)
        assert wb.engine.limits == ["3.8 MiB", "3.7 GiB"]  # failed, then done under the full
    assert data == b"customer_id,First Name\nann,Ann\neve,Eve\nfay,O'Brien\n"
    setup.settings.engine.streaming_memory_limit = "1KB"  # less than DuckDB holds already
    assert written(setup, tmp_path, columns=columns, csv=csv) == data


class FirstFileOutOfMemory(DuckDBEngine):
    """DuckDB whose first file written under the streaming limit runs out of memory, as DuckDB
    sometimes does instead of spilling; ``limits``: the memory limit each file started under."""

    def __init__(self, home, settings):
        super().__init__(home, settings)
        self.limits = []

    def write_csv(self, query, path, options):
        [(limit,)] = self.rows(MEMORY_LIMIT)
        self.limits.append(limit)
        if limit == "3.8 MiB" and self.limits.count(limit) == 1:
            raise EngineError("out of memory", out_of_memory=True)
        return super().write_csv(query, path, options)


def test_with_makes_a_groups_fields_plain_names(setup, tmp_path):  # noqa: F811
    columns = [{"attribute": "customer_id"},
               {"label": "Buys", "template": "{{#with rfm}}{{frequency}}{{/with}}"}]
    data = written(setup, tmp_path, columns=columns,
                   csv={"header": True, "record_delimiter": "LF", "field_delimiter": "comma"})
    plain = written(setup, tmp_path, columns=[columns[0], {"attribute": "rfm.frequency",
                                                           "label": "Buys"}],
                    csv={"header": True, "record_delimiter": "LF", "field_delimiter": "comma"})
    assert data == plain
    assert "unknown field 'bogus'" in " ".join(p.message for p in setup.exports.check(config(columns=[
        {"label": "B", "template": "{{#with rfm}}{{bogus}}{{/with}}"}])))
