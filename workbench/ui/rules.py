"""One rule of the builder: the attribute's name, only the refinements that fit its type, the
include/exclude toggle, a remove button, and its problems and warnings underneath.

Editors turn widget values into the rule's JSON (SPEC 5) and back; they check nothing: the
audience service does, and its messages come back to the rule they name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import ipywidgets as w

from ..audiences.catalog import Attribute, Choices
from ..days import parse_day
from .style import escape

KNOWN_VALUES = 5_000  # a checklist holds at most this many known values (most frequent first)


THOUSANDS = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")


def typed_number(text: str):
    """A typed number ("1,000" too), or the text itself for the service to judge: "1,5" is
    not read as 15."""
    text = text.strip()
    if THOUSANDS.match(text):
        text = text.replace(",", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _bound(value) -> str:
    return "" if value is None else str(value)


class ValuePicker:
    """A checklist with search: type to narrow the known values, tick several. Values not
    among the known ones (typed in a definition, or gone from the data) stay ticked."""

    def __init__(self, values: tuple, selected: list, *, placeholder: str = "Search values…"):
        from .widgets import Checklist

        chosen = [str(v) for v in selected]
        known = [str(v) for v in values][:KNOWN_VALUES]
        self.checklist = Checklist(values=known + [v for v in chosen if v not in known],
                                   selected=chosen, placeholder=placeholder)
        self.widget = self.checklist

    @property
    def selected(self) -> list[str]:
        return list(self.checklist.selected)

    @selected.setter
    def selected(self, values: list[str]) -> None:
        values = [str(v) for v in values]
        missing = [v for v in values if v not in self.checklist.values]
        if missing:
            self.checklist.values = self.checklist.values + missing
        self.checklist.selected = values

    def observe(self, callback: Callable) -> None:
        self.checklist.observe(lambda _c: callback(), "selected")


class Editor:
    """The refinements of one attribute type: ``widget``, ``fields()`` -> op/value/…"""

    widget: w.Widget

    def fields(self) -> dict:
        raise NotImplementedError

    def observe(self, callback: Callable) -> None:
        for widget in self._inputs():
            widget.observe(lambda _c: callback(), "value")

    def _inputs(self) -> list[w.Widget]:
        return []


class TextEditor(Editor):
    def __init__(self, choices: Choices, rule: dict):
        op = rule.get("op", "in")
        self.op = w.ToggleButtons(options=[("is any of", "in"), ("contains", "contains")],
                                  value=op if op in ("in", "contains") else "in",
                                  style={"button_width": "84px"})
        value = rule.get("value")
        self.picker = ValuePicker(choices.values, value if isinstance(value, list) else [])
        self.text = w.Text(value=value if isinstance(value, str) else "",
                           placeholder="text to look for", layout=w.Layout(width="220px"))
        self.body = w.Box()
        self.op.observe(lambda _c: self._show(), "value")
        self._show()
        self.widget = w.VBox([self.op, self.body])

    def _show(self) -> None:
        self.body.children = [self.picker.widget if self.op.value == "in" else self.text]

    def fields(self) -> dict:
        if self.op.value == "in":
            return {"op": "in", "value": self.picker.selected}
        return {"op": "contains", "value": self.text.value}

    def observe(self, callback: Callable) -> None:
        self.picker.observe(callback)
        for widget in (self.op, self.text):
            widget.observe(lambda _c: callback(), "value")


class WindowEditor(Editor):
    """Which days a tag or RFM rule counts events over: any time, the last N days
    (``within_days``), or between A and B days ago (``days_ago``; B empty: A or more days
    ago)."""

    def __init__(self, rule: dict):
        kind = "within" if rule.get("within_days") is not None else \
            "ago" if rule.get("days_ago") else "all"
        self.kind = w.Dropdown(options=[("at any time", "all"), ("in the last", "within"),
                                        ("between … days ago", "ago")], value=kind,
                               layout=w.Layout(width="170px"))
        start, end = (list(rule.get("days_ago") or []) + [None, None])[:2]
        self.first = w.Text(value=_bound(rule.get("within_days") if kind == "within"
                                         else start), layout=w.Layout(width="64px"))
        self.second = w.Text(value=_bound(end), placeholder="or more",
                             layout=w.Layout(width="72px"))
        self.body = w.HBox(layout=w.Layout(align_items="center", gap="6px"))
        self.kind.observe(lambda _c: self._show(), "value")
        self._show()
        self.widget = w.HBox([self.kind, self.body],
                             layout=w.Layout(align_items="center", gap="6px"))

    def _show(self) -> None:
        kind = self.kind.value
        self.first.placeholder = "days" if kind == "within" else "from"
        self.body.children = {"all": [], "within": [self.first, w.HTML("days")],
                              "ago": [w.HTML("from"), self.first, w.HTML("to"), self.second,
                                      w.HTML('<span style="white-space:nowrap">days ago'
                                             '</span>')]}[kind]

    def fields(self) -> dict:
        if self.kind.value == "within":
            return {"within_days": typed_number(self.first.value)}
        if self.kind.value == "ago":
            return {"days_ago": [typed_number(self.first.value), typed_number(self.second.value)]}
        return {}

    def _inputs(self):
        return [self.kind, self.first, self.second]


class NumberEditor(Editor):
    """between [low, high], either end open; windowed RFM adds its window on a second line."""

    def __init__(self, attribute: Attribute, choices: Choices, rule: dict):
        low, high = (rule.get("value") or [None, None]) if rule.get("op") == "between" \
            else (None, None)
        if rule.get("op") in ("gt", "gte"):
            low = rule.get("value")
        if rule.get("op") in ("lt", "lte"):
            high = rule.get("value")
        hint = (f"{choices.minimum} to {choices.maximum}" if choices.minimum is not None
                else "")
        self.low = w.Text(value=_bound(low), placeholder="min", layout=w.Layout(width="90px"))
        self.high = w.Text(value=_bound(high), placeholder="max", layout=w.Layout(width="90px"))
        parts: list[w.Widget] = [w.HTML("between"), self.low, w.HTML("and"), self.high]
        if hint:
            parts.append(w.HTML(f'<span class="wb-muted">({escape(hint)})</span>'))
        lines = [w.HBox(parts, layout=w.Layout(align_items="center", gap="6px"))]
        self.window = WindowEditor(rule) if attribute.windowed else None
        if self.window:
            lines.append(self.window.widget)
        self.widget = w.VBox(lines, layout=w.Layout(gap="4px"))

    def fields(self) -> dict:
        fields = {"op": "between", "value": [typed_number(self.low.value), typed_number(self.high.value)]}
        return {**fields, **(self.window.fields() if self.window else {})}

    def _inputs(self):
        return [self.low, self.high] + (self.window._inputs() if self.window else [])


class DateEditor(Editor):
    def __init__(self, choices: Choices, rule: dict):
        op = rule.get("op", "between")
        self.op = w.ToggleButtons(options=[("between", "between"),
                                           ("in the last", "within_last_days")],
                                  value="within_last_days" if op == "within_last_days"
                                  else "between", style={"button_width": "84px"})
        low, high = (rule.get("value") or [None, None]) if op == "between" else (None, None)
        self.start = w.DatePicker(value=_day(low), layout=w.Layout(width="150px"))
        self.end = w.DatePicker(value=_day(high), layout=w.Layout(width="150px"))
        self.days = w.Text(value=_bound(rule.get("value")) if op == "within_last_days" else "",
                           placeholder="days", layout=w.Layout(width="80px"))
        self.body = w.HBox(layout=w.Layout(align_items="center", gap="6px"))
        self.op.observe(lambda _c: self._show(), "value")
        self._show()
        self.widget = w.VBox([self.op, self.body])

    def _show(self) -> None:
        self.body.children = ([w.HTML("from"), self.start, w.HTML("to"), self.end]
                              if self.op.value == "between" else [self.days, w.HTML("days")])

    def fields(self) -> dict:
        if self.op.value == "between":
            return {"op": "between", "value": [_iso(self.start.value), _iso(self.end.value)]}
        return {"op": "within_last_days", "value": typed_number(self.days.value)}

    def _inputs(self):
        return [self.op, self.start, self.end, self.days]


class TagEditor(Editor):
    def __init__(self, choices: Choices, rule: dict):
        self.picker = ValuePicker(choices.values, rule.get("value") or [],
                                  placeholder="Search tags…")
        self.count = w.Text(value=_bound(rule.get("min_count") or 1),
                            layout=w.Layout(width="60px"))
        self.window = WindowEditor(rule)
        times = w.HBox([w.HTML("at least"), self.count, w.HTML("times")],
                       layout=w.Layout(align_items="center", gap="6px"))
        self.widget = w.VBox([self.picker.widget, w.HBox(
            [times, self.window.widget], layout=w.Layout(align_items="center", gap="6px"))])

    def fields(self) -> dict:
        return {"op": "has", "value": self.picker.selected,
                "min_count": typed_number(self.count.value) or 1, **self.window.fields()}

    def observe(self, callback: Callable) -> None:
        self.picker.observe(callback)
        for widget in [self.count, *self.window._inputs()]:
            widget.observe(lambda _c: callback(), "value")


class MembershipEditor(Editor):
    def __init__(self, audiences: list[tuple[str, int]], rule: dict):
        chosen = [int(v) for v in rule.get("value") or [] if str(v).isdigit()]
        known = {i for _n, i in audiences}
        # A chosen audience that is no longer active stays chosen (the service says why).
        options = audiences + [(f"audience #{i} (not active)", i) for i in chosen
                               if i not in known]
        self.select = w.SelectMultiple(options=options, rows=min(6, max(2, len(options))),
                                       value=tuple(chosen), layout=w.Layout(width="300px"))
        self.widget = w.VBox([w.HTML('<span class="wb-muted">member of any of</span>'),
                              self.select])

    def fields(self) -> dict:
        return {"op": "in", "value": list(self.select.value)}

    def _inputs(self):
        return [self.select]


class BooleanEditor(Editor):
    def __init__(self, rule: dict):
        self.value = w.ToggleButtons(options=[("is true", True), ("is false", False)],
                                     value=rule.get("value") is not False)
        self.widget = self.value

    def fields(self) -> dict:
        return {"op": "eq", "value": self.value.value}

    def _inputs(self):
        return [self.value]


def _day(value) -> date | None:
    try:
        return parse_day(value) if value else None
    except ValueError:
        return None


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def editor_for(attribute: Attribute, choices: Choices, rule: dict,
               audiences: list[tuple[str, int]]) -> Editor:
    if attribute.type == "event":
        return TagEditor(choices, rule)
    if attribute.type == "membership":
        return MembershipEditor(audiences, rule)
    if attribute.type == "boolean":
        return BooleanEditor(rule)
    if attribute.is_number:
        return NumberEditor(attribute, choices, rule)
    if attribute.is_date:
        return DateEditor(choices, rule)
    return TextEditor(choices, rule)


class RuleRow:
    """One rule: name, refinements, include/exclude, where it sits (outside or in a group),
    remove; problems underneath."""

    def __init__(self, attribute: Attribute, choices: Choices, rule: dict,
                 audiences: list[tuple[str, int]], *, on_change: Callable,
                 on_remove: Callable[[RuleRow], None], editable: bool = True):
        self.attribute = attribute
        self.editor = editor_for(attribute, choices, rule, audiences)
        self.mode = w.ToggleButtons(options=[("Include", False), ("Exclude", True)],
                                    value=bool(rule.get("exclude")),
                                    style={"button_width": "76px"},
                                    layout=w.Layout(flex="none", width="auto"))
        self.remove = w.Button(icon="times", tooltip=f"Remove the {attribute.label} rule",
                               layout=w.Layout(width="36px", flex="none"))
        self.remove.on_click(lambda _b: on_remove(self))
        # Where the rule sits: set by the builder, shown once there is a group to move into.
        self.place = w.Dropdown(options=[("not in a group", "")], value="",
                                layout=w.Layout(width="150px", display="none"),
                                tooltip="Move this rule into or out of a group")
        self.problems = w.HTML()
        name = w.HTML(f'<div class="wb-rule-name">{escape(attribute.label)}</div>',
                      layout=w.Layout(width="160px", flex="none"))
        editor = w.Box([self.editor.widget], layout=w.Layout(flex="1 1 auto", min_width="0"))
        side = w.VBox([w.HBox([self.mode, self.remove], layout=w.Layout(gap="6px")),
                       self.place], layout=w.Layout(flex="none", gap="4px",
                                                    align_items="flex-end"))
        top = w.HBox([name, editor, side], layout=w.Layout(align_items="flex-start", gap="12px"))
        self.widget = w.VBox([top, self.problems])
        self.widget.add_class("wb-rule")
        self.editor.observe(on_change)
        self.mode.observe(lambda _c: on_change(), "value")
        if not editable:
            self.remove.layout.display = "none"
            self.place.disabled = True

    def rule(self) -> dict:
        return {"attribute": self.attribute.name, **self.editor.fields(),
                "exclude": self.mode.value}

    def show(self, problems: list[str], warnings: list[str], waiting: str = "") -> None:
        lines = [f'<div class="wb-error">✖ {escape(p)}</div>' for p in problems]
        if waiting:
            lines.append(f'<div class="wb-muted">{escape(waiting)}; until then this rule is '
                         'left out of the estimate.</div>')
        lines += [f'<div class="wb-warning">⚠ {escape(x)}</div>' for x in warnings]
        self.problems.value = "".join(lines)
        (self.widget.add_class if problems else self.widget.remove_class)("wb-invalid")


def waiting_for(rule: dict) -> str:
    """What a rule still waits for before it means anything (just added, nothing picked or
    typed yet), in words; "" when it is complete enough to be checked."""
    op, value = rule.get("op"), rule.get("value")
    if op in ("in", "has") and value == []:
        return "Pick at least one value"
    if op == "between" and value == [None, None]:
        return "Type a bound (or both)"
    if op in ("contains", "within_last_days") and value in ("", None):
        return "Type a value"
    if rule.get("days_ago") == [None, None]:
        return "Type how many days ago"
    return ""
