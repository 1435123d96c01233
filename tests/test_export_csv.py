"""An export's CSV, byte for byte: every option, RFC 4180 quoting, labels, templates, an empty
audience; the DuckDB COPY path and the rendered path agree."""

from __future__ import annotations

import pytest

from tests.test_export_configs import config, setup  # noqa: F401 - the shared setup fixture
from workbench.errors import EngineError


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
    limit = "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
    [(before,)] = engine.rows(limit)
    with engine.streaming():
        [(inside,)] = engine.rows(limit)
        [(order,)] = engine.rows("SELECT current_setting('preserve_insertion_order')")
    [(after,)] = engine.rows(limit)
    assert inside == "286.1 MiB" and order is False  # 300MB, the default
    assert after == before and before != inside


def test_out_of_memory_under_the_streaming_limit_is_redone_under_the_full_one(
        setup, tmp_path):  # noqa: F811
    engine = setup.engine
    engine._settings.engine.streaming_memory_limit = "4MB"  # too little for the query
    with pytest.raises(EngineError) as raised, engine.streaming():
        engine.rows("SELECT list(range) FROM range(200000) GROUP BY range % 1000")
    assert raised.value.out_of_memory
    limits = []

    def run_out_under_the_streaming_limit():  # as DuckDB sometimes does, instead of spilling
        [(limit,)] = engine.conn.execute("SELECT current_setting('memory_limit')").fetchall()
        limits.append(limit)
        if limit == "3.8 MiB" and limits.count(limit) == 1:  # the COPY
            raise EngineError("out of memory", out_of_memory=True)

    engine.before_query = run_out_under_the_streaming_limit
    columns = [{"attribute": "customer_id"}, {"attribute": "first_name", "label": "First Name"}]
    data = written(setup, tmp_path, columns=columns,
                   csv={"header": True, "record_delimiter": "LF", "field_delimiter": "comma"})
    assert data == b"customer_id,First Name\nann,Ann\neve,Eve\nfay,O'Brien\n"
    assert limits[-1] == "3.7 GiB"
    engine.before_query = None
    engine._settings.engine.streaming_memory_limit = "1KB"  # less than DuckDB holds already
    assert written(setup, tmp_path, columns=columns,
                   csv={"header": True, "record_delimiter": "LF", "field_delimiter": "comma"}) \
        == data


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
