"""Handlebars template columns (SPEC 7), with pybars3: checked when an export is saved.

A template is rendered over one customer record: ``customer_id``, the profile fields,
``appended.*``, ``rfm.*`` and ``tags``. Saving refuses a template that does not compile, whose
blocks or braces do not balance (pybars3 quietly renders an unclosed ``{{#if x}}`` or a lone
``{{ name`` as nothing, which would send empty columns at 3 a.m.), or that names a field or
helper that does not exist. Field use is found by rendering the template once over a probe
record that notes every name looked up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

BUILT_IN_HELPERS = {"if", "unless", "each", "with", "lookup", "log", "this", "else", "blockHelperMissing",
                    "helperMissing", "@index", "@first", "@last", "@key", "@root"}
TAG = re.compile(r"{{~?\s*([#/^]?)\s*([^\s}~]*)")


class TemplateProblem(ValueError):
    pass


def record_fields(profile: Iterable[str], appended: Iterable[str]) -> set[str]:
    """Every field a template may use, as dotted names (``appended.loyalty_tier``)."""
    return ({"customer_id", *profile, "tags"} | {f"appended.{c}" for c in appended}
            | {"rfm.recency_days", "rfm.frequency", "rfm.monetary", "rfm.r_score", "rfm.f_score",
               "rfm.m_score"})


def check_template(source: str, fields: set[str]):
    """The compiled template, or ``TemplateProblem`` saying what is wrong with it."""
    import pybars

    _check_balance(source)
    try:
        compiled = pybars.Compiler().compile(source)
    except Exception as exc:  # pybars3 raises PybarsError with the position
        raise TemplateProblem(f"does not compile: {(str(exc).splitlines() or [''])[0]}") \
            from None
    looked_up: list[str] = []
    try:
        compiled(_probe(fields, looked_up))
    except Exception as exc:
        message = (str(exc).splitlines() or [""])[0]
        missing = re.search(r"Could not find property (\S+)", message)
        if missing:
            raise TemplateProblem(f"unknown helper or field {missing.group(1)!r}") from None
        raise TemplateProblem(f"does not render: {message}") from None
    unknown = sorted({name for name in looked_up if name not in fields
                      and not any(f.startswith(name + ".") for f in fields)
                      and name not in BUILT_IN_HELPERS})
    if unknown:
        raise TemplateProblem(f"unknown field(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(fields))}")
    return compiled


def plain_field(source: str) -> str | None:
    """The field of a template that is only ``{{field}}`` (rendered as a column, not per row)."""
    found = re.fullmatch(r"\s*{{\s*([A-Za-z_][\w.]*)\s*}}\s*", source)
    return found.group(1) if found else None


def _check_balance(source: str) -> None:
    if source.count("{{") != source.count("}}"):
        raise TemplateProblem("has unbalanced braces: every {{ needs its }}")
    blocks: list[str] = []
    for kind, name in TAG.findall(source):
        if kind in ("#", "^"):
            blocks.append(name)
        elif kind == "/":
            if not blocks or blocks[-1] != name:
                raise TemplateProblem(f"closes {{{{/{name}}}}} without a matching "
                                      f"{{{{#{name}}}}}")
            blocks.pop()
    if blocks:
        raise TemplateProblem(f"leaves {{{{#{blocks[-1]}}}}} open: close it with "
                              f"{{{{/{blocks[-1]}}}}}")


class _Probe(dict):
    """A record whose every lookup is noted (with its dotted path)."""

    def __init__(self, values: dict, noted: list[str], prefix: str = ""):
        super().__init__(values)
        self._noted = noted
        self._prefix = prefix

    def _note(self, key) -> None:
        self._noted.append(self._prefix + str(key))

    def get(self, key, default=None):
        self._note(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self._note(key)
        return super().__getitem__(key)

    def __contains__(self, key) -> bool:
        self._note(key)
        return super().__contains__(key)


def _probe(fields: set[str], noted: list[str]) -> _Probe:
    values: dict = {}
    for name in fields:
        head, _, rest = name.partition(".")
        if rest:
            values.setdefault(head, {})[rest] = "x"
        else:
            values[name] = ["x"] if name == "tags" else "x"
    nested = {k: _Probe(v, noted, f"{k}.") if isinstance(v, dict) else v
              for k, v in values.items()}
    return _Probe(nested, noted)
