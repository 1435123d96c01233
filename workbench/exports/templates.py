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
MAX_TEMPLATE = 10_000  # characters: a column template, not a document
TAG = re.compile(r"{{~?\s*([#/^]?)\s*([^\s}~]*)")


class TemplateProblem(ValueError):
    pass


def record_fields(profile: Iterable[str], appended: Iterable[str]) -> set[str]:
    """Every field a template may use, as dotted names (``appended.loyalty_tier``)."""
    return ({"customer_id", *profile, "tags"} | {f"appended.{c}" for c in appended}
            | {"rfm.recency_days", "rfm.frequency", "rfm.monetary", "rfm.r_score", "rfm.f_score",
               "rfm.m_score"})


def compile_template(source: str):
    """pybars3's compiled template, rendering text as it is: these templates make CSV values,
    not HTML, and Handlebars' HTML escaping would turn O'Brien into O&#x27;Brien."""
    import pybars
    import pybars._compiler

    pybars._compiler.escape = _as_is  # the module looks it up at every render
    return pybars.Compiler().compile(source)


def _as_is(text, *_args, **_kwargs):
    return text


def check_template(source: str, fields: set[str]):
    """The compiled template, or ``TemplateProblem`` saying what is wrong with it."""
    if len(source) > MAX_TEMPLATE:
        raise TemplateProblem(f"is {len(source):,} characters long; at most {MAX_TEMPLATE:,}")
    _check_comments(source)
    _check_balance(source)
    _check_names(source, fields)
    try:
        compiled = compile_template(source)
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


def plain_field(source: str, fields: set[str]) -> str | None:
    """The field of a template that is only ``{{field}}`` of a known field (rendered as a
    column of the query, not row by row)."""
    found = re.fullmatch(r"\s*{{\s*([A-Za-z_][\w.]*)\s*}}\s*", source)
    return found.group(1) if found and found.group(1) in fields else None


def _check_comments(source: str) -> None:
    # pybars3 ends a comment at the first }}: "{{!-- {{x}} --}}" would print " --}}" in every row
    for comment in re.findall(r"{{!--(.*?)--}}|{{!(.*?)}}", source, flags=re.S):
        if "{{" in "".join(comment) or "}}" in "".join(comment):
            raise TemplateProblem("has a comment holding {{ or }}; pybars3 would end it early")


def _check_names(source: str, fields: set[str]) -> None:
    """Every name in every mustache, branches not taken included, is a field, a group of
    fields inside a block helper, or a Handlebars word (``this``, ``@index``, ``else``)."""
    text = re.sub(r"{{!--.*?--}}|{{![^}]*}}", "", source, flags=re.S)
    groups = {f.split(".")[0] for f in fields if "." in f}
    within: list[str | None] = []  # {{#with rfm}} makes rfm's fields plain names inside it
    for kind, body in re.findall(r"{{{?~?\s*([#/^&]?)\s*([^}]*?)\s*~?}}}?", text):
        if kind == "/":
            if within and body.strip() in ("with", "each", "if", "unless"):
                within.pop()
            continue
        if not body:
            continue
        if kind in ("#", "^"):
            parts = body.split()
            within.append(parts[1] if kind == "#" and parts[0] == "with" and len(parts) > 1
                          else None)
        words = [w for w in re.split(r"\s+", body) if w and "=" not in w
                 and not w.startswith(("'", '"')) and not re.fullmatch(r"-?\d+(\.\d+)?", w)]
        helper = kind == "#" or (len(words) > 1)
        for position, word in enumerate(words):
            name = re.sub(r"^(\.\./)+", "", word)
            if (helper and position == 0) or name in BUILT_IN_HELPERS or name.startswith("@") \
                    or name.startswith(("this.", "this/")) or name == ".":
                continue
            if name in groups and not (kind == "#" or position > 0):
                raise TemplateProblem(f"{{{{{name}}}}} is a group of fields; name one, e.g. "
                                      f"{next(f for f in sorted(fields) if f.startswith(name))}")
            if any(f"{group}.{name}" in fields for group in within if group):
                continue
            if name not in fields and name not in groups:
                raise TemplateProblem(f"unknown field {name!r}; known: "
                                      f"{', '.join(sorted(fields))}")


def _check_balance(source: str) -> None:
    if source.count("{{") != source.count("}}"):
        raise TemplateProblem("has unbalanced braces: every {{ needs its }}")
    blocks: list[str] = []
    for kind, name in TAG.findall(source):
        if kind in ("#", "^"):
            if name == "each" and "each" in blocks:
                # Each level multiplies a row's text by the list's length: nested loops
                # can make one cell of gigabytes from a short template.
                raise TemplateProblem("nests {{#each}} inside {{#each}}; one level of "
                                      "{{#each}} per template")
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
