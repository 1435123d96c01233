"""Membership files: the members of every active audience for one processed day, per run.

Processing writes ``data/results/membership/day=D/run-R.parquet`` and the store points at it
from the history of each audience and day; exports and ``audience members`` read it. A reader
holds a lease on the file (files.py) while it reads, so a re-processing of that day, which
supersedes the file, removes it only once nobody reads it.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .files import Gone, lease, private_folder, remove_unless_read
from .query.sql import parquet

if TYPE_CHECKING:
    import pandas as pd
    from sqlglot import exp

    from .home import Home
    from .query.engine import Engine

FOLDER = "data/results/membership"


class Memberships:
    def __init__(self, home: Home, engine: Engine):
        self._home = home
        self._engine = engine

    def path(self, relative: str) -> Path:
        return self._home.root / relative

    def new_file(self, day: date, run_id: int) -> str:
        """Where a run writes the memberships of a day (relative to the home)."""
        private_folder(self._home.root / FOLDER / f"day={day}")
        return f"{FOLDER}/day={day}/run-{run_id}.parquet"

    def read(self, relative: str) -> exp.Table:
        """A membership file as a table (the caller holds a lease while it reads)."""
        return parquet(self.path(relative))

    def members(self, relative: str, audience_id: int, group: str | None = None, *,
                flagged: bool = True) -> pd.DataFrame:
        """customer_id of one audience's members in a membership file, ordered; ``group``:
        only its treatment or its holdout (``flagged``: see ``in_group``)."""
        from sqlglot import exp

        with self.reading(relative) as table:
            query = (exp.select("customer_id").from_(table)
                     .where(exp.column("audience_id").eq(exp.Placeholder(this="id")))
                     .order_by("customer_id"))
            condition = in_group(group, flagged)
            if condition is not None:
                query = query.where(condition)
            return self._engine.frame(query, {"id": audience_id})

    @contextmanager
    def reading(self, relative: str):
        """Hold a lease on a membership file while a job reads it; yields it as a table."""
        with ExitStack() as stack:
            try:
                lease(stack, self.path(relative))
            except Gone:
                from .errors import Busy

                raise Busy(f"the kept membership file {relative} is gone (replaced by a "
                           "processing run just now, or removed from disk): try again, and if "
                           "it stays gone, process that day again") from None
            yield self.read(relative)

    def collect_garbage(self, kept: set[str]) -> None:
        """Remove membership files the store no longer points at and nobody reads (replaced
        days, runs that failed or were killed). The caller holds the processing lock."""
        root = self._home.root / FOLDER
        for path in sorted(root.glob("day=*/run-*.parquet")):
            if str(path.relative_to(self._home.root)) not in kept:
                remove_unless_read(path)
        for folder in root.glob("day=*/.*.spark"):  # Spark's part files of a killed run
            shutil.rmtree(folder, ignore_errors=True)
        for folder in root.glob("day=*"):  # days of a stopped backfill that kept nothing
            try:
                folder.rmdir()
            except OSError:
                pass  # not empty: a kept or still-read file is in it


def in_group(group: str | None, flagged: bool) -> exp.Expression | None:
    """The condition on a membership file's rows of one audience for its ``group`` (None: all
    members). ``flagged``: the day was processed with holdout groups (its history row has a
    holdout count); files written before have no ``holdout`` column, and every member of
    theirs is in the treatment (no audience had a holdout then)."""
    from sqlglot import exp

    if group is None:
        return None
    if not flagged:
        return exp.true() if group == "treatment" else exp.false()
    held = exp.column("holdout")
    return held if group == "holdout" else exp.not_(held)
