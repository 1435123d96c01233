"""``workbench scheduler``: nightly processing at its time, and export runs when they are due.

One tick: (1) processing of the days since the last processed one up to yesterday, once the
workbench's local time has passed ``processing_time`` (one run for the range: a scheduler that
was down catches up); (2) runs for every occurrence of the active exports up to now, each made
once however many schedulers tick, the ones whose window passed made Canceled with the reason;
(3) every due run started, each claimed in the store first, so two schedulers never deliver
one twice. Processing comes first: exports deliver what it kept. Each run of either kind is a
papermill run whose notebook is its audit record. One log line per action.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from .errors import WorkbenchError
from .run_states import RunState

if TYPE_CHECKING:
    from .app import Workbench

Log = Callable[[str], None]


class Scheduler:
    def __init__(self, wb: Workbench, *, log: Log = print):
        self._wb = wb
        self._log = log
        self._now = wb.calendar.now  # the workbench's clock, in its timezone

    def tick(self) -> None:
        now = self._now()
        self._said = 0
        self._processing(now)
        for line in self._wb.export_runs.plan(now):
            self._say(line)
        for run_id in self._wb.export_runs.due(now):
            self._export_run(run_id)
        if not self._said:  # a cron job's log should show the tick happened
            self._say("nothing due (processing is up to date, no export run is due)")

    def forever(self, interval: float = 30) -> None:
        """Tick until stopped (Ctrl-C or SIGTERM, which the CLI turns into KeyboardInterrupt):
        a run in progress records its own end; nothing is left claimed."""
        pinned = self._wb.clock.pinned
        self._say(f"scheduler started (every {interval:g} s)" + (
            f"; its clock is pinned at {pinned.isoformat()} (WORKBENCH_NOW)" if pinned else ""))
        try:
            while True:
                started = time.monotonic()
                try:
                    self.tick()
                except WorkbenchError as exc:  # one bad tick must not stop the scheduler
                    self._say(f"tick failed: {exc}")
                time.sleep(max(0.0, interval - (time.monotonic() - started)))
        except KeyboardInterrupt:
            self._say("scheduler stopped")

    def _processing(self, now: datetime) -> None:
        if now.time() < self._wb.settings.processing_time:
            return
        active = [a for a in self._wb.audiences.list() if a.status == "active"]
        if not active:
            return
        yesterday = now.date() - timedelta(days=1)
        done = [a.last_processed_on for a in active if a.last_processed_on]
        first = (max(done) + timedelta(days=1)) if done else yesterday
        if first > yesterday:
            return
        from .processing.notebook import run_processing

        self._say(f"processing {first} to {yesterday}" if first < yesterday
                  else f"processing {yesterday}")
        try:
            run = run_processing(self._wb, first, yesterday)
            self._say(f"processing run #{run['id']} {run['status']}")
        except WorkbenchError as exc:
            self._say(f"processing failed: {exc}")

    def _export_run(self, run_id: int) -> None:
        from .exports.notebook import run_export

        try:
            run = run_export(self._wb, run_id)
        except WorkbenchError as exc:
            self._say(f"export run #{run_id}: {exc}")
            return
        detail = (f"{run.rows} rows -> {run.file_name}" if run.state == RunState.COMPLETE
                  else run.error)
        self._say(f"export run #{run.id} ({run.export}) {run.state}: {detail}")

    def _say(self, line: str) -> None:
        self._said = getattr(self, "_said", 0) + 1
        self._log(f"{self._now().isoformat(timespec='seconds')} {line}")
