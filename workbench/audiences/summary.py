"""The plain-English targeting summary: one line per rule, from the operator table's English."""

from __future__ import annotations

from collections.abc import Callable

from .catalog import Catalog
from .definition import CheckedRule
from .operators import OPERATORS


def describe(checked: CheckedRule, catalog: Catalog,
             audience_name: Callable[[int], str] = lambda i: f"#{i}") -> str:
    rule, value = checked.rule, checked.value
    attribute = catalog.get(rule.attribute)
    if rule.attribute == "tag":
        text = "Has " + OPERATORS["has"].english(value)
        if (rule.min_count or 1) > 1:
            text += f" at least {rule.min_count} times"
    elif rule.attribute == "audience":
        text = "Member of audience " + " or ".join(
            f"{audience_name(i)} (#{i})" for i in value)
    else:
        text = f"{attribute.label} {OPERATORS[rule.op].english(value)}"
    if rule.within_days is not None:
        text += f" in the last {rule.within_days} days"
    if rule.exclude:
        text = "Excluding " + text[0].lower() + text[1:]
    return text


def summarize(rules: list[CheckedRule], catalog: Catalog,
              audience_name: Callable[[int], str] = lambda i: f"#{i}") -> list[str]:
    return [describe(rule, catalog, audience_name) for rule in rules]
