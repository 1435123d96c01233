"""Hostile definitions: non-finite numbers, sizes past the limits, control characters and
absurd ids are refused in one line naming the rule, the attribute and what is allowed.

Pure: a catalog built in the test, no home, no data."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from workbench.audiences.catalog import Catalog
from workbench.audiences.definition import (
    MAX_JSON_BYTES,
    MAX_RULES,
    AudienceDefinition,
    check_definition,
)
from workbench.audiences.operators import MAX_DAYS, MAX_VALUES
from workbench.errors import InvalidDefinition, InvalidInput
from workbench.ids import MAX_ID, parse_id

CATALOG = Catalog.build({"score": "double", "tier": "text"})


def check(definition):
    """Parse (dict or JSON text) and check; return the problems as one line, or ''."""
    try:
        check_definition(AudienceDefinition.parse(definition), CATALOG)
    except InvalidDefinition as exc:
        assert "\n" not in str(exc)
        return str(exc)
    return ""


def one(rule: dict | str) -> dict | str:
    """A definition with one rule; a str rule is spliced in as JSON text."""
    if isinstance(rule, str):
        return '{"name": "x", "rules": [' + rule + "]}"
    return {"name": "x", "rules": [rule]}


# -- non-finite numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "shown"), [
    ("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("1e400", "Infinity"),
    ("-1e400", "-Infinity")])
def test_non_finite_json_numbers_are_refused(value, shown):
    message = check(one(f'{{"attribute": "age", "op": "eq", "value": {value}}}'))
    assert f"rule 1 (age): eq needs a finite number; got {shown}" in message


@pytest.mark.parametrize("rule", [
    {"attribute": "rfm.monetary", "op": "gt", "value": Decimal("NaN")},
    {"attribute": "rfm.monetary", "op": "gt", "value": Decimal("sNaN")},
    {"attribute": "rfm.monetary", "op": "gt", "value": Decimal("-Infinity")},
    {"attribute": "appended.score", "op": "between", "value": [float("nan"), 3]},
    {"attribute": "appended.score", "op": "between", "value": [1, float("inf")]},
    {"attribute": "rfm.monetary", "op": "between", "value": [Decimal("NaN"), Decimal(3)]},
    {"attribute": "age", "op": "in", "value": [1, float("nan")]},
])
def test_non_finite_python_numbers_are_refused_everywhere(rule):
    message = check(one(rule))
    assert f"rule 1 ({rule['attribute']}): {rule['op']} needs a finite number" in message


@pytest.mark.parametrize(("field", "value"), [
    ("within_days", "NaN"), ("within_days", "1e400"), ("min_count", "Infinity"),
    ("min_count", "-Infinity")])
def test_non_finite_window_numbers_are_refused(field, value):
    message = check(one(f'{{"attribute": "tag", "op": "has", "value": ["a"], "{field}": {value}}}'))
    assert f"rule 1 (tag): {field}: a finite number" in message


def test_non_finite_day_counts_are_refused():
    message = check(one('{"attribute": "birth_date", "op": "within_last_days", "value": NaN}'))
    assert "rule 1 (birth_date): within_last_days needs a whole number of days" in message


# -- limits ---------------------------------------------------------------------------------------

def rules(count: int) -> dict:
    return {"name": "x", "rules": [{"attribute": "age", "op": "gt", "value": i}
                                   for i in range(count)]}


def test_at_most_100_rules():
    assert check(rules(MAX_RULES)) == ""
    assert "rules: at most 100 rules, not 101" in check(rules(MAX_RULES + 1))
    assert "not 100,000" in check({"name": "x", "rules": [{}] * 100_000})  # before building


@pytest.mark.parametrize(("rule", "message"), [
    ({"attribute": "age", "op": "in", "value": list(range(MAX_VALUES + 1))},
     "rule 1 (age): in needs a list of at most 1,000 values, not 1,001; got [0, 1, 2"),
    ({"attribute": "tag", "op": "has", "value": [f"t{i}" for i in range(MAX_VALUES + 1)]},
     "has needs a list of at most 1,000 tag names, not 1,001"),
    ({"attribute": "tag", "op": "has", "value": ["a"], "within_days": MAX_DAYS + 1},
     "rule 1 (tag): within_days must be at most 36,500 days (100 years), not 36501"),
    ({"attribute": "rfm.monetary", "op": "gt", "value": 1, "within_days": 10**30},
     "within_days must be at most 36,500 days"),
    ({"attribute": "created_at", "op": "within_last_days", "value": MAX_DAYS + 1},
     "within_last_days needs a whole number of days, at least 1 and at most 36,500"),
    ({"attribute": "tag", "op": "has", "value": ["a"], "min_count": 1_000_001},
     "rule 1 (tag): min_count must be at most 1,000,000, not 1000001"),
    ({"attribute": "age", "op": "gt", "value": 10**15 + 1},
     "gt needs a number from -1,000,000,000,000,000 to 1,000,000,000,000,000"),
    ({"attribute": "rfm.monetary", "op": "between", "value": [Decimal("-1E+16"), 0]},
     "between needs a number from -1,000,000,000,000,000"),
    ({"attribute": "appended.score", "op": "lt", "value": 1e300}, "needs a number from"),
    pytest.param({"attribute": "age", "op": "gt", "value": 10**5000},
                 "got a number too long to show", id="5000-digits"),
    ({"attribute": "first_name", "op": "eq", "value": "x" * 1001},
     "eq needs a text of at most 1,000 characters, not 1,001"),
])
def test_limits_are_refused_with_the_limit(rule, message):
    assert message in check(one(rule))


@pytest.mark.parametrize("rule", [
    {"attribute": "age", "op": "in", "value": list(range(MAX_VALUES))},
    {"attribute": "tag", "op": "has", "value": ["a"], "within_days": MAX_DAYS,
     "min_count": 1_000_000},
    {"attribute": "created_at", "op": "within_last_days", "value": MAX_DAYS},
    {"attribute": "rfm.monetary", "op": "between", "value": [-10**15, Decimal("1E+15")]},
    {"attribute": "first_name", "op": "eq", "value": "é" * 1000},
])
def test_values_at_the_limits_are_accepted(rule):
    assert check(one(rule)) == ""


def test_definition_text_is_at_most_1_mb():
    padding = " " * MAX_JSON_BYTES
    message = check('{"name": "x",' + padding + '"rules": []}')
    assert message == "invalid audience definition: definition: larger than 1,000,000 bytes (1 MB)"
    assert "larger than" in check(('{"name": "x",' + padding + '"rules": []}').encode())


@pytest.mark.parametrize("depth", [21, 100_000])
def test_deep_json_text_is_refused_without_recursing(depth):
    nested = "[" * depth + "]" * depth
    message = check(one(f'{{"attribute": "age", "op": "eq", "value": {nested}}}'))
    assert message == "invalid audience definition: definition: nested deeper than 20 levels"


def test_brackets_inside_strings_do_not_count_as_nesting():
    value = json.dumps("[{" * 50 + '\\"')
    assert check(one(f'{{"attribute": "first_name", "op": "eq", "value": {value}}}')) == ""


def test_deep_python_values_are_refused_without_recursing():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert "nested deeper than 20 levels" in check(one({"attribute": "age", "op": "eq",
                                                        "value": deep}))
    itself: list = []
    itself.append(itself)
    assert "nested deeper than 20 levels" in check(one({"attribute": "age", "op": "in",
                                                        "value": itself}))


def test_json_text_problems_are_one_line():
    assert "not valid JSON: Expecting value at line 1 column 1" in check("")
    assert "not UTF-8 text" in check(b'{"name": "\xff"}')
    assert "a number has too many digits" in check(one(
        '{"attribute": "age", "op": "eq", "value": ' + "9" * 5000 + "}"))
    assert check(b'\xef\xbb\xbf{"name": "x"}') == ""  # a byte order mark is fine


# -- names, descriptions and text values ----------------------------------------------------------

@pytest.mark.parametrize("bad", ["\u202e", "\u200b", "\u2066", "\ufeff"])
def test_names_hold_no_invisible_or_direction_changing_characters(bad):
    message = check({"name": f"rtl {bad}evil tail", "rules": []})
    assert f"name: no invisible or direction-changing characters (found U+{ord(bad):04X})" \
        in message


@pytest.mark.parametrize("bad", ["\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x00", "\u2028"])
def test_names_hold_no_control_characters(bad):
    message = check({"name": f"Big{bad}spenders", "rules": []})
    assert f"name: no control characters allowed; found {bad!r} at character 4" in message


def test_names_hold_no_lone_surrogates():
    assert "name: no control characters allowed; found '\\ud800' at character 4" in check(
        {"name": "Big\ud800"})


def test_name_surroundings_are_trimmed_and_its_length_is_limited():
    assert AudienceDefinition.parse({"name": " \tBig spenders\n"}).name == "Big spenders"
    assert "name: at most 200 characters, not 201" in check({"name": "x" * 201})
    assert check({"name": "Ünïcödé 👩‍💻 " * 10}) == ""


def test_descriptions_may_have_lines_and_tabs_but_no_other_control_characters():
    assert check({"name": "x", "description": "line one\n\tline two"}) == ""
    assert "description: no control characters allowed but newline and tab; found '\\x1b'" \
        in check({"name": "x", "description": "\x1b[2J"})
    assert "found '\\r' at character 4" in check({"name": "x", "description": "one\r\ntwo"})
    assert "description: at most 10,000 characters" in check(
        {"name": "x", "description": "x" * 10_001})


@pytest.mark.parametrize(("rule", "message"), [
    ({"attribute": "first_name", "op": "eq", "value": "a\x1b[31m"},
     "rule 1 (first_name): eq needs text without control characters (found '\\x1b' at "
     "character 2)"),
    ({"attribute": "appended.tier", "op": "in", "value": ["gold", "sil\nver"]},
     "in needs text without control characters (found '\\n'"),
    ({"attribute": "tag", "op": "has", "value": ["ok", "bad\t"]},
     "has needs text without control characters (found '\\t'"),
    ({"attribute": "email", "op": "contains", "value": "\ud800"}, "found '\\ud800'"),
])
def test_text_values_hold_no_control_characters(rule, message):
    assert message in check(one(rule))


def test_user_text_in_messages_is_escaped_and_short():
    message = check(one({"attribute": "a\x1b[2J\nb" + "x" * 500, "op": "eq", "value": 1}))
    assert message.startswith("invalid audience definition: rule 1 (a\\x1b[2J\\nb")
    assert "\x1b" not in message and "x" * 100 not in message
    message = check(one({"attribute": "age", "op": "eq", "value": 1, "\x1bkey": 2}))
    assert "rule 1 (age): \\x1bkey: unknown field" in message


def test_stored_definitions_stay_readable_under_newer_limits():
    # Saved before the limits existed: still shown and listed; evaluating it is refused.
    text = json.dumps({"name": "old\tname", "rules": [
        {"attribute": "age", "op": "gt", "value": i} for i in range(MAX_RULES + 1)]})
    definition = AudienceDefinition.parse(text, stored=True)
    assert definition.name == "old\tname" and len(definition.rules) == MAX_RULES + 1
    with pytest.raises(InvalidDefinition, match="name: no control characters allowed"):
        AudienceDefinition.parse(text)


@pytest.mark.parametrize("name", ["Copy of " + "x" * 200, "Copy of \x1b[2J"])
def test_definitions_changed_without_validation_are_checked_again(name):
    # As duplicate() makes its copy: model_copy(update=...) validates nothing.
    copy = AudienceDefinition.parse({"name": "x"}).model_copy(update={"name": name})
    assert "invalid audience definition: name: " in check(copy)


def test_a_long_stored_name_stays_readable():
    text = json.dumps({"name": "Copy of " + "x" * 200, "rules": []})
    assert len(AudienceDefinition.parse(text, stored=True).name) == 208


# -- ids ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), ("42", 42), (" 7 ", 7), (MAX_ID, MAX_ID), (str(MAX_ID), MAX_ID)])
def test_parse_id_accepts_whole_numbers(value, expected):
    assert parse_id(value) == expected


@pytest.mark.parametrize("value", [
    0, -1, "-1", True, False, 3.0, None, "", "abc", "1e3", "²", "٣", MAX_ID + 1,
    "99999999999999999999999", pytest.param(10**5000, id="5000-digits"), "9" * 100_000])
def test_parse_id_refuses_what_is_not_a_store_id(value):
    with pytest.raises(InvalidInput) as caught:
        parse_id(value)
    message = str(caught.value)
    assert message.startswith("audience id must be a positive whole number, such as 12; not ")
    assert str(MAX_ID) not in message  # the store's bound, not a person's
    assert len(message) < 150


def test_parse_id_names_what_it_parses():
    with pytest.raises(InvalidInput, match="^export id must be a positive whole number"):
        parse_id("x", what="export")


def test_audience_ids_in_rules_are_store_ids():
    message = check(one({"attribute": "audience", "op": "in", "value": [99999999999999999999]}))
    assert "rule 1 (audience): in needs an audience id (a whole number); got " \
           "[99999999999999999999]" in message
    assert check(one({"attribute": "audience", "op": "in", "value": [3, "4"]})) == ""
