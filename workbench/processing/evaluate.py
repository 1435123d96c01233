"""One pass over the features of a day evaluates every active audience (SPEC 6).

All audiences are compiled against one shared set of event aggregates and become boolean
columns ``audience_<id>`` of one table. Audiences that use other audiences come in later levels:
level k reads the columns of level k-1 (dependency order), so nothing is evaluated twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from ..audiences.compiler import KEY, F, Sources, Windows, column, compile_rules
from ..audiences.definition import CheckedRule
from ..errors import InvalidInput

PREVIOUS = "p"  # alias of the previous level's table


@dataclass(frozen=True)
class ActiveAudience:
    id: int
    name: str
    rules: list[CheckedRule]

    @property
    def references(self) -> set[int]:
        return {ref for rule in self.rules if rule.rule.attribute == "audience"
                for ref in rule.value}

    @property
    def column(self) -> str:
        return member_column(self.id)


def member_column(audience_id: int) -> str:
    return f"audience_{audience_id}"


def levels(audiences: list[ActiveAudience]) -> list[list[ActiveAudience]]:
    """Group audiences so that each one comes after every audience it refers to."""
    remaining = {a.id: a for a in audiences}
    placed: set[int] = set()
    result = []
    while remaining:
        ready = [a for a in remaining.values() if a.references <= placed]
        if not ready:
            missing = {r for a in remaining.values() for r in a.references} - placed - set(
                remaining)
            raise InvalidInput(
                f"audiences {sorted(remaining)} refer to "
                + (f"audiences that are not active: {sorted(missing)}" if missing
                   else "each other in a cycle"))
        result.append(sorted(ready, key=lambda a: a.id))
        placed |= {a.id for a in ready}
        for a in ready:
            del remaining[a.id]
    return result


def pass_queries(audience_levels: list[list[ActiveAudience]],
                 sources: Sources) -> list[exp.Select]:
    """One query per level; query k selects the table of level k-1 as ``p``. ``sources``
    must name a features table that holds every column the audiences read."""
    queries = []
    for depth, level in enumerate(audience_levels):
        windows = Windows(sources.day)  # one aggregate per event table for the whole level

        def resolve(audience_id: int) -> exp.Expression:
            return exp.EQ(this=column(member_column(audience_id), PREVIOUS),
                          expression=exp.true())

        compiled = [compile_rules(a.rules, sources, resolve, windows) for a in level]
        projections = [exp.alias_(c.member_condition(), a.column, quoted=True)
                       for a, c in zip(level, compiled, strict=True)]
        if depth == 0:  # every feature column stays: composition groups the last level
            projections = [exp.Column(this=exp.Star(), table=exp.to_identifier(F, quoted=True)),
                           *projections]
        else:
            projections = [exp.Column(this=exp.Star(), table=exp.to_identifier(PREVIOUS)),
                           *projections]
        queries.append(_with_previous(compiled[0]._from(*projections), depth))
    return queries


def _with_previous(query: exp.Select, depth: int) -> exp.Select:
    if depth == 0:
        return query
    return query.join(exp.to_table(f"pass_{depth - 1}").as_(PREVIOUS, quoted=True),
                      on=exp.EQ(this=column(KEY, PREVIOUS), expression=column(KEY)))
