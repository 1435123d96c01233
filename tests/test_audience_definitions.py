"""Definition checks: errors name the rule, the attribute and what is allowed; warnings for
values never seen; the targeting summary."""

from __future__ import annotations

import pytest

from workbench.errors import InvalidDefinition, InvalidInput


def problems(audiences, *rules) -> str:
    with pytest.raises(InvalidDefinition) as caught:
        audiences.check({"name": "x", "rules": list(rules)})
    return str(caught.value)


@pytest.mark.parametrize(("rule", "message"), [
    ({"attribute": "agee", "op": "eq", "value": 3},
     "rule 1 (agee): unknown attribute; did you mean age"),
    ({"attribute": "appended.tier", "op": "eq", "value": "x"},
     "did you mean appended.opt_in, appended.loyalty_tier"),
    ({"attribute": "age", "op": "contains", "value": "3"},
     "rule 1 (age): operator 'contains' does not apply to integer attributes; allowed: in, eq, "
     "gt, gte, lt, lte, between, is_known"),
    ({"attribute": "age", "op": "in", "value": []}, "in needs a non-empty list of values; got []"),
    ({"attribute": "age", "op": "greater", "value": 3},
     "rule 1 (age): unknown operator 'greater'; for integer attributes use in, eq, gt"),
    ({"attribute": "age", "op": "between", "value": [40, 30]},
     "between needs [low, high] with low <= high, not [40, 30]"),
    ({"attribute": "age", "op": "between", "value": [None, None]}, "at least one bound"),
    ({"attribute": "age", "op": "gt", "value": "30"}, "gt needs a number; got \"30\""),
    ({"attribute": "age", "op": "gt", "value": True}, "gt needs a number"),
    ({"attribute": "gender", "op": "eq", "value": ""}, "use is_known for unknown values"),
    ({"attribute": "birth_date", "op": "before", "value": "01/02/1990"},
     "before needs a date YYYY-MM-DD"),
    ({"attribute": "created_at", "op": "within_last_days", "value": -3},
     "within_last_days needs a whole number of days, at least 1"),
    ({"attribute": "tag", "op": "has", "value": ["a"], "within_days": -5},
     "rule 1 (tag): within_days must be at least 1 day, not -5"),
    ({"attribute": "age", "op": "gt", "value": 1, "within_days": 5},
     "within_days applies only to tag, rfm.frequency and rfm.monetary"),
    ({"attribute": "rfm.frequency", "op": "gt", "value": 1, "min_count": 2},
     "min_count applies only to tag rules"),
    ({"attribute": "tag", "op": "in", "value": ["a"]},
     "operator 'in' does not apply to event attributes; allowed: has"),
    ({"attribute": "appended.opt_in", "op": "in", "value": [True]},
     "allowed: eq, is_known"),
    ({"attribute": "audience", "op": "in", "value": [999]}, "no audience with id 999"),
    ({"attribute": "age", "op": "gt", "value": 1, "sideways": True},
     "rule 1 (age): sideways: unknown field"),
])
def test_invalid_rules_are_refused_with_what_is_allowed(sample_wb, rule, message):
    assert message in problems(sample_wb.audiences, rule)


def test_every_problem_is_reported_with_its_position(sample_wb):
    text = problems(sample_wb.audiences, {"attribute": "age", "op": "gt", "value": 1},
                    {"attribute": "nope", "op": "eq", "value": 1},
                    {"attribute": "age", "op": "in", "value": []})
    assert "rule 2 (nope)" in text and "rule 3 (age)" in text and "rule 1" not in text


def test_definition_shape_errors(sample_wb):
    with pytest.raises(InvalidDefinition, match="name: String should have at least 1 character"):
        sample_wb.audiences.check({"name": "", "rules": []})
    with pytest.raises(InvalidDefinition, match="rule 1 \\(age\\): op: Field required"):
        sample_wb.audiences.check({"name": "x", "rules": [{"attribute": "age"}]})


def test_unseen_tag_or_value_is_accepted_with_a_warning_naming_close_ones(sample_wb):
    _, warnings = sample_wb.audiences.check({"name": "x", "rules": [
        {"attribute": "tag", "op": "has", "value": ["store_vist", "spring_campaign"]},
        {"attribute": "appended.loyalty_tier", "op": "in", "value": ["Gold"]},
        {"attribute": "gender", "op": "eq", "value": "FEMALE"}]})
    assert [str(w) for w in warnings] == [
        "rule 1 (tag): not seen in the data yet: 'store_vist' (closest known: store_visit); "
        "'spring_campaign'",
        "rule 2 (appended.loyalty_tier): not seen in the data yet: 'Gold' (closest known: gold)",
    ]
    assert [w.rule for w in warnings] == [1, 2]  # as data: a page places each at its rule


def test_draft_audiences_cannot_be_used_in_rules(sample_wb):
    draft = sample_wb.audiences.create({"name": "Draft", "rules": []})
    assert "is a draft; only active audiences" in problems(
        sample_wb.audiences, {"attribute": "audience", "op": "in", "value": [draft.id]})


def test_targeting_summary_in_plain_english(sample_wb):
    summary = sample_wb.audiences.summary({"name": "x", "rules": [
        {"attribute": "age", "op": "between", "value": [25, 34]},
        {"attribute": "gender", "op": "in", "value": ["female", "nonbinary"]},
        {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90,
         "min_count": 2},
        {"attribute": "rfm.monetary", "op": "gt", "value": 100, "within_days": 365},
        {"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"],
         "exclude": True},
        {"attribute": "created_at", "op": "within_last_days", "value": 30},
        {"attribute": "age", "op": "between", "value": [None, 17]},
        {"attribute": "email", "op": "is_known", "exclude": True}]})
    assert summary == [
        "Age between 25 and 34",
        "Gender in female, nonbinary",
        "Has tag store_visit at least 2 times in the last 90 days",
        "Total spend greater than 100 in the last 365 days",
        "Excluding appended loyalty tier in bronze",
        "Customer since in the last 30 days",
        "Age at most 17",
        "Excluding email is known",
    ]


def test_estimates_say_why_they_may_be_empty(sample_wb, wb):
    with pytest.raises(InvalidInput, match="as-of day 2099-01-01 is after today"):
        sample_wb.audiences.estimate({"name": "x", "rules": []}, as_of="2099-01-01")
    nothing = wb.audiences.estimate({"name": "x", "rules": []}, as_of="2026-01-01")
    assert nothing.base == 0
    assert "the customer base is empty as of 2026-01-01" in nothing.warnings[0].message
