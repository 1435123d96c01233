"""Tables a kernel keeps between estimates, so that the builder's next estimate is fast.

An analyst (or a stakeholder in the builder) estimates, changes a value (ages 25-34 to 25-40, a
spend over 100 to over 200), and estimates again. What such an edit leaves alone is most of the
work: the customers' features and the per-customer counts and sums of each window (a year of
purchases at 10M customers is 58M rows). Both are kept as tables of the engine's session, each
under the SQL text that computes it. That text names the snapshot's version files, which are
never rewritten, and the day: new data or another day is another text, so a kept table is
never stale. The least recently used tables are dropped beyond ``KEPT_TABLES``.

Kept only where one process serves one person's consecutive estimates (a kernel: the Python
API, a dashboard page): a CLI estimate runs once, and a kept aggregate covers every customer,
not only the ones the rules' plain conditions keep (the one-off query's narrowing), so it costs
more to build the first time. docs/audiences.md gives the measured figures.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import exp

    from ..query.engine import Engine

# At 10M customers a features table of a few columns is ~0.3 GB, a window's aggregate ~0.15 GB;
# the engine's memory limit still holds (DuckDB spills its tables to HOME/tmp beyond it).
KEPT_TABLES = 6


class Kept:
    """The engine's tables of queries seen before, by their SQL text, least recent first."""

    def __init__(self, engine: Engine, limit: int = KEPT_TABLES):
        self._engine = engine
        self._limit = limit
        self._tables: OrderedDict[str, str] = OrderedDict()  # SQL text -> table name
        self._made = 0
        self._closings = engine.closings
        # A page's callbacks may overlap: an estimate holds this from its first kept table to
        # its last row (``hold``), so that no other drops a table it is about to read.
        self._lock = threading.RLock()

    @contextmanager
    def hold(self):
        """Hold the kept tables for one estimate: none is dropped until it is done."""
        with self._lock:
            yield self

    def table(self, query: exp.Select) -> str:
        """The name of a table holding the rows of ``query``: kept, or computed now."""
        text = query.sql("duckdb")
        with self._lock:
            if self._engine.closings != self._closings:  # closed and opened again: all gone
                self._tables.clear()
            name = self._tables.get(text)
            if name is not None:
                self._tables.move_to_end(text)
                return name
            self._made += 1
            name = f"kept_{self._made}"
            self._engine.materialize(name, query)
            self._closings = self._engine.closings  # the session the table lives in
            self._tables[text] = name
            while len(self._tables) > self._limit:
                _, oldest = self._tables.popitem(last=False)
                self._engine.forget(oldest)
            return name

    @property
    def count(self) -> int:
        """Tables kept now. (Not ``__len__``: an empty Kept would be falsy, and a caller's
        ``if kept`` would skip its lock.)"""
        return len(self._tables)

    def __repr__(self) -> str:
        return f"Kept({len(self._tables)} of {self._limit} tables)"
