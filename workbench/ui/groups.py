"""Groups in the builder (SPEC 5, wave 3): a box of rules and groups that holds when any (or
all) of them hold, included or excluded as a whole. The builder and each group are
``Container``s: a list of elements drawn in a VBox; the builder owns every change (adding,
moving, removing) and redraws after it."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from .rules import RuleRow

MAX_DEPTH = 3  # as the definition allows (workbench.audiences.definition.MAX_GROUP_DEPTH)


class Container:
    """What holds elements: the builder's top level, or a group."""

    elements: list
    box: w.VBox
    depth = 0

    def draw(self) -> None:
        self.box.children = [e.widget for e in self.elements]


class GroupBox(Container):
    def __init__(self, group: dict, depth: int, *, picker: Callable[[], w.Dropdown],
                 on_change: Callable, on_remove: Callable, on_pick: Callable,
                 on_group: Callable, editable: bool = True):
        self.depth = depth
        self.elements: list[RuleRow | GroupBox] = []
        self.label = ""  # "group 2": set by the builder when it numbers the groups
        self.kept: list[dict] = []  # rules on attributes no longer in the catalog: kept as is
        kind = "all" if "all" in group else "any"
        self.kind = w.ToggleButtons(options=[("Any of these", "any"), ("All of these", "all")],
                                    value=kind, style={"button_width": "100px"},
                                    tooltip="Any: at least one rule holds (OR). All: every "
                                            "rule holds (AND).")
        self.mode = w.ToggleButtons(options=[("Include", False), ("Exclude", True)],
                                    value=bool(group.get("exclude")),
                                    style={"button_width": "76px"},
                                    layout=w.Layout(flex="none", width="auto"))
        self.remove = w.Button(icon="times", tooltip="Remove this group and its rules",
                               layout=w.Layout(width="36px", flex="none"))
        self.remove.on_click(lambda _b: on_remove(self))
        self.title = w.HTML()
        self.box = w.VBox()
        self.picker = picker()
        self.picker.observe(lambda change: change["new"] and on_pick(self, change), "value")
        self.inner = w.Button(description="+ Group inside", tooltip="Add a group in this group",
                              layout=w.Layout(width="auto"))
        self.inner.add_class("wb-link")
        self.inner.on_click(lambda _b: on_group(self))
        self.problems = w.HTML()
        self.empty = w.HTML('<div class="wb-muted">Add a rule to this group; until then it is '
                            'left out of the estimate.</div>')
        header = w.HBox([w.HBox([self.title, self.kind], layout=w.Layout(
                            align_items="center", gap="8px")),
                         w.HBox([self.mode, self.remove], layout=w.Layout(gap="6px"))],
                        layout=w.Layout(justify_content="space-between", align_items="center"))
        adders = w.HBox([self.picker] + ([self.inner] if depth < MAX_DEPTH else []),
                        layout=w.Layout(align_items="center", gap="8px"))
        self.widget = w.VBox([header, self.box, self.empty, adders, self.problems])
        self.widget.add_class("wb-group")
        self.kind.observe(lambda _c: on_change(), "value")
        self.mode.observe(lambda _c: on_change(), "value")
        if not editable:
            for widget in (self.kind, self.mode, self.picker):
                widget.disabled = True
            self.remove.layout.display = self.inner.layout.display = "none"
            self.picker.layout.display = "none"

    def draw(self) -> None:
        super().draw()
        self.empty.layout.display = "none" if self.elements else None
        self.title.value = f'<b>{self.label.capitalize()}</b>'

    def rule(self) -> dict:
        return {self.kind.value: [e.rule() for e in self.elements], "exclude": self.mode.value}
