"""``wb.processing``: process days for every active audience, and read what processing kept.

A run takes a lock (two runs never interleave), pins one snapshot of customer data for all its
days, evaluates each day in one pass (day.py), writes that day's memberships to a Parquet file
named by the run, and commits sizes, changes and composition for all its days in one store
transaction. Until that commit nothing is visible; if the run fails as a whole, it is recorded as
failed, its files are removed, and the previous results stand as they were. An audience that
fails alone is recorded against that audience and the others are processed: the run is partial.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from ..audiences.definition import AudienceDefinition, check_definition
from ..audiences.discovery import load_catalog
from ..audiences.models import index_against_base, percent
from ..customers.features import Day
from ..errors import Conflict, InvalidDefinition, InvalidInput, ProcessingFailed, WorkbenchError
from ..files import Locked, exclusive_lock
from . import MAX_DAYS
from .composition import DEFAULTS, Buckets
from .day import DayResult, compare, process_day
from .evaluate import ActiveAudience
from .history import carried_run, described

if TYPE_CHECKING:
    import pandas as pd

    from ..audit import AuditTrail
    from ..customers.snapshot import Snapshot, Snapshots
    from ..days import Calendar
    from ..home import Home
    from ..memberships import Memberships
    from ..query.engine import Engine
    from ..settings import Settings
    from ..store.audiences import AudienceRecords
    from ..store.processing import ProcessingRecords
    from ..users import User

Progress = Callable[[int, int, DayResult], None]
STOPPED = "interrupted: stopped by Ctrl-C or a stop signal before it finished"
# How long recovery waits for a dying run's process to let go of the lock.
RECOVERY_WAIT_SECONDS = 30
BACKFILL_WAIT_SECONDS = 3600  # a run waits this long for an activation's backfill


@dataclass
class RunReport:
    run_id: int
    date_from: date
    date_to: date
    audiences: dict[int, str]  # id -> name, of those processed
    days: list[DayResult] = field(default_factory=list)
    seconds: float = 0.0
    failures: dict[int, str] = field(default_factory=dict)  # audience id -> error
    engine: str = ""  # what ran the queries: the same day takes 0.3 s or 20 s

    @property
    def partial(self) -> bool:
        return bool(self.failures)

    def frame(self) -> pd.DataFrame:
        """One row per audience and day: size, % of base, added, removed."""
        import pandas as pd

        rows = [{"day": d.day, "audience_id": a, "audience": self.audiences[a],
                 "size": d.sizes[a], "base": d.base,
                 "percent_of_base": percent(d.sizes[a], d.base),
                 "added": d.added[a], "removed": d.removed[a],
                 "holdout": d.holdouts.get(a, 0)}
                for d in self.days for a in self.audiences]
        return pd.DataFrame(rows)

    def lines(self) -> list[str]:
        span = (str(self.date_from) if self.date_from == self.date_to
                else f"{self.date_from} to {self.date_to}")
        lines = [f"processing run #{self.run_id}: {len(self.audiences)} active audiences, "
                 f"{len(self.days)} day(s) ({span}) in {self.seconds:.1f} s"
                 + (f" on {self.engine}" if self.engine else "")
                 + (f"; PARTIAL: {len(self.failures)} audience(s) failed" if self.partial
                    else "")]
        if self.days:
            last = self.days[-1]
            lines.append(f"customer base on {last.day}: {last.base:,}")
            for audience_id, name in self.audiences.items():
                held = last.holdouts.get(audience_id)
                lines.append(f"  #{audience_id} {name}: {last.sizes[audience_id]:,} "
                             f"(+{last.added[audience_id]:,} / -{last.removed[audience_id]:,})"
                             + (f"; holdout {held:,}" if held else ""))
        lines += [f"  #{a} FAILED: {error}" for a, error in self.failures.items()]
        return lines


def print_progress(done: int, total: int, day: DayResult) -> None:
    """Progress for long backfills, one line per day (papermill streams it to the CLI)."""
    print(f"day {done}/{total}: {day.day} processed in {day.seconds:.1f} s "
          f"(base {day.base:,})", flush=True)


class Processing:
    def __init__(self, *, home: Home, settings: Settings, user: User, calendar: Calendar,
                 records: ProcessingRecords, audiences: AudienceRecords, snapshots: Snapshots,
                 engine: Engine, memberships: Memberships, audit: AuditTrail):
        self._audit = audit
        self._home = home
        self._settings = settings
        self._user = user
        self._calendar = calendar
        self._records = records
        self._audiences = audiences
        self._snapshots = snapshots
        self._engine = engine
        self._memberships = memberships

    # -- running --------------------------------------------------------------------------------

    def run(self, as_of: date | str | None = None, *, date_from: date | str | None = None,
            date_to: date | str | None = None, progress: Progress | None = None,
            notebook: str | None = None) -> RunReport:
        """Process one day (default: yesterday in the workbench timezone) or a range."""
        self._user.require("processing.run")
        first, last = self.days(as_of, date_from, date_to)
        with self._lock(wait=self._behind_a_backfill()):
            run_id = self._records.start_run(first, last, self._user.name)
            self._audit.record("processing.run", "processing", run_id,
                               changes={"days": [str(first) if first == last
                                                 else f"{first} to {last}"]})
            if notebook:
                self._records.set_notebook(run_id, notebook)
            try:
                with self._snapshots.pin() as snapshot:
                    report = self._run(run_id, snapshot, first, last, progress)
            except KeyboardInterrupt:  # Ctrl-C, or a stop signal turned into one by the CLI
                self._records.fail_run(run_id, STOPPED, self._active_ids())
                self._collect_garbage()
                raise
            except Exception as exc:
                message = str(exc) if isinstance(exc, WorkbenchError) else \
                    f"{exc.__class__.__name__}: {(str(exc).splitlines() or [''])[0]}"
                self._records.fail_run(run_id, message, self._active_ids())
                self._collect_garbage()
                raise ProcessingFailed(f"processing run #{run_id} failed: {message}; the "
                                       "previous results are unchanged") from exc
            # Under the lock: a later run's new files must not look like garbage to this one.
            self._collect_garbage()
        return report

    def recover(self, notebook: str, reason: str,
                audiences: list[int] | None = None) -> int | None:
        """After the process of a run died (a killed kernel): record its run as interrupted,
        naming its audit notebook, on the ``audiences`` it was processing (default: every
        active one; a backfill's: its own), and remove its files. Returns the run's id, if it
        was left running."""
        with self._lock(wait=RECOVERY_WAIT_SECONDS):
            run_id = self._records.interrupt(
                notebook, f"interrupted: {reason} (audit notebook: {notebook})",
                self._active_ids() if audiences is None else audiences)
            self._collect_garbage()
        return run_id

    def _run(self, run_id: int, snapshot: Snapshot, first: date, last: date,
             progress: Progress | None) -> RunReport:
        started = time.perf_counter()
        active, failures = self._active_audiences(snapshot)
        buckets = self._buckets(snapshot)
        tables = snapshot.tables()
        previous = {a.id: self._records.previous_day(a.id, first) for a in active}
        history, snapshots, days = [], [], []
        total = (last - first).days + 1
        carried = carried_run(self._engine, tables, self._calendar.zone, active, buckets,
                              first, last)
        for index in range(total):
            day = first + timedelta(days=index)
            if carried:
                carried.advance(day)
            result, day_snapshots = process_day(
                self._engine, self._memberships, tables, Day(day, self._calendar.zone),
                [a for a in active if a.id not in failures], buckets, previous, run_id,
                carried)
            failures |= result.failures
            days.append(result)
            snapshots += day_snapshots
            previous = {a: {"day": day, "membership": result.membership} for a in result.sizes}
            if progress:
                progress(index + 1, total, result)
        if carried:
            carried.close()
        done = [a for a in active if a.id not in failures]
        for result in days:
            history += [{"audience_id": a.id, "day": result.day, "size": result.sizes[a.id],
                         "holdout": result.holdouts[a.id],
                         "base": result.base, "added": result.added[a.id],
                         "removed": result.removed[a.id], "run_id": run_id,
                         "membership": result.membership} for a in done]
        snapshots = [s for s in snapshots if s["audience_id"] not in failures]
        # The last store write of the run: everything above can fail and leave no trace.
        errors = {a.id: failures.get(a.id) for a in active}
        self._records.commit_run(run_id, history, snapshots, len(done),
                                 self._following_days(done, last, previous), errors)
        report = RunReport(run_id, first, last, {a.id: a.name for a in done}, days,
                           failures=failures, engine=described(self._engine, carried))
        report.seconds = time.perf_counter() - started
        return report

    def _following_days(self, active, last: date, previous: dict) -> list[dict]:
        """Re-processing a past day changes what the next processed day added and removed:
        the corrected counts, committed with the run."""
        corrections = []
        for a in active:
            following = self._records.next_day(a.id, last)
            if following is None:
                continue
            plus, minus = 0, 0
            for _, p, m in compare(self._engine, self._memberships, following["membership"],
                                   previous[a.id]["membership"], [a.id]):
                plus, minus = p, m
            corrections.append({"audience_id": a.id, "day": following["day"], "added": plus,
                                "removed": minus})
        return corrections

    def _collect_garbage(self) -> None:
        self._memberships.collect_garbage(self._records.membership_files())

    # -- inputs ---------------------------------------------------------------------------------

    def days(self, as_of=None, date_from=None, date_to=None, *,
             last_days: int | None = None) -> tuple[date, date]:
        """The first and last day a run would process, checked (default: yesterday);
        ``last_days``: the N days up to yesterday."""
        given = [as_of is not None, date_from is not None or date_to is not None,
                 last_days is not None]
        if sum(given) > 1:
            raise InvalidInput("give one of a day (--as-of), a range (--from, --to) or a "
                               "number of days (--days), not several")
        if (date_from is None) != (date_to is None):
            raise InvalidInput("a range needs both --from and --to")
        day = self._calendar.day
        if last_days is not None:
            if isinstance(last_days, bool) or not isinstance(last_days, int) or \
                    not 1 <= last_days <= MAX_DAYS:
                raise InvalidInput(f"--days {last_days!r}: give a whole number of days from 1 "
                                   f"to {MAX_DAYS}")
            last = self._calendar.yesterday()
            return last - timedelta(days=last_days - 1), last
        if date_from is not None:
            first, last = day(date_from, what="--from"), day(date_to, what="--to")
            if first > last:
                raise InvalidInput(f"--from {first} is after --to {last}")
            if (last - first).days >= MAX_DAYS:
                raise InvalidInput(f"--from {first} --to {last} is {(last - first).days + 1:,} "
                                   f"days; a run processes at most {MAX_DAYS:,} (split the "
                                   "range)")
            return first, last
        single = day(as_of)
        return single, single

    def _active_ids(self) -> list[int]:
        return [row["id"] for row in self._audiences.list(status="active")]

    def _active_audiences(self, snapshot: Snapshot) -> tuple[list[ActiveAudience], dict]:
        """Every active audience, its rules checked against this snapshot's catalog; one that
        no longer checks (its data changed under it) fails alone."""
        catalog = load_catalog(snapshot, self._active_ids)
        active, failures = [], {}
        for row in self._audiences.list(status="active", sort="created"):
            holdout = 0
            try:
                definition = AudienceDefinition.parse(row["definition"], stored=True)
                holdout = definition.holdout_percent
                rules, _ = check_definition(definition, catalog, look_at_data=False)
            except InvalidDefinition as exc:
                failures[row["id"]] = str(exc)
                rules = []
            active.append(ActiveAudience(row["id"], row["name"], rules, holdout))
        return active, failures

    def _buckets(self, snapshot: Snapshot) -> list[Buckets]:
        catalog = load_catalog(snapshot, list)
        custom = []
        for name in self._settings.composition.attributes:
            attribute = catalog.get(name)
            if attribute is None or attribute.group not in ("Demographics", "Appended"):
                raise InvalidInput(f"workbench.toml [composition] attributes: {name!r} is not a "
                                   "profile or appended attribute")
            custom.append(Buckets(name, name, "top"))
        return [*DEFAULTS, *custom]

    def _behind_a_backfill(self) -> float:
        """How long to wait for the lock: an activation's backfill is waited for (a script
        that activates and then processes, or `workbench demo` then `process`, would be
        refused otherwise); any other run holding it is a refusal, as ever."""
        running = [r for r in self._records.runs(limit=5) if r["status"] == "running"
                   and "/backfill-" in (r.get("notebook") or "")]
        if not running:
            return 0
        print(f"waiting for processing run #{running[0]['id']} (a backfill started by an "
              "activation) to finish", file=sys.stderr, flush=True)
        return BACKFILL_WAIT_SECONDS

    @contextmanager
    def _lock(self, wait: float = 0):
        """The processing lock; ``wait``: seconds to wait for a holder that is ending."""
        try:
            with exclusive_lock(self._home.root / ".processing.lock", wait=wait,
                                holder=f"pid {os.getpid()}, started by {self._user.name}"):
                yield
        except Locked as held:
            raise Conflict(f"another processing run is in progress "
                           f"({held.holder or 'another process'}); try again when it has "
                           "finished") from None

    # -- reading --------------------------------------------------------------------------------

    def history(self, audience_id: int) -> pd.DataFrame:
        """Size over time: day, size, base, percent_of_base, added, removed, and of the size
        the treatment and the holdout (0 before holdouts existed, or without one)."""
        import pandas as pd

        rows = self._records.history(int(audience_id))
        frame = pd.DataFrame(rows, columns=["day", "size", "base", "added", "removed",
                                            "holdout"])
        frame["percent_of_base"] = (100 * frame["size"] / frame["base"]).round(2)
        frame["holdout"] = frame["holdout"].fillna(0).astype("int64")
        frame.insert(5, "treatment", frame["size"] - frame["holdout"])
        return frame

    def composition(self, audience_id: int, day: date | None = None,
                    attribute: str | None = None) -> pd.DataFrame:
        """Buckets with count, % of the audience, % of the total base (the bucket's members
        over the whole base), the base's own count and share of the bucket, and the index
        against the base (% of the audience over the base's share × 100; 100: as in the base,
        NaN where the base has nobody in the bucket)."""
        import pandas as pd

        audience = self._audiences.get(int(audience_id))
        day = day or audience["last_processed_on"]
        columns = ["attribute", "bucket", "count", "percent_of_audience", "percent_of_base",
                   "base_count", "base_share", "index"]
        if day is None:
            return pd.DataFrame(columns=columns)
        day = self._calendar.day(day)
        rows = self._records.composition(audience["id"], day)
        stored = self._records.day(audience["id"], day) or {"size": 0, "base": 0}
        return pd.DataFrame([{
            "attribute": r["attribute"], "bucket": r["bucket"], "count": r["count"],
            "percent_of_audience": percent(r["count"], stored["size"]) or 0.0,
            "percent_of_base": percent(r["count"], stored["base"]) or 0.0,
            "base_count": r["base_count"],
            "base_share": percent(r["base_count"], stored["base"]) or 0.0,
            "index": index_against_base(r["count"], stored["size"], r["base_count"],
                                        stored["base"])}
            for r in rows if attribute in (None, r["attribute"])], columns=columns)

    def histories(self) -> pd.DataFrame:
        """Size over time of every active audience, one frame (for overview charts)."""
        import pandas as pd

        frames = []
        for row in self._audiences.list(status="active", sort="name"):
            frame = self.history(row["id"])
            frame.insert(0, "audience", f"#{row['id']} {row['name']}")
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["audience", "day", "size", "base", "added", "removed", "treatment",
                     "holdout", "percent_of_base"])

    def runs(self, limit: int = 20) -> list[dict]:
        return self._records.runs(limit)

    def stored_members(self, audience_id: int, day: date) -> pd.DataFrame | None:
        """Members as kept by processing for that day, or None if it was not processed."""
        row = self._records.day(audience_id, day)
        if row is None:
            return None
        return self._memberships.members(row["membership"], audience_id)
