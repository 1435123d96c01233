"""How the rules of a definition combine (SPEC 5), once for every reader: the compiler folds
them into SQL, explain into Python booleans, the summary into English.

The top level is an ``all``. ``all`` holds when every include element holds and no exclude
element holds; ``any`` when at least one include element holds and no exclude element holds (an
``any`` without include elements never holds). A rule that is unknown (NULL) does not hold:
readers give each rule a two-valued answer before it is folded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .definition import CheckedRule, GroupRef

T = TypeVar("T")


@dataclass
class Node:
    """A group and what is written inside it; the top level has no ``group``."""

    group: GroupRef | None = None
    elements: list[CheckedRule | Node] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.group.kind if self.group else "all"

    @property
    def exclude(self) -> bool:
        return bool(self.group and self.group.exclude)


def tree(rules: list[CheckedRule]) -> Node:
    """The groups again, from the checked rules (each knows the groups around it)."""
    top = Node()
    for rule in rules:
        node = top
        for group in rule.groups:
            last = node.elements[-1] if node.elements else None
            if not (isinstance(last, Node) and last.group == group):
                last = Node(group)
                node.elements.append(last)
            node = last
        node.elements.append(rule)
    return top


def excludes(element: CheckedRule | Node) -> bool:
    return element.exclude if isinstance(element, Node) else element.rule.exclude


@dataclass(frozen=True)
class Logic(Generic[T]):
    """What a reader folds into: conjunction, disjunction, negation of its values."""

    all: Callable[[list[T]], T]  # of an empty list: true
    any: Callable[[list[T]], T]  # of an empty list: false
    negate: Callable[[T], T]


def combine(node: Node, leaf: Callable[[CheckedRule], T], logic: Logic[T],
            seen: Callable[[Node, T], None] | None = None) -> T:
    """Whether ``node`` holds, given whether each rule holds (``leaf``, two-valued);
    ``seen`` is told each group's answer (explain shows them)."""
    parts = [(combine(e, leaf, logic, seen) if isinstance(e, Node) else leaf(e), excludes(e))
             for e in node.elements]
    if node.kind == "all":  # in written order: a definition without groups folds as before
        held = logic.all([logic.negate(v) if out else v for v, out in parts])
    else:
        held = logic.any([v for v, out in parts if not out])
        kept_out = [logic.negate(v) for v, out in parts if out]
        if kept_out:
            held = logic.all([held, *kept_out])
    if seen is not None and node.group is not None:
        seen(node, held)
    return held


BOOLEANS: Logic[bool] = Logic(all=all, any=any, negate=lambda v: not v)
