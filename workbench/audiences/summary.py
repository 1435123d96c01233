"""The plain-English targeting summary: one line per rule or group written at the top level
(they all must hold), from the operator table's English. A group reads as its rules joined by
"or" or "and", a group inside it in parentheses:
"Age between 25 and 34" and "Has tag store_visit in the last 90 days or monetary greater than
100 in the last 365 days"."""

from __future__ import annotations

from collections.abc import Callable

from .catalog import Catalog
from .definition import CheckedRule
from .logic import Node, excludes, tree
from .operators import OPERATORS

Names = Callable[[int], str]


def _by_number(audience_id: int) -> str:
    return f"#{audience_id}"


def window_text(checked: CheckedRule) -> str:
    rule = checked.rule
    if rule.within_days is not None:
        return f" in the last {rule.within_days} days"
    if rule.days_ago is not None:
        start, end = rule.days_ago
        if end is None:
            return " at any time" if start == 0 else f" {start} or more days ago"
        if start == end:
            return " on the day itself" if start == 0 else f" {start} days ago"
        return f" between {start} and {end} days ago"
    return ""


def _rule_text(checked: CheckedRule, catalog: Catalog, audience_name: Names) -> str:
    rule, value = checked.rule, checked.value
    if rule.attribute == "tag":
        text = "Has " + OPERATORS["has"].english(value)
        if (rule.min_count or 1) > 1:
            text += f" at least {rule.min_count} times"
    elif rule.attribute == "audience":
        text = "Member of audience " + " or ".join(
            f"{audience_name(i)} (#{i})" for i in value)
    else:
        text = f"{catalog.get(rule.attribute).label} {OPERATORS[rule.op].english(value)}"
    return text + window_text(checked)


def describe(checked: CheckedRule, catalog: Catalog, audience_name: Names = _by_number) -> str:
    """One rule on its own line, its exclusion said."""
    text = _rule_text(checked, catalog, audience_name)
    return "Excluding " + _lower(text) if checked.rule.exclude else text


def _lower(text: str) -> str:
    return text[0].lower() + text[1:]


def group_text(node: Node, catalog: Catalog, audience_name: Names = _by_number) -> str:
    """A group in words: its include elements joined by "or" ("and" for ``all``), then "but
    not" its exclude elements; groups inside it in parentheses."""
    def element(e) -> str:
        if isinstance(e, Node):
            return f"({group_text(e, catalog, audience_name)})"
        return _lower(_rule_text(e, catalog, audience_name))

    joined = f" {'or' if node.kind == 'any' else 'and'} "
    included = [element(e) for e in node.elements if not excludes(e)]
    excluded = [element(e) for e in node.elements if excludes(e)]
    text = joined.join(included) if included else (
        "everyone" if node.kind == "all" else "no one (“any” needs a rule that includes)")
    if excluded:
        text += ", but not " + " or ".join(excluded)
    return text


def summarize(rules: list[CheckedRule], catalog: Catalog,
              audience_name: Names = _by_number) -> list[str]:
    lines = []
    for element in tree(rules).elements:
        if not isinstance(element, Node):
            lines.append(describe(element, catalog, audience_name))
            continue
        text = group_text(element, catalog, audience_name)
        if element.exclude:
            lines.append("Excluding " + (f"({text})" if len(element.elements) > 1 else text))
        else:
            lines.append(text[0].upper() + text[1:])
    return lines
