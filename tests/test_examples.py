"""The JSON files of examples/exports/ are accepted as they are (the README and
docs/exports.md point newcomers at them): each parses as its kind, and the two exports save
into a home with the demo audiences, the destinations and the webhook target they name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.exports.models import ExportConfig, parse_destination
from workbench.exports.notices import NoticeTargetConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "exports"


def example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


@pytest.mark.parametrize("name", ["partner.json", "lake.json"])
def test_each_destination_example_parses_as_its_kind(name):
    parsed = parse_destination(example(name))
    assert parsed.type == example(name)["type"]


@pytest.mark.parametrize("name", ["crm-webhook.json", "ops-slack.json"])
def test_each_notice_example_parses(name):
    assert NoticeTargetConfig.model_validate(example(name)).name == example(name)["name"]


def test_the_export_examples_save_with_what_they_name(wb, write_csv, s3):
    from tests.audience_data import load

    load(wb, write_csv)
    for number in (1, 2):
        wb.audiences.activate(wb.audiences.create({"name": f"Audience {number}", "rules": [
            {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    bucket = s3.bucket()
    lake = {**example("lake.json"), "endpoint": s3.url, "bucket": bucket,
            "access_key_id": s3.writer[0], "secret_access_key": s3.writer[1]}
    wb.destinations.add(lake)
    wb.notices.add(example("crm-webhook.json"))
    daily = wb.exports.create(example("daily-changes.json"))
    assert (daily.config.changes, daily.config.compression, daily.config.split.rows) == (
        "column", "gzip", 1000)
    weekly = ExportConfig.parse(example("weekly.json"))  # its SFTP destination is not here
    assert weekly.csv.field_delimiter == "tab" and weekly.columns[2].template
