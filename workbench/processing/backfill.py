"""Backfill on activation: a newly activated audience gets the history of the N days before
its activation day (``backfill_days`` in workbench.toml, default 30; 0 turns it off), point in
time, so that its Details chart has a history at once (issue 21).

Each day is processed as nightly processing processes it (day.py, on one pinned snapshot),
but only for that audience and the active audiences it reads, and only that audience's
results are recorded: the other audiences' history, composition and errors stay as they were.
The run is a processing run like any other (the lock, a row in the runs, one commit at the end,
the previous results intact if it fails), so "history equal to what processing those days would
record" holds by construction.

Activation does not wait for it (decision, docs/processing.md): ``start`` hands the backfill to
a process of its own (detached.py), detached from the page's kernel or the CLI command that
activated, which runs ``notebooks/nightly_processing.ipynb`` for it through papermill (the
executed copy is the audit record, as for every processing run). It waits for the processing
lock while a nightly run holds it. Its output goes to
``HOME/runs/processing/backfill-<id>-<time>.log``.

It works with the parts of a ``Processing`` (run.py) as a run does, from this module of its own:
run.py stays as it is. Its days carry their features from one day to the next (history.py), as
a run's do.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ..customers.features import Day
from ..errors import Conflict, ProcessingFailed, WorkbenchError
from .day import process_day
from .history import carried_run, described

if TYPE_CHECKING:
    from .evaluate import ActiveAudience
    from .notebook import Opened
    from .run import Processing, Progress, RunReport

# A backfill started by an activation while a nightly run holds the lock waits this long.
LOCK_WAIT_SECONDS = 6 * 3600


def backfill_days(activated_on: date, days: int) -> tuple[date, date]:
    """The ``days`` days before the activation day: its history up to the day before."""
    last = activated_on - timedelta(days=1)
    return last - timedelta(days=days - 1), last


def backfill(processing: Processing, audience_id: int, days: int | None = None, *,
             progress: Progress | None = None, notebook: str | None = None,
             wait: float = 0) -> RunReport | None:
    """Process the ``days`` days (default: the setting) before the audience's activation day
    for that audience alone; None when there is nothing to do (0 days)."""
    from .run import STOPPED

    p = processing
    p._user.require("processing.run")
    row = p._audiences.get(int(audience_id))
    if row["status"] != "active":
        raise Conflict(f"audience {row['id']} ({row['name']}) is {row['status']}; only an "
                       "active audience is backfilled")
    days = p._settings.backfill_days if days is None else days
    if not days:
        return None
    first, last = backfill_days(row["activated_on"], days)
    with p._lock(wait=wait):
        run_id = p._records.start_run(first, last, p._user.name)
        p._audit.record("processing.run", "processing", run_id, changes={
            "days": [f"{first} to {last}"], "backfill": [f"audience {row['id']}"]})
        if notebook:
            p._records.set_notebook(run_id, notebook)
        try:
            with p._snapshots.pin() as snapshot:
                report = _backfill(p, run_id, snapshot, row["id"], first, last, progress)
        except KeyboardInterrupt:
            p._records.fail_run(run_id, STOPPED, [row["id"]])
            p._collect_garbage()
            raise
        except Exception as exc:
            message = str(exc) if isinstance(exc, WorkbenchError) else \
                f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"
            p._records.fail_run(run_id, message, [row["id"]])
            p._collect_garbage()
            raise ProcessingFailed(f"backfill run #{run_id} of audience {row['id']} failed: "
                                   f"{message}; the previous results are unchanged") from exc
        p._collect_garbage()
    return report


def _backfill(p: Processing, run_id: int, snapshot, audience_id: int, first: date, last: date,
              progress: Progress | None) -> RunReport:
    from .run import RunReport

    started = time.perf_counter()
    active, failures = p._active_audiences(snapshot)
    evaluated = _with_what_it_reads(active, audience_id)
    target = evaluated[-1]
    buckets = p._buckets(snapshot)
    tables = snapshot.tables()
    previous = {audience_id: p._records.previous_day(audience_id, first)}
    days, history, snapshots = [], [], []
    total = (last - first).days + 1
    carried = carried_run(p._engine, tables, p._calendar.zone, evaluated, buckets, first, last)
    for index in range(total):
        if audience_id in failures:
            break
        day = first + timedelta(days=index)
        if carried:
            carried.advance(day)
        result, day_snapshots = process_day(
            p._engine, p._memberships, tables, Day(day, p._calendar.zone),
            [a for a in evaluated if a.id not in failures], buckets, previous, run_id, carried)
        failures |= result.failures
        days.append(result)
        snapshots += [s for s in day_snapshots if s["audience_id"] == audience_id]
        previous = {a: {"day": day, "membership": result.membership} for a in result.sizes}
        if progress:
            progress(index + 1, total, result)
    if carried:
        carried.close()
    failed = failures.get(audience_id)
    if failed is None:
        history = [{"audience_id": audience_id, "day": d.day, "size": d.sizes[audience_id],
                    "base": d.base, "added": d.added[audience_id],
                    "removed": d.removed[audience_id], "run_id": run_id,
                    "holdout": d.holdouts.get(audience_id, 0),
                    "membership": d.membership} for d in days]
    done = [] if failed else [target]
    p._records.commit_run(run_id, history, snapshots if done else [], len(done),
                          p._following_days(done, last, previous), {audience_id: failed})
    report = RunReport(run_id, first, last, {target.id: target.name} if done else {},
                       days if done else [], failures={audience_id: failed} if failed else {},
                       engine=described(p._engine, carried))
    report.seconds = time.perf_counter() - started
    return report


def _with_what_it_reads(active: list[ActiveAudience], audience_id: int) -> list[ActiveAudience]:
    """The audience and the active audiences it reads, directly or not (its last)."""
    by_id = {a.id: a for a in active}
    needed, todo = set(), [audience_id]
    while todo:
        current = todo.pop()
        if current in needed or current not in by_id:
            continue
        needed.add(current)
        todo += by_id[current].references
    return [a for a in active if a.id in needed and a.id != audience_id] + [by_id[audience_id]]


# -- started by an activation -----------------------------------------------------------------

def start(wb: Opened, audience_id: int) -> str | None:
    """Start the backfill of a just-activated audience in a process of its own, if the
    setting asks for one; the log file it writes (relative to the home), else None."""
    import os
    import subprocess
    import sys
    import threading

    from .. import notebooks
    from ..files import private_folder

    if not wb.settings.backfill_days or not wb.user.can("processing.run"):
        return None
    folder = wb.home.runs_dir / "processing"
    private_folder(folder)
    log = folder / f"backfill-{audience_id}-{wb.calendar.now():%Y%m%dT%H%M%S}.log"
    command = [sys.executable, "-m", "workbench.processing.detached", str(wb.home.root),
               wb.user.name, wb.user.role.value, wb.via, str(audience_id),
               notebooks.pinned_clock(wb) or ""]
    with open(log, "ab") as output:
        os.chmod(log, 0o600)
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 close_fds=True)
    # Reaped when it ends, so that a long-lived kernel or service keeps no zombie.
    threading.Thread(target=child.wait, daemon=True, name=f"backfill-{audience_id}").start()
    return str(log.relative_to(wb.home.root))
