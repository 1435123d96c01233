"""Rule -> SQL -> members on the hand-made base (tests/audience_data.py), for every operator."""

from __future__ import annotations

import pytest

from tests.audience_data import BASE, D

ALL_BUT = lambda *names: BASE - set(names)  # noqa: E731

CASES = [
    # numbers
    ({"attribute": "age", "op": "between", "value": [25, 34]}, {"bob"}),
    ({"attribute": "age", "op": "between", "value": [None, 18]}, {"eve"}),
    ({"attribute": "age", "op": "between", "value": [40, None]}, {"fay", "dee"}),
    ({"attribute": "age", "op": "gt", "value": 60}, {"dee"}),
    ({"attribute": "age", "op": "gte", "value": 40}, {"dee", "fay"}),
    ({"attribute": "age", "op": "lt", "value": 26}, {"eve"}),
    ({"attribute": "age", "op": "lte", "value": 26}, {"bob", "eve"}),
    ({"attribute": "age", "op": "eq", "value": 35}, {"ann"}),
    ({"attribute": "age", "op": "in", "value": [15, 66]}, {"eve", "dee"}),
    ({"attribute": "age", "op": "is_known"}, ALL_BUT("cy")),
    ({"attribute": "age", "op": "gt", "value": 30, "exclude": True}, {"bob", "cy", "eve"}),
    # text: exact and case-sensitive, gender lower-cased on both sides, contains literal
    ({"attribute": "gender", "op": "in", "value": ["FEMALE"]}, {"ann", "eve", "fay"}),
    ({"attribute": "gender", "op": "eq", "value": "male"}, {"bob"}),
    ({"attribute": "gender", "op": "in", "value": ["female"], "exclude": True},
     {"bob", "cy", "dee"}),
    ({"attribute": "gender", "op": "is_known", "exclude": True}, {"cy"}),
    ({"attribute": "home_city", "op": "eq", "value": "boston"}, set()),
    ({"attribute": "home_city", "op": "contains", "value": "YORK"}, {"dee"}),
    ({"attribute": "home_state", "op": "in", "value": ["MA", "TX"]}, {"ann", "bob", "eve"}),
    ({"attribute": "email", "op": "contains", "value": "%_"}, {"eve"}),
    ({"attribute": "email", "op": "contains", "value": "_"}, {"eve"}),
    ({"attribute": "first_name", "op": "contains", "value": "o'b"}, {"fay"}),
    ({"attribute": "home_city", "op": "eq", "value": "Zürich"}, {"fay"}),
    ({"attribute": "home_city", "op": "in", "value": ["x' OR 1=1 --"]}, set()),
    ({"attribute": "first_name", "op": "eq", "value": "Ann' OR '1'='1"}, set()),
    ({"attribute": "home_city", "op": "contains", "value": "\"; DROP TABLE profiles; --"}, set()),
    # dates and timestamps (compare the date; before/after exclusive; window (D-N, D])
    ({"attribute": "birth_date", "op": "before", "value": "1970-01-01"}, {"dee"}),
    ({"attribute": "birth_date", "op": "after", "value": "2000-03-10"}, {"eve"}),
    ({"attribute": "birth_date", "op": "between", "value": ["1985-03-11", "2000-03-10"]},
     {"ann", "bob", "fay"}),
    ({"attribute": "created_at", "op": "within_last_days", "value": 9}, set()),
    ({"attribute": "created_at", "op": "within_last_days", "value": 10}, {"dee"}),
    ({"attribute": "created_at", "op": "after", "value": "2025-12-30"}, {"dee", "eve"}),
    ({"attribute": "created_at", "op": "eq", "value": "2020-01-01"}, {"ann"}),
    ({"attribute": "created_at", "op": "is_known", "exclude": True}, {"cy"}),
    # tags: has, within_days at its boundary, min_count, events after D invisible
    ({"attribute": "tag", "op": "has", "value": ["store_visit"]}, {"ann", "bob", "dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 89},
     {"ann", "bob"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90},
     {"ann", "bob", "dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90,
      "min_count": 2}, {"ann"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 91,
      "min_count": 2}, {"ann", "dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit", "email_open"], "min_count": 2},
     {"ann", "bob", "dee"}),
    ({"attribute": "tag", "op": "has", "value": ["email_open"], "within_days": 1}, set()),
    ({"attribute": "tag", "op": "has", "value": ["email_open"], "within_days": 2}, {"bob"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "exclude": True},
     {"cy", "eve", "fay"}),
    ({"attribute": "tag", "op": "has", "value": ["x' OR 1=1 --"]}, {"eve"}),
    # days_ago [from, to]: whole days before D, both ends included; to null: any time before
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [90, 90]}, {"dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [89, 90],
      "min_count": 2}, {"dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [0, 0]}, {"bob"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [1, None]},
     {"ann", "dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [10, 89]},
     {"ann", "dee"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [0, 8]}, {"bob"}),
    ({"attribute": "tag", "op": "has", "value": ["store_visit"], "days_ago": [68, None],
      "exclude": True}, {"bob", "cy", "eve", "fay"}),
    # RFM: purchases are amount >= 0, refunds only in monetary, NULL recency without purchases
    ({"attribute": "rfm.recency_days", "op": "lte", "value": 0}, {"bob"}),
    ({"attribute": "rfm.recency_days", "op": "is_known"}, {"ann", "bob", "dee"}),
    ({"attribute": "rfm.recency_days", "op": "gt", "value": 100, "exclude": True},
     ALL_BUT("dee")),
    ({"attribute": "rfm.frequency", "op": "eq", "value": 0}, {"cy", "eve", "fay"}),
    ({"attribute": "rfm.frequency", "op": "gte", "value": 1, "within_days": 30}, {"ann", "bob"}),
    ({"attribute": "rfm.frequency", "op": "lt", "value": 1, "within_days": 30},
     {"cy", "dee", "eve", "fay"}),
    ({"attribute": "rfm.monetary", "op": "eq", "value": 40}, {"bob"}),
    ({"attribute": "rfm.monetary", "op": "lt", "value": 0}, {"fay"}),
    ({"attribute": "rfm.monetary", "op": "gt", "value": 100}, {"ann"}),
    ({"attribute": "rfm.monetary", "op": "between", "value": [20, 60], "within_days": 365},
     {"bob", "dee"}),
    ({"attribute": "rfm.frequency", "op": "gte", "value": 1, "days_ago": [1, 30]}, {"ann"}),
    ({"attribute": "rfm.frequency", "op": "eq", "value": 2, "days_ago": [10, None]}, {"ann"}),
    ({"attribute": "rfm.monetary", "op": "eq", "value": 40, "days_ago": [0, 0]}, {"bob"}),
    ({"attribute": "rfm.monetary", "op": "gte", "value": 20, "days_ago": [10, 400]},
     {"ann", "dee"}),
    ({"attribute": "rfm.monetary", "op": "gte", "value": 50, "within_days": 30}, {"ann"}),
    ({"attribute": "rfm.m_score", "op": "in", "value": [3]}, {"ann"}),
    ({"attribute": "rfm.f_score", "op": "eq", "value": 1}, {"bob"}),
    ({"attribute": "rfm.r_score", "op": "eq", "value": 5}, {"bob"}),
    ({"attribute": "rfm.r_score", "op": "is_known", "exclude": True}, {"cy", "eve", "fay"}),
    # appended: inferred types; NULL never excluded by an exclude rule
    ({"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"], "exclude": True},
     ALL_BUT("bob")),
    ({"attribute": "appended.loyalty_tier", "op": "is_known"}, {"ann", "bob", "dee", "eve"}),
    ({"attribute": "appended.points", "op": "gte", "value": 100}, {"ann", "dee"}),
    ({"attribute": "appended.opt_in", "op": "eq", "value": True}, {"ann", "dee"}),
    ({"attribute": "appended.opt_in", "op": "eq", "value": False, "exclude": True},
     {"ann", "cy", "dee", "eve"}),
]


@pytest.fixture
def audiences(sample_wb):
    return sample_wb.audiences


def members(audiences, rules) -> set[str]:
    estimate = audiences.estimate({"name": "t", "rules": rules}, as_of=D)
    found = set(audiences.members_of({"name": "t", "rules": rules}, as_of=D)["customer_id"])
    assert estimate.size == len(found) and estimate.base == len(BASE)
    return found


@pytest.mark.parametrize(("rule", "expected"), CASES,
                         ids=[f"{r['attribute']}-{r['op']}-{i}" for i, (r, _) in enumerate(CASES)])
def test_rule_selects_exactly_these_customers(audiences, rule, expected):
    assert members(audiences, [rule]) == expected


def test_every_operator_is_covered():
    from workbench.audiences.operators import OPERATORS

    assert {rule["op"] for rule, _ in CASES} == set(OPERATORS)


def test_include_and_exclude_rules_combine(audiences):
    rules = [{"attribute": "gender", "op": "in", "value": ["female"]},
             {"attribute": "appended.loyalty_tier", "op": "in", "value": ["gold"],
              "exclude": True}]
    assert members(audiences, rules) == {"eve", "fay"}


def test_no_rules_is_the_whole_base(audiences):
    assert members(audiences, []) == BASE


def test_point_in_time_an_earlier_day_sees_less(audiences):
    rule = {"attribute": "rfm.frequency", "op": "gte", "value": 1}
    early = audiences.estimate({"name": "t", "rules": [rule]}, as_of="2026-01-01")
    # Only ann had bought (2025-06-01); dee bought earlier but was not yet a customer, so she is
    # in neither the count nor the base (5: everyone created by then or unknown).
    assert (early.size, early.base) == (1, 5)


def test_audience_of_audience(audiences):
    visitors = audiences.create({"name": "Visitors", "rules": [
        {"attribute": "tag", "op": "has", "value": ["store_visit"]}]})
    audiences.activate(visitors.id)
    rules = [{"attribute": "audience", "op": "in", "value": [visitors.id]},
             {"attribute": "gender", "op": "eq", "value": "female"}]
    assert members(audiences, rules) == {"ann"}
    excluded = [{"attribute": "audience", "op": "in", "value": [str(visitors.id)],
                 "exclude": True}]
    assert members(audiences, excluded) == {"cy", "eve", "fay"}
    nested = audiences.create({"name": "Female visitors", "rules": rules})
    audiences.activate(nested.id)
    assert members(audiences, [{"attribute": "audience", "op": "in",
                                "value": [nested.id]}]) == {"ann"}


def test_rules_sharing_one_window_with_plain_rules(audiences):
    # The same window twice shares one aggregate; the plain rule narrows which customers'
    # events are aggregated. Found by the property test.
    window = {"attribute": "rfm.frequency", "op": "gte", "value": 1, "within_days": 30}
    rules = [window, dict(window), {"attribute": "gender", "op": "eq", "value": "female"}]
    assert members(audiences, rules) == {"ann"}


@pytest.mark.parametrize("day", ["20261128", "2026-W48-6", "2026-11-28T00:00", "2026-02-30"])
def test_a_day_in_a_rule_is_written_exactly_yyyy_mm_dd(audiences, day):
    # date.fromisoformat alone would take the first three as days.
    from workbench.errors import InvalidDefinition

    rule = {"attribute": "birth_date", "op": "before", "value": day}
    with pytest.raises(InvalidDefinition, match=r"rule 1 \(birth_date\): before needs a date "
                                                 r"YYYY-MM-DD"):
        audiences.check({"name": "t", "rules": [rule]})
    audiences.check({"name": "t", "rules": [{**rule, "value": "1990-01-01"}]})


AGE_OVER_60 = {"attribute": "age", "op": "gt", "value": 60}
MALE = {"attribute": "gender", "op": "eq", "value": "male"}
VISITED = {"attribute": "tag", "op": "has", "value": ["store_visit"]}

GROUP_CASES = [
    ("any", [{"any": [MALE, AGE_OVER_60]}], {"bob", "dee"}),
    ("any-with-exclude", [{"any": [MALE, AGE_OVER_60, {**VISITED, "days_ago": [0, 0],
                                                        "exclude": True}]}], {"dee"}),
    ("excluded-all", [{"attribute": "gender", "op": "eq", "value": "female"},
                      {"all": [VISITED, {"attribute": "age", "op": "gt", "value": 30}],
                       "exclude": True}], {"eve", "fay"}),
    ("any-without-include-never-holds", [{"any": [{**AGE_OVER_60, "exclude": True}]}], set()),
    ("all-without-include-is-not", [{"all": [{**AGE_OVER_60, "exclude": True}]}],
     ALL_BUT("dee")),
    # NULL: an unknown age does not hold in the group, and an excluded group does not hold on it
    ("any-on-null", [{"any": [{"attribute": "age", "op": "lt", "value": 20},
                              {"attribute": "appended.points", "op": "gte", "value": 1000}]}],
     {"ann", "eve"}),
    ("excluded-group-on-null", [{"any": [AGE_OVER_60], "exclude": True}], ALL_BUT("dee")),
    # dee is in only through the group nested in the group
    ("nested", [{"attribute": "age", "op": "gte", "value": 25},
                {"any": [{**VISITED, "within_days": 30},
                         {"all": [{"attribute": "rfm.monetary", "op": "gte", "value": 20},
                                  {**MALE, "exclude": True}]}]}], {"ann", "bob", "dee"}),
    ("windows-in-both-branches", [{"any": [{**VISITED, "days_ago": [90, 90]},
                                           {"attribute": "rfm.frequency", "op": "gte",
                                            "value": 1, "days_ago": [0, 0]}]}], {"bob", "dee"}),
]


@pytest.mark.parametrize(("rules", "expected"), [c[1:] for c in GROUP_CASES],
                         ids=[c[0] for c in GROUP_CASES])
def test_groups_select_exactly_these_customers(audiences, rules, expected):
    assert members(audiences, rules) == expected


def test_a_definition_without_groups_keeps_its_meaning(audiences):
    rules = [{"attribute": "gender", "op": "in", "value": ["female"]},
             {"attribute": "age", "op": "lt", "value": 30, "exclude": True}]
    assert members(audiences, rules) == members(audiences, [{"all": rules}]) == {"ann", "fay"}


def test_explain_says_which_group_held(audiences):
    rules = [{"attribute": "age", "op": "gte", "value": 25},
             {"any": [{**VISITED, "within_days": 30},
                      {"all": [{"attribute": "rfm.monetary", "op": "gte", "value": 20},
                               {**MALE, "exclude": True}]}]}]
    found = audiences.explain({"name": "t", "rules": rules}, "dee", as_of=D)
    assert found.member
    assert [(r.named, r.holds) for r in found.rules] == [
        ("rule 1", True), ("rule 2.1", False), ("rule 2.2.1", True), ("rule 2.2.2", False)]
    assert [(g.label, g.kind, g.holds) for g in found.groups] == [
        ("group 2", "any", True), ("group 2.2", "all", True)]
    lines = found.lines()
    assert "  group 2.2 (all): total spend at least 20, but not gender is male: holds" in lines
    assert found.to_json()["groups"][0]["outcome"] == "holds"
    bob = audiences.explain({"name": "t", "rules": [{"any": [MALE], "exclude": True}]}, "bob",
                            as_of=D)
    assert not bob.member and bob.groups[0].outcome == "excludes the customer"
    # An exclude rule inside a group keeps the group from holding, not the customer out.
    ann = audiences.explain({"name": "t", "rules": rules}, "bob", as_of=D)
    assert [r.outcome for r in ann.rules if r.named == "rule 2.2.2"] == ["holds, so group 2.2 does not"]
