"""The audience builder (a new audience, or a draft): a name, rules picked from the attribute
catalog with their refinements, a live estimate and targeting summary as the rules change, Save
(a draft; a stale version is a clear conflict) and Activate (after a confirmation that it
freezes the audience). Every check is the audience service's; its messages appear next to the
rule or field they name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as w

from ..errors import Conflict, Problem, WorkbenchError
from .groups import Container, GroupBox
from .rules import RuleRow, typed_number, waiting_for
from .style import DASH, escape, number
from .work import Debounced, one_line

if TYPE_CHECKING:
    from .navigator import Navigator

GROUPS = [("Demographics", "Demographics"), ("Appended", "Appended data"),
          ("Behaviour", "Behaviour"), ("RFM", "Purchases (RFM)"), ("Audiences", "Audiences")]
FIRST = ["age", "gender", "home_city", "home_state"]  # the standard attributes people reach for


class AudienceDraft:
    """The builder's model: the audience being edited (new, or a stored draft), the catalog its
    rules are picked from, what this user may do with it, rules kept because the catalog no
    longer has their attribute, the last estimate, and the audience service's calls (no
    widgets)."""

    def __init__(self, wb, audience_id: int | None = None, definition: dict | None = None):
        self.audiences = wb.audiences
        self.audience_id, self.version = audience_id, None
        audience, stored = None, {"name": "", "description": "", "rules": []}
        if audience_id is not None:
            audience = wb.audiences.get(audience_id)
            self.version, stored = audience.version, audience.definition.model_dump()
        self.opened = definition or stored  # what the page starts from
        self.catalog = wb.audiences.catalog()
        allowed = wb.audiences.actions(audience)
        self.can_edit, self.can_activate = "edit" in allowed, "activate" in allowed
        self.kept: list[dict] = []  # rules on attributes no longer in the catalog: kept as is
        self.estimate = None  # the last estimate on show; None while the rules are wrong
        self.waiting: list[int] = []  # rules left out of that estimate (estimable)
        self.moved: dict[str, str] = {}

    def choices(self, attribute):
        """The values a rule on ``attribute`` offers (none to pick for yes/no attributes)."""
        from ..audiences.catalog import Choices

        return Choices() if attribute.type in ("membership", "boolean") else \
            self.catalog.choices(attribute.name)

    def referable(self) -> list[tuple[str, int]]:
        """The audiences a rule of this one may refer to, as (label, id)."""
        return [(f"{a.name} (#{a.id})", a.id) for a in self.audiences.referable(self.audience_id)]

    def estimable(self, definition: dict) -> dict:
        """``definition`` without its unfinished rules and the groups they leave empty: a rule
        still waiting for its first value is left out of the estimate rather than marked
        wrong. Notes ``waiting`` (the left-out rules by index, groups opened, 0-based) and
        ``moved`` (a kept group's label in the result -> its label in ``definition``)."""
        self.waiting, self.moved, counter = [], {}, iter(range(10**6))

        def prune(elements: list, path: tuple, kept_path: tuple) -> list:
            out = []
            for index, element in enumerate(elements, start=1):
                inner = element.get("any", element.get("all"))
                if inner is None:
                    if waiting_for(element):
                        self.waiting.append(next(counter))
                        continue
                    next(counter)
                    out.append(element)
                    continue
                here = (*kept_path, len(out) + 1)
                pruned = prune(inner, (*path, index), here)
                if pruned:
                    self.moved[_label(here)] = _label((*path, index))
                    out.append({**element, ("any" if "any" in element else "all"): pruned})
            return out

        return {**definition, "name": definition["name"] or "untitled",  # a name: to save only
                "rules": prune(definition["rules"], (), ())}

    def estimated(self, definition: dict):
        return self.audiences.estimate(definition)

    def save(self, definition: dict):
        """Create the draft, or update it at the version opened (a stale one is a Conflict)."""
        if self.audience_id is None:
            audience = self.audiences.create(definition)
        else:
            audience = self.audiences.update(self.audience_id, definition, version=self.version)
        self.audience_id, self.version = audience.id, audience.version
        return audience

    def activate(self) -> None:
        self.audiences.activate(self.audience_id, version=self.version)


class Written:
    """The rules as the builder would send them, and where each came from: ``rows[i]`` is the
    row of rule i + 1 as the service numbers rules (groups opened; None for a kept rule),
    ``groups`` the group boxes by their label, ``waiting`` the rows left out (unfinished)."""

    def __init__(self):
        self.rows: list[RuleRow | None] = []
        self.groups: dict[str, GroupBox] = {}
        self.waiting: dict[RuleRow, str] = {}


class AudienceBuilder(Container):
    def __init__(self, nav: Navigator, audience_id: int | None = None,
                 definition: dict | None = None):
        self.nav = nav
        self.draft = draft = AudienceDraft(nav.wb, audience_id, definition)
        self.elements: list[RuleRow | GroupBox] = []
        self.written = Written()
        self._arranging = False
        self.message = w.HTML()
        self.confirm = w.VBox()
        self._estimator = Debounced(draft.estimated, self._estimated, busy=self._busy,
                                    background=nav.background)
        self.widget = w.VBox([self._header(), self.message, self.confirm,
                              w.HBox([self._form(), self._panel()], layout=w.Layout(gap="20px"))],
                             layout=w.Layout(gap="6px"))
        self._allow()
        self._title()
        for rule in draft.opened.get("rules", []):
            self._add(rule, estimate=False)
        self.name.observe(self._named, "value")
        self.description.observe(lambda _c: self.refresh_estimate(), "value")
        self.holdout.observe(lambda _c: self.refresh_estimate(), "value")
        self.refresh_estimate()

    def _header(self) -> w.Widget:
        self.back = w.Button(description="← Audiences", tooltip="Back to all audiences")
        self.back.add_class("wb-link")
        self.back.on_click(lambda _b: self.nav.go("dashboard"))
        self.title = w.HTML()
        self.save = w.Button(description="Save draft", icon="save", tooltip="Save as a draft")
        self.save.add_class("wb-primary")
        self.save.on_click(lambda _b: self.save_draft())
        self.activate = w.Button(description="Activate", icon="check",
                                 tooltip="Freeze this audience and track it nightly")
        self.activate.on_click(lambda _b: self._ask_to_activate())
        return w.HBox([w.HBox([self.back, self.title], layout=w.Layout(align_items="center")),
                       w.HBox([self.activate, self.save], layout=w.Layout(gap="8px"))],
                      layout=w.Layout(justify_content="space-between", align_items="center"))

    def _form(self) -> w.Widget:
        """Name, description, the rules and the attribute picker that adds one."""
        opened = self.draft.opened
        self.name = w.Text(value=opened.get("name", ""), placeholder="Audience name",
                           description="Name", layout=w.Layout(width="520px"))
        self.name_problem = w.HTML()
        self.description = w.Text(value=opened.get("description", ""),
                                  placeholder="What is it for? (optional)",
                                  description="Description", layout=w.Layout(width="520px"))
        # A holdout (SPEC 6): kept out of exports to measure them; frozen at activation.
        self.holdout = w.Text(value=str(opened.get("holdout_percent") or 0),
                              description="Holdout", layout=w.Layout(width="150px"))
        holdout = w.HBox([self.holdout, w.HTML(
            '<span class="wb-muted">% of members kept out of exports, to measure what they '
            'do (0–50; fixed when the audience is activated)</span>')],
            layout=w.Layout(align_items="center", gap="6px"))
        self.holdout_problem = w.HTML()
        self.picker = self._new_picker()
        self.picker.observe(lambda change: change["new"] and self._picked(self, change), "value")
        self.add_group_button = w.Button(description="+ Add group", icon="",
                                         tooltip="A group holds when any (or all) of its "
                                                 "rules hold: OR logic")
        self.add_group_button.on_click(lambda _b: self.add_group())
        self.box = self.rules_box = w.VBox()
        self.general = w.HTML()
        self.how = w.HTML('<div class="wb-muted" style="margin:0 0 6px 0">A customer is in '
                          'the audience when <b>every</b> rule below holds (AND). For OR, add '
                          'a group and choose “Any of these”.</div>')
        return w.VBox([self.name, self.name_problem, self.description, holdout,
                       self.holdout_problem,
                       w.HTML('<h4 style="margin:14px 0 6px 0">Rules</h4>'), self.how,
                       self.rules_box, w.HBox([self.picker, self.add_group_button],
                                              layout=w.Layout(gap="8px")), self.general],
                      layout=w.Layout(width="800px"))

    def _panel(self) -> w.Widget:
        """The estimated size and the targeting summary, beside the rules."""
        self.size = w.HTML()
        self.share = w.HTML()
        self.summary = w.HTML()
        self.warnings = w.HTML()
        panel = w.VBox([w.HTML("<h4>Estimated Audience Size</h4>"), self.size, self.share,
                        w.HTML("<h4 style='margin-top:14px'>Targeting summary</h4>"),
                        self.summary, self.warnings], layout=w.Layout(width="360px"))
        panel.add_class("wb-panel")
        return panel

    def _allow(self) -> None:
        """Hide what this user may not do (the service would refuse it anyway)."""
        if not self.draft.can_edit:
            self.save.layout.display = self.activate.layout.display = "none"
            self.picker.disabled = True
            self.add_group_button.layout.display = "none"
            self.holdout.disabled = True
            self.message.value = ('<div class="wb-warning">You are a viewer: you can look at '
                                  'this audience, not change it.</div>')
        if not self.draft.can_activate:
            self.activate.layout.display = "none"

    # -- the rules ------------------------------------------------------------------------------

    @property
    def rules(self) -> list[RuleRow]:
        """Every rule row, groups opened, in the order they are written."""
        return [row for _parent, row in _rows_with_parents(self)]

    @property
    def groups(self) -> list[GroupBox]:
        return list(_groups(self))

    def definition(self) -> dict:
        return {"name": self.name.value.strip(), "description": self.description.value.strip(),
                "rules": self._write(self, Written()),
                "holdout_percent": typed_number(self.holdout.value) or 0}

    def add_rule(self, attribute: str, into: Container | None = None, **rule) -> RuleRow:
        """Add a rule on ``attribute`` (what picking it in Select attributes does), at the
        top level or into a group."""
        return self._add({"attribute": attribute, **rule}, into=into)

    def add_group(self, kind: str = "any", into: Container | None = None) -> GroupBox:
        """Add an empty group (what + Add group does); "any" unless told."""
        return self._add({kind: []}, into=into)

    def remove_rule(self, element: RuleRow | GroupBox) -> None:
        parent = self._parent(element)
        parent.elements.remove(element)
        self._arrange()
        self.refresh_estimate()

    def move(self, row: RuleRow, into: Container) -> None:
        """Move a rule to the end of a group, or out of every group (``into=self``)."""
        parent = self._parent(row)
        if parent is into:
            return
        parent.elements.remove(row)
        into.elements.append(row)
        self._arrange()
        self.refresh_estimate()

    def _add(self, rule: dict, estimate: bool = True, into: Container | None = None):
        draft, into = self.draft, into or self
        if "any" in rule or "all" in rule:
            group = GroupBox(rule, into.depth + 1, picker=self._new_picker,
                             on_change=self.refresh_estimate, on_remove=self.remove_rule,
                             on_pick=self._picked, on_group=lambda g: self.add_group(into=g),
                             editable=draft.can_edit)
            into.elements.append(group)
            for inner in rule.get("any", rule.get("all")) or []:
                self._add(inner, estimate=False, into=group)
            element = group
        else:
            attribute = draft.catalog.get(rule["attribute"])
            if attribute is None:  # a stored rule on an attribute that is gone: kept as is
                (draft.kept if into is self else into.kept).append(rule)
                return None
            element = RuleRow(attribute, draft.choices(attribute), rule, draft.referable(),
                              on_change=self.refresh_estimate, on_remove=self.remove_rule,
                              editable=draft.can_edit)
            element.place.observe(lambda change, row=element: self._placed(row, change),
                                  "value")
            into.elements.append(element)
        self._arrange()
        if estimate:
            self.refresh_estimate()
        return element

    def _arrange(self) -> None:
        """Number the groups, offer each rule every place it can go, redraw."""
        self._arranging = True
        try:
            groups = list(_groups(self))
            for path, group in _numbered(self):
                group.label = _label(path)
            places = [("not in a group", "")] + [(g.label.capitalize(), g.label) for g in groups]
            for parent, row in _rows_with_parents(self):
                row.place.options = places
                row.place.value = getattr(parent, "label", "")
                row.place.layout.display = None if groups else "none"
            for container in [self, *groups]:
                container.draw()
        finally:
            self._arranging = False

    def _placed(self, row: RuleRow, change) -> None:
        if self._arranging:
            return
        target = next((g for g in _groups(self) if g.label == change["new"]), self)
        self.move(row, target)

    def _parent(self, element) -> Container:
        for container in [self, *_groups(self)]:
            if element in container.elements:
                return container
        raise ValueError("not in this builder")

    def _write(self, container: Container, written: Written,
               path: tuple[int, ...] = ()) -> list[dict]:
        """The container's rules as JSON, noting in ``written`` where each came from."""
        out: list[dict] = []
        for element in container.elements:
            if isinstance(element, RuleRow):
                out.append(element.rule())
                written.rows.append(element)
                continue
            here = (*path, len(out) + 1)
            written.groups[_label(here)] = element
            out.append({element.kind.value: self._write(element, written, here),
                        "exclude": element.mode.value})
        kept = self.draft.kept if container is self else container.kept
        written.rows.extend([None] * len(kept))
        return out + kept

    def _new_picker(self) -> w.Dropdown:
        return w.Dropdown(options=self._picker_options(), value="",
                          layout=w.Layout(width="330px"))

    def _picker_options(self) -> list:
        options: list = [("+ Select attributes", "")]
        attributes = list(self.draft.catalog.attributes.values())
        for group, label in GROUPS:
            members = [a for a in attributes if a.group == group]
            members.sort(key=lambda a: (a.name not in FIRST, FIRST.index(a.name)
                                        if a.name in FIRST else 0))
            options += [(f"{label}: {_readable(a)}", a.name) for a in members]
        return options

    def _picked(self, into: Container, change) -> None:
        self.add_rule(change["new"], into=into)
        change["owner"].value = ""

    def _title(self) -> None:
        audience_id = self.draft.audience_id
        name = "New audience" if audience_id is None else f"Draft #{audience_id}"
        self.title.value = f'<span class="wb-title">{escape(name)}</span>'

    # -- the estimate ---------------------------------------------------------------------------

    def _named(self, _change) -> None:
        if self.name.value.strip() and self.name_problem.value:  # fixed: the complaint goes
            self.name_problem.value = ""
            self.name.remove_class("wb-invalid")
            self.message.value = ""
        self.refresh_estimate()

    def refresh_estimate(self) -> None:
        """Estimate the rules that are complete; a rule still waiting for its first value (and
        a group with no rule yet) is left out, and says so, rather than marked wrong."""
        draft, every = self.draft, self._as_saved()
        request = draft.estimable(self.definition())
        self.written = Written()
        self.written.rows = [r for i, r in enumerate(every.rows) if i not in draft.waiting]
        self.written.waiting = {every.rows[i]: waiting_for(every.rows[i].rule())
                                for i in draft.waiting if every.rows[i] is not None}
        self.written.groups = {label: every.groups[full] for label, full in draft.moved.items()}
        self._estimator.request(request)

    def _busy(self, busy: bool) -> None:
        shown = self.size.value.split('<span class="wb-spinner"')[0] or \
            f'<div class="wb-big">{DASH}</div>'
        self.size.value = shown + ('<span class="wb-spinner" title="Estimating…"></span>'
                                   if busy else "")

    def _estimated(self, estimate, error) -> None:
        problems, warnings = [], []
        if error is not None:
            problems = getattr(error, "problems", None) or [Problem("", one_line(error))]
            self.draft.estimate = None  # no number that belongs to other rules stays on show
            self.size.value = f'<div class="wb-big">{DASH}</div>'
            self.share.value = '<div class="wb-muted">fix the marked rules to see the estimate</div>'
            self.summary.value = ""
        else:
            self.draft.estimate = estimate
            warnings = estimate.warnings
            self.size.value = f'<div class="wb-big">{number(estimate.size)}</div>'
            self.share.value = (f'<div class="wb-muted">{estimate.percent_of_base or 0:.2f}% '
                                f'of {number(estimate.base)} customers<br>'
                                f'{escape(estimate.as_of_text)}</div>')
            percent = typed_number(self.holdout.value)
            if isinstance(percent, int) and 0 < percent <= 50:
                held = number(round(estimate.size * percent / 100))
                self.share.value += (f'<div class="wb-muted">about {held} of them held out '
                                     f'({percent}%)</div>')
            items = "".join(f"<li>{escape(s)}</li>" for s in estimate.summary)
            self.summary.value = (f'<ul class="wb-summary">{items}</ul>' if items else
                                  '<div class="wb-muted">No rules: the whole customer '
                                  'base.</div>')
        self._place(problems, warnings)

    def _place(self, problems: list[Problem], warnings: list[Problem],
               written: Written | None = None) -> None:
        """Each message next to the rule or group it names, the name's under the name, the
        rest under the rules. ``written``: how the rules the messages are about were numbered
        (default: the estimate's, unfinished rules left out)."""
        written = written or self.written
        per_row: dict[RuleRow, tuple[list, list]] = {row: ([], []) for row in self.rules}
        per_group: dict[GroupBox, list] = {group: [] for group in self.groups}
        general, about_name, about_holdout = [], [], []
        for kind, messages in ((0, problems), (1, warnings)):
            for message in messages:
                rule, field = message.rule, message.field
                row = written.rows[rule - 1] if rule and 0 < rule <= len(written.rows) else None
                group = written.groups.get(field)
                if row in per_row:
                    per_row[row][kind].append(message.message)
                elif group in per_group:
                    per_group[group].append((kind, message.message))
                elif field == "name":
                    about_name.append((kind, message.message))
                elif field == "holdout_percent":
                    about_holdout.append((kind, message.message))
                else:
                    general.append((kind, str(message)))
        for row, (errors, notes) in per_row.items():
            row.show(errors, notes, waiting=written.waiting.get(row, ""))
        for group, messages in per_group.items():
            group.problems.value = _lines(messages)
        if any(kind == 0 for kind, _ in about_name):
            self.name.add_class("wb-invalid")
        self.name_problem.value = _lines(about_name)
        self.holdout_problem.value = _lines(about_holdout)
        (self.holdout.add_class if about_holdout else self.holdout.remove_class)("wb-invalid")
        general += [(1, f"a rule on {rule.get('attribute')!r}, an attribute no longer in the "
                        "data, is kept unchanged") for rule in self._kept()]
        self.general.value = _lines(general)
        self.warnings.value = ""

    def _as_saved(self) -> Written:
        """How the service numbers the rules of a save: every rule, unfinished ones too."""
        written = Written()
        self._write(self, written)
        return written

    def _kept(self) -> list[dict]:
        return self.draft.kept + [r for g in self.groups for r in g.kept]

    # -- saving and activating ------------------------------------------------------------------

    def save_draft(self) -> bool:
        """Save the draft; False (with the reasons shown) when it cannot be saved."""
        definition = self.definition()
        self.name_problem.value = ""
        self.name.remove_class("wb-invalid")
        if not definition["name"]:
            self.name.add_class("wb-invalid")
            self.name_problem.value = '<div class="wb-error">A name is required.</div>'
            self._say("Give the audience a name before saving.", "wb-error")
            return False
        try:
            audience = self.draft.save(definition)
        except Conflict as exc:
            self._say(f"Not saved: {exc}. Someone changed this draft since you opened it; "
                      "open it again to see their version (your edits stay here until then).",
                      "wb-error")
            return False
        except WorkbenchError as exc:
            problems = exc.problems
            if not problems:  # not about the rules: a refusal, a full disk
                self._say(f"Not saved: {one_line(exc)}", "wb-error")
                return False
            self._place(problems, [], self._as_saved())
            self._say("Not saved: fix what is marked.", "wb-error")
            return False
        self.nav.address({"audience": str(audience.id), "page": "edit"})
        self._title()
        self._place([], audience.warnings, self._as_saved())
        self._say(f"Saved draft “{audience.name}” (version {audience.version}).", "wb-ok")
        return True

    def _ask_to_activate(self) -> None:
        yes = w.Button(description="Activate and freeze", tooltip="Activate")
        yes.add_class("wb-primary")
        no = w.Button(description="Cancel")
        yes.on_click(lambda _b: self.confirm_activate())
        no.on_click(lambda _b: setattr(self.confirm, "children", []))
        name = self.name.value.strip() or "this audience"
        box = w.VBox([w.HTML(f"<b>Activate “{escape(name)}”?</b> Activating freezes it: its "
                             "rules can no longer be changed, and it is processed every "
                             "night from today. To change it later, duplicate it."),
                      w.HBox([yes, no], layout=w.Layout(gap="8px"))])
        box.add_class("wb-confirm")
        self.confirm.children = [box]

    def confirm_activate(self) -> bool:
        self.confirm.children = []
        if not self.save_draft():
            return False
        try:
            self.draft.activate()
        except WorkbenchError as exc:
            self._place(exc.problems, [], self._as_saved())
            self._say(f"Not activated: {one_line(exc)}", "wb-error")
            return False
        self.nav.go("audience", audience_id=self.draft.audience_id)
        return True

    def _say(self, text: str, kind: str) -> None:
        self.message.value = f'<div class="{kind}">{escape(text)}</div>'

    def close(self) -> None:
        self._estimator.cancel()


def _label(path: tuple[int, ...]) -> str:
    return "group " + ".".join(map(str, path))


def _lines(messages: list[tuple[int, str]]) -> str:
    """Errors (0) and warnings (1) as the page shows them."""
    return "".join(f'<div class="{"wb-error" if kind == 0 else "wb-warning"}">'
                   f'{"✖" if kind == 0 else "⚠"} {escape(m)}</div>' for kind, m in messages)


def _readable(attribute) -> str:
    """The picker's name of an attribute: appended ones without the "Appended" the group
    already says."""
    label = attribute.label
    if attribute.group == "Appended" and label.lower().startswith("appended "):
        label = label[len("appended "):]
        label = label[:1].upper() + label[1:]
    return label


def _rows_with_parents(container):
    for element in container.elements:
        if isinstance(element, RuleRow):
            yield container, element
        else:
            yield from _rows_with_parents(element)


def _groups(container):
    for element in container.elements:
        if isinstance(element, GroupBox):
            yield element
            yield from _groups(element)


def _numbered(container, path: tuple[int, ...] = ()):
    """(path, group) for every group, numbered as written (rules count as positions)."""
    for index, element in enumerate(container.elements, start=1):
        if isinstance(element, GroupBox):
            yield (*path, index), element
            yield from _numbered(element, (*path, index))
