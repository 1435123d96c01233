"""Audience definitions (SPEC 5): the JSON shared by the CLI, the Python API and the widgets.

``AudienceDefinition`` checks the shape (pydantic); ``check_definition`` checks the meaning
against the attribute catalog and returns the normalised rules plus warnings. Every error names
the rule by its position (1-based, as a person counts), its attribute and what is allowed.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    StrictBool,
    StrictInt,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from ..errors import InvalidDefinition, Problem
from .catalog import Catalog
from .operators import CONTROL, MAX_DAYS, OPERATORS, allowed_operators

WINDOWED = {"tag", "rfm.frequency", "rfm.monetary"}

# Limits on a definition (docs/audiences.md; the limits on values are in operators.py). A
# definition is typed or built by a person: these are far above any real one, and keep a
# hostile or broken one from exhausting memory, the stack or the SQL engine.
MAX_RULES = 100  # in the whole definition, groups included
MAX_GROUPS = 20
MAX_GROUP_DEPTH = 3  # a group in a group in a group
MAX_MIN_COUNT = 1_000_000
MAX_NAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 10_000
MAX_JSON_BYTES = 1_000_000
MAX_JSON_DEPTH = 20  # a real definition nests 4 deep: {"rules": [{"value": [...]}]}

# A description may have several lines; nothing else may hold a control character.
DESCRIPTION_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _refuse_invisible(name: str) -> None:
    """Names are read on dashboards and in file names: no invisible characters that change what
    a person reads (U+202E reverses the text after it; zero-width ones hide differences)."""
    import unicodedata

    for c in name:
        if unicodedata.category(c) == "Cf" and c != "\u200d":  # the joiner of emoji (👩‍💻)
            raise ValueError(f"no invisible or direction-changing characters (found "
                             f"U+{ord(c):04X})")


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attribute: str
    op: str
    value: Any = None
    exclude: bool = False
    within_days: int | None = None
    days_ago: list[StrictInt | None] | None = None  # [from, to]: whole days before D, inclusive
    min_count: int | None = None

    @model_serializer(mode="wrap")
    def _without_days_ago(self, handler) -> dict:
        # ``days_ago`` is written only when set: a definition saved before wave 3 reads back
        # and prints exactly as it was written.
        data = handler(self)
        if isinstance(data, dict) and data.get("days_ago") is None:
            data.pop("days_ago", None)
        return data


class Group(BaseModel):
    """``{"any": [...]}`` or ``{"all": [...]}`` (SPEC 5): rules and groups combined by OR or
    AND, with their own excludes; ``"exclude": true`` on the group excludes whoever it holds
    for. Written back in the same shape it is read."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["any", "all"]
    rules: list[Element]
    exclude: StrictBool = False  # "yes" or 1 is not read as true

    @model_validator(mode="before")
    @classmethod
    def _from_json(cls, data: Any) -> Any:
        # Only the written form: {"kind": ..., "rules": ...} is how the model holds a group,
        # not a shape to accept (it would slip past the limits, counted on "any"/"all").
        if isinstance(data, dict):
            internal = [k for k in ("kind", "rules") if k in data]
            if internal:
                raise ValueError(f'unknown field "{internal[0]}"; a group has "any" or "all", '
                                 'and exclude')
            kinds = [k for k in ("any", "all") if k in data]
            if len(kinds) != 1:
                raise ValueError('a group has either "any" or "all", not both')
            data = dict(data)
            data["kind"], data["rules"] = kinds[0], data.pop(kinds[0])
        return data

    @model_serializer(mode="wrap")
    def _to_json(self, handler) -> dict:
        data = handler(self)
        if isinstance(data, dict) and "rules" in data:
            return {data["kind"]: data["rules"], "exclude": data["exclude"]}
        return data


def _element_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "group" if "any" in value or "all" in value else "rule"
    return "group" if isinstance(value, Group) else "rule"


Element = Annotated[Annotated[Rule, Tag("rule")] | Annotated[Group, Tag("group")],
                    Discriminator(_element_kind)]
Group.model_rebuild()


class AudienceDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # not blank: checked below, in words
    description: str = ""
    rules: list[Element] = []
    holdout_percent: int = 0  # SPEC 6: kept out of exports; frozen with the rest at activation

    @field_validator("name")
    @classmethod
    def _name_has_text(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the name must not be blank")
        if not _stored(info):
            if len(value) > MAX_NAME_LENGTH:
                raise ValueError(f"at most {MAX_NAME_LENGTH} characters, not {len(value):,}")
            _refuse_control(value, CONTROL, "no control characters allowed")
            _refuse_invisible(value)
        return value

    @field_validator("description")
    @classmethod
    def _description_is_text(cls, value: str, info: ValidationInfo) -> str:
        if not _stored(info):
            if len(value) > MAX_DESCRIPTION_LENGTH:
                raise ValueError(f"at most {MAX_DESCRIPTION_LENGTH:,} characters, "
                                 f"not {len(value):,}")
            _refuse_control(value, DESCRIPTION_CONTROL,
                            "no control characters allowed but newline and tab")
        return value

    @field_validator("holdout_percent", mode="before")
    @classmethod
    def _whole_percent(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 50:
            raise ValueError(f"a whole number from 0 to 50, not {_got(value)}")
        return value

    @field_validator("rules", mode="before")
    @classmethod
    def _not_too_many(cls, value: Any, info: ValidationInfo) -> Any:
        # Before validation, so a million rules are refused without building them.
        if isinstance(value, list) and not _stored(info):
            _within_limits(value)
        return value

    def leaves(self) -> list[Rule]:
        """Every rule, groups opened, in the order they are written."""
        return [rule for rule, _, _ in walk(self.rules)]

    @classmethod
    def parse(cls, data: dict | str | bytes | AudienceDefinition, *,
              stored: bool = False) -> AudienceDefinition:
        """From a dict or JSON text; shape errors become ``InvalidDefinition``.

        ``stored=True`` is for a definition read back from the store: it passed the checks of
        the day it was saved, and limits added since are not applied to it, so that an old
        audience stays readable (``check_definition`` still applies them before it is
        evaluated)."""
        if isinstance(data, AudienceDefinition):
            # Checked again: model_copy(update=...) and model_construct skip validation, and
            # "Copy of " + a 200-character name would otherwise be saved and then unreadable.
            data = data.model_dump()
        try:
            if not stored and isinstance(data, str | bytes):
                data = load_json(data)
            elif not stored and _nesting(data) > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            elif isinstance(data, str | bytes):
                data = json.loads(data)
        except ValueError as exc:
            raise InvalidDefinition.listing([Problem("definition", str(exc))]) from None
        try:
            return cls.model_validate(data, context={"stored": stored})
        except ValidationError as exc:
            raise InvalidDefinition.listing(_describe(error, data) for error in exc.errors()) \
                from None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(exclude_defaults=False), sort_keys=False)


@dataclass(frozen=True)
class GroupRef:
    """A group as the rules inside it see it: where it is written (``path``: 1-based
    positions, ``(3, 1)`` is the first element of the third), how it combines, and whether it
    excludes."""

    path: tuple[int, ...]
    kind: str  # any / all
    exclude: bool = False

    @property
    def label(self) -> str:
        return "group " + ".".join(map(str, self.path))


def walk(elements: list, path: tuple[int, ...] = (), groups: tuple[GroupRef, ...] = ()):
    """(rule, its path, the groups around it, outermost first) for every rule under
    ``elements``, in written order."""
    for index, element in enumerate(elements, start=1):
        here = (*path, index)
        if isinstance(element, Group):
            yield from walk(element.rules, here, (*groups, GroupRef(here, element.kind,
                                                                    element.exclude)))
        else:
            yield element, here, groups


def empty_groups(elements: list, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Paths of the groups with no rule inside (at any depth)."""
    found = []
    for index, element in enumerate(elements, start=1):
        if isinstance(element, Group):
            here = (*path, index)
            if any(True for _ in walk(element.rules)):
                found.extend(empty_groups(element.rules, here))
            else:
                found.append(here)
    return found


def _within_limits(rules: list) -> None:
    """Counted on the JSON, before any model is built: rules, groups and how deep they nest."""
    counted = {"rules": 0, "groups": 0}
    deepest, stack = 0, [(rules, 0)]
    while stack:
        elements, depth = stack.pop()
        deepest = max(deepest, depth)
        for element in elements if isinstance(elements, list) else ():
            inner = [element.rules] if isinstance(element, Group) else [
                element[k] for k in ("any", "all") if isinstance(element, dict) and k in element]
            if inner:
                counted["groups"] += 1
                stack.extend((e, depth + 1) for e in inner)
            else:
                counted["rules"] += 1
    if counted["rules"] > MAX_RULES:
        raise ValueError(f"at most {MAX_RULES} rules, not {counted['rules']:,}")
    if counted["groups"] > MAX_GROUPS:
        raise ValueError(f"at most {MAX_GROUPS} groups, not {counted['groups']:,}")
    if deepest > MAX_GROUP_DEPTH:
        raise ValueError(f"groups nest at most {MAX_GROUP_DEPTH} deep (a group in a group in a "
                         f"group), not {deepest}")


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _refuse_control(value: str, pattern: re.Pattern, rule: str) -> None:
    found = pattern.search(value)
    if found:
        raise ValueError(f"{rule}; found {found.group()!r} at character {found.start() + 1}")


# -- JSON text -------------------------------------------------------------------------------------

# A string in JSON text (escapes included), so that brackets inside strings are not counted.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")


def load_json(text: str | bytes) -> Any:
    """JSON text within the size and nesting limits, parsed; ``ValueError`` saying what is wrong
    otherwise. The nesting is measured before parsing: ``json.loads`` recurses, and text
    nested a hundred thousand deep would end in a ``RecursionError``."""
    if isinstance(text, bytes):
        size = len(text)
    else:
        size = len(text) if len(text) > MAX_JSON_BYTES else len(text.encode("utf-8", "replace"))
    if size > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES:,} bytes (1 MB)")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text (byte {exc.start + 1} cannot be read)") from None
    depth = 0
    for bracket in _BRACKET.finditer(_JSON_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                         ) from None
    except (ValueError, RecursionError):  # an integer of more than 4,300 digits
        raise ValueError("not valid JSON: a number has too many digits") from None


def _nesting(data: Any) -> int:
    """How deep lists and dicts nest in ``data`` (a value: 0), counted without recursing and
    no further than just past the limit (a list may even hold itself)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict)
                                                   else item))
    return deepest


def _describe(error: dict, data: Any) -> Problem:
    message = PLAIN.get(error["type"], error["msg"].removeprefix("Value error, "))
    path, rest, element = _rule_path(error["loc"], data)
    if path:
        if rest[:1] == ["days_ago"]:  # an element of it: said of the whole window
            rest = ["days_ago"]
            message = f"whole days from 0 to {MAX_DAYS:,}, to may be null; got {_got(error.get('input'))}"
        attribute = ""
        if isinstance(element, dict) and "attribute" in element:
            attribute = f" ({shown(element['attribute'])})"
        is_group = isinstance(element, dict) and ("any" in element or "all" in element)
        if is_group and rest[:1] == ["rules"]:
            rest[0] = "any" if "any" in element else "all"
        if error["type"] == "list_type":
            message = "a list of rules and groups" if is_group else "a list"
        field = ".".join(shown(p) for p in rest)
        if error["type"] == "extra_forbidden":
            message = ('unknown field; a group has "any" or "all", and exclude' if is_group else
                       "unknown field; a rule has attribute, op, value, exclude, within_days, "
                       "days_ago, min_count")
        label = ("group " if is_group else "rule ") + ".".join(map(str, path))
        message = f"{field}: {message}" if field else message
        # ``rule`` counts rules with groups opened: the same as the path's one number only
        # where no group is written (pages place a message beside its rule by it).
        flat = isinstance(data, dict) and isinstance(data.get("rules"), list) and not any(
            isinstance(e, dict) and ("any" in e or "all" in e) for e in data["rules"])
        return Problem(f"{label}{attribute}", message, rule=path[0] if flat and len(path) == 1 else None)
    if error["type"] == "extra_forbidden":
        message = "unknown field; a definition has name, description, rules, holdout_percent"
    return Problem(".".join(shown(p) for p in error["loc"]) or "definition", message)


# pydantic's words for a wrong type, in the product's (the field is named before them).
PLAIN = {
    "bool_type": "true or false", "bool_parsing": "true or false",
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "finite_number": "a finite number",
    "missing": "is required", "string_type": "text",
    "model_type": 'a rule (attribute, op, value) or a group ({"any": [...]} or {"all": [...]})',
    "dict_type": 'a rule (attribute, op, value) or a group ({"any": [...]} or {"all": [...]})',
    "model_attributes_type": 'a rule (attribute, op, value) or a group ({"any": [...]} or '
                             '{"all": [...]})',
}


def _rule_path(loc: tuple, data: Any) -> tuple[list[int], list, Any]:
    """The 1-based path of the rule or group a pydantic error is about, the rest of its
    location (the field) and the element as written; ([], loc, None) for other errors."""
    path, element, rest = [], data, list(loc)
    while len(rest) >= 2 and rest[0] in ("rules", "any", "all") and isinstance(rest[1], int):
        try:
            inner = None
            if isinstance(element, dict):  # a group's "rules" are written as "any" or "all"
                inner = element[rest[0]] if rest[0] in element else \
                    element.get("any", element.get("all"))
            element = inner[rest[1]]
        except (KeyError, IndexError, TypeError):
            element = None
        path.append(rest[1] + 1)
        rest = [p for p in rest[2:] if p not in ("rule", "group")]  # the union's tags
    return path, rest, element


def shown(text: Any, width: int = 60) -> str:
    """Text from the definition as it may appear in a one-line message: control characters
    escaped (an attribute name could hold ESC or a newline), and cut to ``width``."""
    text = str(text)
    if len(text) > width:
        text = text[:width - 1] + "…"
    return CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def references(rules: Iterable[Rule | Group]) -> set[int]:
    """The audience ids that audience rules name (in groups too): the one reading of who an
    audience reads."""
    return {int(ref) for rule, _, _ in walk(list(rules)) if rule.attribute == "audience"
            for ref in rule.value or []}


@dataclass(frozen=True)
class CheckedRule:
    """A rule whose attribute exists and whose value has been checked and normalised."""

    position: int  # 1-based, counting every rule in written order, groups opened
    rule: Rule
    value: Any
    type: str = ""  # the attribute's type, from the catalog
    path: tuple[int, ...] = ()  # where it is written: (3, 1) is the first rule of group 3
    groups: tuple[GroupRef, ...] = ()  # the groups around it, outermost first

    @property
    def label(self) -> str:
        """How messages name it: "rule 4", or "rule 3.1" inside a group."""
        return "rule " + ".".join(map(str, self.path or (self.position,)))

    @property
    def window(self) -> tuple[int, int | None] | None:
        """The days before D its events are counted over, both ends included (``days_ago``):
        ``within_days: N`` is (0, N - 1); None: all time."""
        if self.rule.within_days is not None:
            return (0, self.rule.within_days - 1)
        if self.rule.days_ago is not None:
            return (self.rule.days_ago[0], self.rule.days_ago[1])
        return None


def check_definition(definition: AudienceDefinition, catalog: Catalog, *,
                     look_at_data: bool = True) -> tuple[list[CheckedRule], list[Problem]]:
    """Check every rule; return the checked rules (groups opened, each knowing the groups
    around it) and warnings, or raise with every problem. ``look_at_data=False`` skips the
    warnings about values not seen in the data (they query it), for callers that only need
    the rules, such as the summary of a listed audience."""
    problems, warnings, checked = [], [], []
    for path in empty_groups(definition.rules):
        problems.append(Problem("group " + ".".join(map(str, path)),
                                "a group needs at least one rule"))
    for position, (rule, path, groups) in enumerate(walk(definition.rules), start=1):
        label = "rule " + ".".join(map(str, path))
        try:
            value, warning = _check_rule(rule, catalog, look_at_data)
        except ValueError as exc:
            problems.append(Problem(f"{label} ({shown(rule.attribute)})", str(exc),
                                    rule=position))
            continue
        checked.append(CheckedRule(position, rule, value, catalog.get(rule.attribute).type,
                                   path, groups))
        if warning:
            warnings.append(Problem(f"{label} ({shown(rule.attribute)})", warning,
                                    rule=position))
    if problems:
        raise InvalidDefinition.listing(problems)
    warnings += [Problem(_group_label(path), 'matches no one: an "any" group needs at least one '
                         'rule that includes (for "everyone but …" use "all")')
                 for path in _any_without_includes(definition.rules)]
    return checked, warnings


def _group_label(path: tuple[int, ...]) -> str:
    return "group " + ".".join(map(str, path))


def _any_without_includes(elements: list, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    """Paths of the "any" groups with only exclude elements: they never hold (SPEC 5)."""
    found = []
    for index, element in enumerate(elements, start=1):
        if isinstance(element, Group):
            here = (*path, index)
            if element.kind == "any" and element.rules and all(
                    e.exclude for e in element.rules):
                found.append(here)
            found += _any_without_includes(element.rules, here)
    return found


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
        raise ValueError(f"unknown operator '{shown(rule.op)}'; for {attribute.type} attributes "
                         f"use {', '.join(allowed)}")
    if attribute.type not in operator.types:
        raise ValueError(f"operator '{rule.op}' does not apply to {attribute.type} attributes; "
                         f"allowed: {', '.join(allowed)}")
    try:
        value = operator.check(attribute, rule.value)
    except ValueError as exc:
        got = _got(rule.value)
        raise ValueError(f"{rule.op} needs {exc}" + ("" if got in str(exc) else f"; got {got}")
                         ) from None
    _check_window(rule)
    return value, _unseen_values(rule, attribute, value, catalog) if look_at_data else None


def _check_window(rule: Rule) -> None:
    if rule.within_days is not None and rule.days_ago is not None:
        raise ValueError("a rule has within_days or days_ago, not both")
    if rule.days_ago is not None:
        _check_days_ago(rule)
    if rule.within_days is not None:
        if rule.attribute not in WINDOWED:
            raise ValueError("within_days applies only to tag, rfm.frequency and rfm.monetary")
        if rule.within_days < 1:
            raise ValueError(f"within_days must be at least 1 day, not {rule.within_days}")
        if rule.within_days > MAX_DAYS:
            raise ValueError(f"within_days must be at most {MAX_DAYS:,} days (100 years), "
                             f"not {_got(rule.within_days)}")
    if rule.min_count is not None:
        if rule.attribute != "tag":
            raise ValueError("min_count applies only to tag rules")
        if rule.min_count < 1:
            raise ValueError(f"min_count must be at least 1, not {_got(rule.min_count)}")
        if rule.min_count > MAX_MIN_COUNT:
            raise ValueError(f"min_count must be at most {MAX_MIN_COUNT:,}, "
                             f"not {_got(rule.min_count)}")


def _check_days_ago(rule: Rule) -> None:
    if rule.attribute not in WINDOWED:
        raise ValueError("days_ago applies only to tag, rfm.frequency and rfm.monetary")
    got = _got(rule.days_ago)
    if len(rule.days_ago) != 2 or rule.days_ago[0] is None:
        raise ValueError(f"days_ago needs [from, to]: whole days before the day evaluated, "
                         f"to may be null for any time before; got {got}")
    start, end = rule.days_ago
    if not 0 <= start <= MAX_DAYS or (end is not None and not 0 <= end <= MAX_DAYS):
        raise ValueError(f"days_ago needs days from 0 to {MAX_DAYS:,} (100 years); got {got}")
    if end is not None and end < start:
        raise ValueError(f"days_ago needs from <= to ([90, 365] is 90 to 365 days ago); "
                         f"got {got}")


def _got(value: Any) -> str:
    """A refused value for the message: as JSON (NaN shows as NaN), short."""
    try:
        text = json.dumps(value, default=str)
    except ValueError:  # an int of more than 4,300 digits
        return "a number too long to show"
    return text if len(text) <= 80 else text[:79] + "…"


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
        notes.append(f"{v!r} (closest known: {', '.join(map(shown, close))})" if close
                     else repr(v))
    return "not seen in the data yet: " + "; ".join(notes)
