"""pydantic's errors about export configurations and destinations, said in plain words at one
place (workbench/exports/messages.py): each names the field as the form shows it, positions
1-based, with no pydantic wording and no machine bound."""

from __future__ import annotations

import pytest

from workbench.errors import InvalidExport
from workbench.exports.messages import label
from workbench.exports.models import ExportConfig, parse_destination, parse_model

VALID = {"name": "Weekly", "audience": 1, "file_name": "{audience}_%Y%m%d_{run}.csv",
         "schedule": {"start": "2027-01-04T06:00"}, "destination": "partner",
         "columns": [{"attribute": "customer_id"}]}
PYDANTIC_WORDS = ("String should", "List should", "Input should", "Value error", "Field required")


def said(model, data) -> list[str]:
    with pytest.raises(InvalidExport) as raised:
        parse_destination(data) if model == "destination" else parse_model(model, data, "thing")
    return [str(p) for p in raised.value.problems]


@pytest.mark.parametrize(("field", "shown"), [
    ("name", "Name"), ("schedule.start", "Delivery date/time"), ("schedule.timezone", "Time zone"),
    ("schedule.repeat.every", "Repeat every"), ("columns.3", "Column 4"),
    ("columns.0.template", "Column 1 template"), ("columns.11.label", "Column 12 label"),
    ("notify", "Email recipients"), ("notify.2", "Recipient 3"), ("keys.0", "Key 1"),
    ("csv.field_delimiter", "Field delimiter"), ("some_new.field", "Some new field"),
])
def test_a_field_is_named_as_the_form_shows_it(field, shown):
    assert label(field) == shown


@pytest.mark.parametrize(("changes", "expected"), [
    ({"name": ""}, "Name: is required"),
    ({"name": "x" * 201}, "Name: is too long: at most 200 characters"),
    ({"file_name": ""}, "File name: is required"),
    ({"destination": ""}, "Destination: is required"),
    ({"schedule": {"start": ""}}, "Delivery date/time: is required: choose a date"),
    ({"columns": []}, "Columns: add at least one column"),
    ({"columns": [{"attribute": "a"}] * 201}, "Columns: has too many columns: at most 200"),
    ({"columns": [{"attribute": "a"}, {"attribute": "b"}, {"attribute": "c"},
                  {"template": "{{first_name}}"}]}, "Column 4: a template column needs a label"),
    ({"csv": {"field_delimiter": "colon"}},
     "Field delimiter: must be one of 'comma', 'tab', 'pipe' or 'semicolon'"),
    ({"active": "maybe"}, "State: must be true or false"),
    ({"audience": "99999999999999999999"},
     "Audience: audience id must be a positive whole number, such as 12; not "
     "'a number too large'"),
    ({"surprise": 1}, "Surprise: is not a known field"),
])
def test_export_problems_are_plain_one_line_messages(changes, expected):
    messages = said(ExportConfig, {**VALID, **changes})
    assert expected in messages, messages
    for message in messages:
        assert "\n" not in message and not any(w in message for w in PYDANTIC_WORDS)
        assert "9223372036854775807" not in message and "columns." not in message


def test_destination_problems_are_plain_and_bounds_are_people_sized():
    messages = said("destination", {"name": "", "host": "h", "port": 70000, "path": "/in",
                                        "username": "u"})
    assert "Name: is required" in messages and "Port: must be at most 65535" in messages
    huge = said("destination", {"name": "p", "host": "h", "port": 2**70, "path": "/in",
                                    "username": "u"})
    assert huge == ["Port: must be at most 65535"]


@pytest.mark.parametrize(("error", "expected"), [
    ({"type": "less_than_equal", "loc": ("x",), "msg": "", "ctx": {"le": 2**63 - 1}},
     "is too large"),
    ({"type": "greater_than_equal", "loc": ("x",), "msg": "", "ctx": {"ge": -(2**63)}},
     "is too small"),
    ({"type": "int_parsing_size", "loc": ("x",), "msg": "", "ctx": {}}, "is too large"),
    ({"type": "value_error", "loc": ("x",), "msg": "Value error, between 1 and "
      "9223372036854775807", "ctx": {}}, "between 1 and a number too large"),
    ({"type": "something_new", "loc": ("x",), "msg": "Input should be shiny\nand more",
      "ctx": {}}, "must be shiny"),
])
def test_machine_bounds_and_unknown_kinds_are_said_plainly(error, expected):
    from workbench.exports.messages import message

    assert message(error) == expected


def test_the_field_path_stays_for_placing_the_message():
    with pytest.raises(InvalidExport) as raised:
        ExportConfig.parse({**VALID, "columns": [{"attribute": "a"},
                                                 {"template": "{{x}}", "label": ""}]})
    [problem] = raised.value.problems
    assert (problem.field, problem.label) == ("columns.1", "Column 2")
