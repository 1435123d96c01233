"""One pass over the features of a day evaluates every active audience (SPEC 6).

The active audiences are ordered by the one plan of nested audiences (audiences/plan.py) and
compiled level by level (``compile_levels``): each audience a boolean column ``audience_<id>``
of its level's table, level k reading the columns of level k-1, so nothing is evaluated twice.
Every level is kept as a table (the pass materializes each).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..audiences.compiler import Sources, compile_levels, member_column
from ..audiences.definition import CheckedRule, references
from ..audiences.plan import Plan


@dataclass(frozen=True)
class ActiveAudience:
    id: int
    name: str
    rules: list[CheckedRule]
    holdout_percent: int = 0  # frozen with the definition at activation

    @property
    def references(self) -> set[int]:
        return references(rule.rule for rule in self.rules)

    @property
    def column(self) -> str:
        return member_column(self.id)


def pass_queries(audiences: list[ActiveAudience], sources: Sources) -> list[exp.Select]:
    """One query per level of the audiences' plan; query k selects the table of level k-1 as
    ``p``. ``sources`` must name a features table that holds every column the audiences read.
    ``Unordered`` (an ``InvalidInput``) when the audiences read each other in a cycle or read
    one that is not active."""
    plan = Plan.of({a.id: a.references for a in audiences})
    return compile_levels(plan, {a.id: a.rules for a in audiences}, sources, every_feature=True)
