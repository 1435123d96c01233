"""An export's CSV, byte for byte: every option, RFC 4180 quoting, labels, templates, an empty
audience; the DuckDB COPY path and the rendered path agree."""

from __future__ import annotations

import pytest

from tests.test_export_configs import config, setup  # noqa: F401 - the shared setup fixture


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
             {"attribute": "birth_date"}, {"label": "Name", "template": "{{first_name}}"}]
    logic = plain[:3] + [{"label": "Name", "template":  # O'Brien: no HTML escaping
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
