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
from .rules import RuleRow
from .style import DASH, escape, number
from .work import Debounced, one_line

if TYPE_CHECKING:
    from .navigator import Navigator

GROUPS = [("Demographics", "Standard"), ("Appended", "Appended"), ("Behaviour", "Tags"),
          ("RFM", "RFM"), ("Audiences", "Audiences")]
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
        self.waiting: list[int] = []  # rules left out of that estimate: no value picked yet

    def choices(self, attribute):
        """The values a rule on ``attribute`` offers (none to pick for yes/no attributes)."""
        from ..audiences.catalog import Choices

        return Choices() if attribute.type in ("membership", "boolean") else \
            self.catalog.choices(attribute.name)

    def referable(self) -> list[tuple[str, int]]:
        """The audiences a rule of this one may refer to, as (label, id)."""
        return [(f"{a.name} (#{a.id})", a.id) for a in self.audiences.referable(self.audience_id)]

    def estimable(self, definition: dict) -> dict:
        """``definition`` without its unfinished rules (noted in ``waiting``): a rule still
        waiting for its first value is left out of the estimate rather than marked wrong."""
        definition = dict(definition, name=definition["name"] or "untitled")  # to save only
        self.waiting = [i for i, rule in enumerate(definition["rules"]) if _unfinished(rule)]
        definition["rules"] = [r for i, r in enumerate(definition["rules"])
                               if i not in self.waiting]
        return definition

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


class AudienceBuilder:
    def __init__(self, nav: Navigator, audience_id: int | None = None,
                 definition: dict | None = None):
        self.nav = nav
        self.draft = draft = AudienceDraft(nav.wb, audience_id, definition)
        self.rules: list[RuleRow] = []
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
        self.picker = w.Dropdown(options=self._picker_options(), value="",
                                 description="", layout=w.Layout(width="330px"))
        self.picker.observe(self._picked, "value")
        self.rules_box = w.VBox()
        self.general = w.HTML()
        return w.VBox([self.name, self.name_problem, self.description,
                       w.HTML('<h4 style="margin:14px 0 6px 0">Rules</h4>'),
                       self.rules_box, self.picker, self.general],
                      layout=w.Layout(width="780px"))

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
            self.message.value = ('<div class="wb-warning">You are a viewer: you can look at '
                                  'this audience, not change it.</div>')
        if not self.draft.can_activate:
            self.activate.layout.display = "none"

    # -- the rules ------------------------------------------------------------------------------

    def definition(self) -> dict:
        return {"name": self.name.value.strip(), "description": self.description.value.strip(),
                "rules": [row.rule() for row in self.rules] + self.draft.kept}

    def add_rule(self, attribute: str, **rule) -> RuleRow:
        """Add a rule on ``attribute`` (what picking it in Select attributes does)."""
        return self._add({"attribute": attribute, **rule})

    def remove_rule(self, row: RuleRow) -> None:
        self.rules.remove(row)
        self.rules_box.children = [r.widget for r in self.rules]
        self.refresh_estimate()

    def _add(self, rule: dict, estimate: bool = True) -> RuleRow:
        draft = self.draft
        attribute = draft.catalog.get(rule["attribute"])
        if attribute is None:  # a stored rule on an attribute that is gone: kept, never dropped
            draft.kept.append(rule)
            return None
        row = RuleRow(attribute, draft.choices(attribute), rule, draft.referable(),
                      on_change=self.refresh_estimate, on_remove=self.remove_rule,
                      editable=draft.can_edit)
        self.rules.append(row)
        self.rules_box.children = [r.widget for r in self.rules]
        if estimate:
            self.refresh_estimate()
        return row

    def _picker_options(self) -> list:
        options: list = [("+ Select attributes", "")]
        attributes = list(self.draft.catalog.attributes.values())
        for group, label in GROUPS:
            members = [a for a in attributes if a.group == group]
            members.sort(key=lambda a: (a.name not in FIRST, FIRST.index(a.name)
                                        if a.name in FIRST else 0))
            options += [(f"{label} · {a.label}", a.name) for a in members]
        return options

    def _picked(self, change) -> None:
        if not change["new"]:
            return
        self.add_rule(change["new"])
        self.picker.value = ""

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
        """Estimate the rules that are complete; a rule still waiting for its first value is
        left out (and says so) rather than marked wrong."""
        self._estimator.request(self.draft.estimable(self.definition()))

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
            items = "".join(f"<li>{escape(s)}</li>" for s in estimate.summary)
            self.summary.value = (f'<ul class="wb-summary">{items}</ul>' if items else
                                  '<div class="wb-muted">No rules: the whole customer '
                                  'base.</div>')
        self._place(problems, warnings)

    def _place(self, problems: list[Problem], warnings: list[Problem],
               estimated: bool = True) -> None:
        """Each message next to the rule it names; the rest under the rules. ``estimated``:
        the messages are about the estimated rules (unfinished ones left out)."""
        waiting = self.draft.waiting if estimated else []
        positions = [i for i in range(len(self.rules)) if i not in waiting]
        per_rule: dict[int, tuple[list, list]] = {i: ([], []) for i in range(len(self.rules))}
        general = []
        for kind, messages in ((0, problems), (1, warnings)):
            for message in messages:
                rule, field, text = message.rule, message.field, message.message
                index = rule - 1 if rule else -1
                if rule and estimated and 0 <= index < len(positions):
                    index = positions[index]
                if index in per_rule:
                    per_rule[index][kind].append(text)
                elif field == "name":
                    self.name.add_class("wb-invalid")
                    self.name_problem.value = f'<div class="wb-error">{escape(text)}</div>'
                else:
                    general.append((kind, str(message)))
        for index, row in enumerate(self.rules):
            row.show(*per_rule[index], waiting=index in waiting)
        general += [(1, f"a rule on {rule.get('attribute')!r}, an attribute no longer in the "
                        "data, is kept unchanged") for rule in self.draft.kept]
        self.general.value = "".join(
            f'<div class="{"wb-error" if kind == 0 else "wb-warning"}">'
            f'{"✖" if kind == 0 else "⚠"} {escape(m)}</div>' for kind, m in general)
        self.warnings.value = ""

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
            self._place(problems, [], estimated=False)
            self._say("Not saved: fix what is marked.", "wb-error")
            return False
        self.nav.address({"audience": str(audience.id), "page": "edit"})
        self._title()
        self._place([], audience.warnings, estimated=False)
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
            self._place(exc.problems, [], estimated=False)
            self._say(f"Not activated: {one_line(exc)}", "wb-error")
            return False
        self.nav.go("audience", audience_id=self.draft.audience_id)
        return True

    def _say(self, text: str, kind: str) -> None:
        self.message.value = f'<div class="{kind}">{escape(text)}</div>'

    def close(self) -> None:
        self._estimator.cancel()


def _unfinished(rule: dict) -> bool:
    """A rule whose value list is still empty: just added, nothing ticked yet."""
    return rule.get("op") in ("in", "has") and rule.get("value") == []
