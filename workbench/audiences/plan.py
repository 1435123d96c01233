"""Nested audiences decided in one place: which audiences an evaluation reads through audience
rules, in what order, and which tables are kept (pure).

An audience rule reads the members of other audiences as of the same day. The audiences an
evaluation reads form a graph (each audience -> the audiences its rules name, ``reads``);
``Plan.of`` orders it in dependency levels, each audience after every audience it reads, and
refuses a graph that cannot be ordered (``Unordered``: a cycle, or an audience read that is not
in the graph). Estimate, members and explain compile the levels under the audience they
evaluate; processing compiles the levels of every active audience (compiler.py,
``compile_levels``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..errors import Unordered


@dataclass(frozen=True)
class Plan:
    """Audience ids in dependency levels: level k reads only levels before it."""

    levels: tuple[tuple[int, ...], ...] = ()

    @classmethod
    def of(cls, reads: Mapping[int, set[int]]) -> Plan:
        """The one cycle check: audiences are placed level by level, each once every audience
        it reads is placed; what is left over reads a cycle or an audience not in ``reads``."""
        remaining = dict(reads)
        placed: set[int] = set()
        levels = []
        while remaining:
            ready = sorted(a for a, read in remaining.items() if read <= placed)
            if not ready:
                missing = set().union(*remaining.values()) - placed - set(remaining)
                raise Unordered(set(remaining), missing)
            levels.append(tuple(ready))
            placed.update(ready)
            for audience_id in ready:
                del remaining[audience_id]
        return cls(tuple(levels))

    def keeps(self, reads: int) -> bool:
        """Whether a table of the compiled query (a level, the features) is computed once and
        read as a table rather than inlined wherever it is read: under nested audiences every
        one is, and otherwise one read more than twice. Inlined, a diamond of audiences six
        levels deep made one Spark plan of dozens of joins whose tasks ran out of memory on
        2,000 customers (hostile pass). The same on every engine (``AS MATERIALIZED``)."""
        return bool(self.levels) or reads > 2


def reachable(start: Iterable[int], reads: Callable[[int], set[int]]) -> dict[int, set[int]]:
    """The graph of every audience reachable from ``start``, each looked up once (a diamond
    of audiences is not walked once per path)."""
    graph: dict[int, set[int]] = {}
    waiting = list(start)
    while waiting:
        audience_id = waiting.pop()
        if audience_id not in graph:
            graph[audience_id] = reads(audience_id)
            waiting.extend(graph[audience_id])
    return graph
