"""Audience definitions (SPEC 5): the JSON shared by the CLI, the Python API and the widgets.

``AudienceDefinition`` checks the shape (pydantic); ``check_definition`` checks the meaning
against the attribute catalog and returns the normalised rules plus warnings. Every error names
the rule by its position (1-based, as a person counts), its attribute and what is allowed.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..errors import InvalidInput
from .catalog import Catalog
from .operators import OPERATORS, allowed_operators

WINDOWED = {"tag", "rfm.frequency", "rfm.monetary"}


class InvalidDefinition(InvalidInput):
    """The definition cannot be saved or evaluated; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("invalid audience definition: " + "; ".join(problems))
        self.problems = problems


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str
    op: str
    value: Any = None
    exclude: bool = False
    within_days: int | None = None
    min_count: int | None = None


class AudienceDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    rules: list[Rule] = []

    @field_validator("name")
    @classmethod
    def _name_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the name must not be blank")
        return value.strip()

    @classmethod
    def parse(cls, data: dict | str | AudienceDefinition) -> AudienceDefinition:
        """From a dict or JSON text; shape errors become ``InvalidDefinition``."""
        if isinstance(data, AudienceDefinition):
            return data
        try:
            if isinstance(data, str | bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise InvalidDefinition([_describe(error, data) for error in exc.errors()]) from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(exclude_defaults=False), sort_keys=False)


def _describe(error: dict, data: Any) -> str:
    loc = list(error["loc"])
    message = error["msg"]
    if loc[:1] == ["rules"] and len(loc) >= 2 and isinstance(loc[1], int):
        position = loc[1]
        attribute = ""
        try:
            attribute = f" ({data['rules'][position]['attribute']})"
        except (KeyError, IndexError, TypeError):
            pass
        field = ".".join(str(p) for p in loc[2:]) or "rule"
        if error["type"] == "extra_forbidden":
            message = ("unknown field; a rule has attribute, op, value, exclude, "
                       "within_days, min_count")
        return f"rule {position + 1}{attribute}: {field}: {message}"
    if error["type"] == "extra_forbidden":
        message = "unknown field; a definition has name, description, rules"
    return f"{'.'.join(str(p) for p in loc) or 'definition'}: {message}"


@dataclass(frozen=True)
class CheckedRule:
    """A rule whose attribute exists and whose value has been checked and normalised."""

    position: int  # 1-based
    rule: Rule
    value: Any
    type: str = ""  # the attribute's type, from the catalog


def check_definition(definition: AudienceDefinition, catalog: Catalog, *,
                     look_at_data: bool = True) -> tuple[list[CheckedRule], list[str]]:
    """Check every rule; return the checked rules and warnings, or raise with every problem.
    ``look_at_data=False`` skips the warnings about values not seen in the data (they query
    it), for callers that only need the rules, such as the summary of a listed audience."""
    problems, warnings, checked = [], [], []
    for position, rule in enumerate(definition.rules, start=1):
        try:
            value, warning = _check_rule(rule, catalog, look_at_data)
        except ValueError as exc:
            problems.append(f"rule {position} ({rule.attribute}): {exc}")
            continue
        checked.append(CheckedRule(position, rule, value, catalog.get(rule.attribute).type))
        if warning:
            warnings.append(f"rule {position} ({rule.attribute}): {warning}")
    if problems:
        raise InvalidDefinition(problems)
    return checked, warnings


def _check_rule(rule: Rule, catalog: Catalog, look_at_data: bool) -> tuple[Any, str | None]:
    attribute = catalog.get(rule.attribute)
    if attribute is None:
        close = difflib.get_close_matches(rule.attribute, catalog.names(), n=3, cutoff=0.7)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ValueError(f"unknown attribute; {hint}known attributes: "
                         f"{', '.join(catalog.names())}")
    operator = OPERATORS.get(rule.op)
    allowed = allowed_operators(attribute)
    if operator is None:
        raise ValueError(f"unknown operator {rule.op!r}; for {attribute.type} attributes use "
                         f"{', '.join(allowed)}")
    if attribute.type not in operator.types:
        raise ValueError(f"operator {rule.op!r} does not apply to {attribute.type} attributes; "
                         f"allowed: {', '.join(allowed)}")
    try:
        value = operator.check(attribute, rule.value)
    except ValueError as exc:
        got = json.dumps(rule.value, default=str)
        raise ValueError(f"{rule.op} needs {exc}" + ("" if got in str(exc) else f"; got {got}")
                         ) from None
    _check_window(rule)
    return value, _unseen_values(rule, attribute, value, catalog) if look_at_data else None


def _check_window(rule: Rule) -> None:
    if rule.within_days is not None:
        if rule.attribute not in WINDOWED:
            raise ValueError("within_days applies only to tag, rfm.frequency and rfm.monetary")
        if rule.within_days < 1:
            raise ValueError(f"within_days must be at least 1 day, not {rule.within_days}")
    if rule.min_count is not None:
        if rule.attribute != "tag":
            raise ValueError("min_count applies only to tag rules")
        if rule.min_count < 1:
            raise ValueError(f"min_count must be at least 1, not {rule.min_count}")


def _unseen_values(rule: Rule, attribute, value, catalog: Catalog) -> str | None:
    """A value never seen in the data is allowed (a campaign tag may not have been dropped
    yet), but said, with the closest known values."""
    if attribute.type not in ("text", "event") or rule.op not in ("in", "eq", "has"):
        return None
    choices = catalog.choices(attribute.name)
    if not choices.complete:
        return None  # too many distinct values to know them all
    known = {str(v) for v in choices.values}
    unseen = [v for v in (value if isinstance(value, list) else [value]) if v not in known]
    if not unseen:
        return None
    notes = []
    for v in unseen:
        close = difflib.get_close_matches(v, sorted(known), n=3, cutoff=0.6)
        notes.append(f"{v!r} (closest known: {', '.join(close)})" if close else repr(v))
    return "not seen in the data yet: " + "; ".join(notes)
