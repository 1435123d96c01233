"""``wb.processing``: process days for every active audience, and read what processing kept.

A run takes a lock (two runs never interleave), evaluates each day in one pass (evaluate.py),
writes that day's memberships to a Parquet file named by the run, and commits sizes, changes and
composition for all its days in one store transaction. Until that commit nothing is visible; if
anything fails, the run is recorded as failed, its files are removed, and the previous results
stand as they were.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..audiences.compiler import Sources
from ..audiences.definition import AudienceDefinition, check_definition
from ..audiences.models import percent
from ..errors import Conflict, InvalidInput, WorkbenchError
from ..sql import ident, lit
from ..store.audiences import AudienceRecords
from ..store.processing import ProcessingRecords
from .composition import DEFAULTS, Buckets, top_values_sql
from .evaluate import ActiveAudience, levels, pass_queries

if TYPE_CHECKING:
    import pandas as pd

    from ..app import Workbench

Progress = Callable[[int, int, "DayResult"], None]


class ProcessingFailed(WorkbenchError):
    """A processing run failed; the previous results are intact."""


@dataclass
class DayResult:
    day: date
    base: int
    sizes: dict[int, int]
    added: dict[int, int]
    removed: dict[int, int]
    membership: str  # path relative to the home
    seconds: float


@dataclass
class RunReport:
    run_id: int
    date_from: date
    date_to: date
    audiences: dict[int, str]  # id -> name
    days: list[DayResult] = field(default_factory=list)
    seconds: float = 0.0

    def frame(self) -> pd.DataFrame:
        """One row per audience and day: size, % of base, added, removed."""
        import pandas as pd

        rows = [{"day": d.day, "audience_id": a, "audience": self.audiences[a],
                 "size": d.sizes[a], "base": d.base,
                 "percent_of_base": percent(d.sizes[a], d.base),
                 "added": d.added[a], "removed": d.removed[a]}
                for d in self.days for a in self.audiences]
        return pd.DataFrame(rows)

    def lines(self) -> list[str]:
        span = (str(self.date_from) if self.date_from == self.date_to
                else f"{self.date_from} to {self.date_to}")
        lines = [f"processing run #{self.run_id}: {len(self.audiences)} active audiences, "
                 f"{len(self.days)} day(s) ({span}) in {self.seconds:.1f} s"]
        if self.days:
            last = self.days[-1]
            lines.append(f"customer base on {last.day}: {last.base:,}")
            for audience_id, name in self.audiences.items():
                lines.append(f"  #{audience_id} {name}: {last.sizes[audience_id]:,} "
                             f"(+{last.added[audience_id]:,} / -{last.removed[audience_id]:,})")
        return lines


def print_progress(done: int, total: int, day: DayResult) -> None:
    """Progress for long backfills, one line per day (papermill streams it to the CLI)."""
    print(f"day {done}/{total}: {day.day} processed in {day.seconds:.1f} s "
          f"(base {day.base:,})", flush=True)


class Processing:
    def __init__(self, wb: Workbench):
        self._wb = wb
        self._records = ProcessingRecords(wb.store)

    # -- running --------------------------------------------------------------------------------

    def run(self, as_of: date | str | None = None, *, date_from: date | str | None = None,
            date_to: date | str | None = None, progress: Progress | None = None,
            notebook: str | None = None) -> RunReport:
        """Process one day (default: yesterday in the workbench timezone) or a range."""
        self._wb.user.require("processing.run")
        first, last = self.days(as_of, date_from, date_to)
        with self._lock():
            run_id = self._records.start_run(first, last, self._wb.user.name)
            if notebook:
                self._records.set_notebook(run_id, notebook)
            written: list[Path] = []
            try:
                report = self._run(run_id, first, last, progress, written)
            except Exception as exc:
                for path in written:
                    path.unlink(missing_ok=True)
                message = str(exc) if isinstance(exc, WorkbenchError) else \
                    f"{exc.__class__.__name__}: {exc}"
                self._records.fail_run(run_id, message)
                raise ProcessingFailed(f"processing run #{run_id} failed: {message}; the "
                                       "previous results are unchanged") from exc
            # Under the lock: a later run's new files must not look like garbage to this one.
            self._collect_garbage(report)
        return report

    def _run(self, run_id: int, first: date, last: date, progress: Progress | None,
             written: list[Path]) -> RunReport:
        started = time.perf_counter()
        active = self._active_audiences()
        report = RunReport(run_id, first, last, {a.id: a.name for a in active})
        ordered = levels(active)
        buckets = self._buckets()
        previous = {a.id: self._records.previous_day(a.id, first) for a in active}
        history, snapshots = [], []
        total = (last - first).days + 1
        for index in range(total):
            day = first + timedelta(days=index)
            result, day_snapshots = self._day(run_id, day, active, ordered, buckets, previous,
                                              written, backfill=total > 1)
            report.days.append(result)
            history += [{"audience_id": a.id, "day": day, "size": result.sizes[a.id],
                         "base": result.base, "added": result.added[a.id],
                         "removed": result.removed[a.id], "run_id": run_id,
                         "membership": result.membership} for a in active]
            snapshots += day_snapshots
            previous = {a.id: {"day": day, "membership": result.membership} for a in active}
            if progress:
                progress(index + 1, total, result)
        # The last store write of the run: everything above can fail and leave no trace.
        self._records.commit_run(run_id, history, snapshots, len(active),
                                 self._following_days(active, last, previous))
        report.seconds = time.perf_counter() - started
        return report

    def _day(self, run_id, day, active, ordered, buckets, previous, written, *, backfill):
        started = time.perf_counter()
        conn, tables = self._wb.duck, self._wb.feature_tables
        features = tables.table(day)
        # A one-day run reads the events once, straight from the files; a backfill casts and
        # keys them once for all its days.
        sources = Sources(features, tables.event_table("tag_events", materialize=backfill),
                          tables.event_table("purchases", materialize=backfill))
        final = features
        for depth, query in enumerate(pass_queries(ordered, day, sources)):
            final = f"pass_{depth}"
            conn.execute(f"CREATE OR REPLACE TEMP TABLE {final} AS {query.sql('duckdb')}")
        counts = ", ".join(f"count(*) FILTER (WHERE {ident(a.column)})" for a in active)
        base, *sizes = conn.execute(
            f"SELECT count(*){', ' + counts if counts else ''} FROM {final}").fetchone()
        membership = self._write_membership(run_id, day, final, active)
        written.append(self._wb.home.root / membership)
        sizes = dict(zip([a.id for a in active], sizes, strict=True))
        added, removed = self._changes(membership, active, previous, sizes)
        snapshots = self._composition(day, features, final, active, buckets)
        result = DayResult(day, base, sizes, added, removed, membership,
                           time.perf_counter() - started)
        return result, snapshots

    def _write_membership(self, run_id: int, day: date, final: str,
                          active: list[ActiveAudience]) -> str:
        relative = f"data/results/membership/day={day}/run-{run_id}.parquet"
        path = self._wb.home.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        parts = [f"SELECT {a.id} AS audience_id, customer_id FROM {final} "
                 f"WHERE {ident(a.column)}" for a in active] or [
            "SELECT CAST(NULL AS INTEGER) AS audience_id, CAST(NULL AS VARCHAR) AS customer_id "
            "WHERE false"]
        # Written audience by audience, as the parts come: readers filter on audience_id.
        self._wb.duck.execute(f"COPY ({' UNION ALL '.join(parts)}) "
                              f"TO {lit(str(path))} (FORMAT parquet)")
        return relative

    def _changes(self, membership: str, active: list[ActiveAudience],
                 previous: dict[int, dict | None],
                 sizes: dict[int, int]) -> tuple[dict[int, int], dict[int, int]]:
        """Members added and removed since each audience's previous processed day (on its
        first day every member counts as added)."""
        added = {a.id: sizes[a.id] for a in active}
        removed = dict.fromkeys(added, 0)
        by_file: dict[str, list[int]] = {}
        for a in active:
            if previous.get(a.id) is not None:
                by_file.setdefault(previous[a.id]["membership"], []).append(a.id)
        for earlier, ids in by_file.items():
            added.update(dict.fromkeys(ids, 0))
            for audience_id, plus, minus in self._compare(membership, earlier, ids):
                added[audience_id], removed[audience_id] = plus, minus
        return added, removed

    def _compare(self, later: str, earlier: str, ids: list[int]) -> list[tuple]:
        id_list = ", ".join(str(int(i)) for i in ids)
        return self._wb.duck.execute(f"""
            SELECT coalesce(c.audience_id, p.audience_id) AS audience_id,
                   count(*) FILTER (WHERE p.customer_id IS NULL) AS added,
                   count(*) FILTER (WHERE c.customer_id IS NULL) AS removed
            FROM (SELECT * FROM {self._read(later)} WHERE audience_id IN ({id_list})) c
            FULL OUTER JOIN (SELECT * FROM {self._read(earlier)}
                             WHERE audience_id IN ({id_list})) p
              ON c.audience_id = p.audience_id AND c.customer_id = p.customer_id
            GROUP BY 1""").fetchall()

    def _read(self, membership: str) -> str:
        return f"read_parquet({lit(str(self._wb.home.root / membership))})"

    def _composition(self, day: date, features: str, final: str,
                     active: list[ActiveAudience], buckets: list[Buckets]) -> list[dict]:
        """Every attribute's buckets for every audience and the base, in one scan
        (GROUPING SETS: one grouping per attribute)."""
        buckets = [Buckets(b.attribute, b.column, "top", top=tuple(
            row[0] for row in self._wb.duck.execute(top_values_sql(features, b.column)).fetchall()))
            if b.kind == "top" and not b.top else b for b in buckets]
        joined = (f"{features} f" if final == features else
                  f"{features} f JOIN {final} p ON p._key = f._key")
        labels = ", ".join(f"{b.expression()} AS b{i}" for i, b in enumerate(buckets))
        sets = ", ".join(f"(b{i})" for i in range(len(buckets)))
        counts = "".join(f", count(*) FILTER (WHERE p.{ident(a.column)})" for a in active)
        rows = self._wb.duck.execute(f"SELECT {labels}, count(*){counts} FROM {joined} "
                                     f"GROUP BY GROUPING SETS ({sets})").fetchall()
        snapshots = []
        for i, b in enumerate(buckets):
            by_label = {row[i]: row[len(buckets):] for row in rows if row[i] is not None}
            for position, label in enumerate(b.order({k: v[0] for k, v in by_label.items()})):
                base_count, *per_audience = by_label.get(label, (0,) + (0,) * len(active))
                snapshots += [{"audience_id": a.id, "day": day, "attribute": b.attribute,
                               "bucket": label, "position": position, "count": count,
                               "base_count": base_count}
                              for a, count in zip(active, per_audience, strict=True)]
        return snapshots

    def _following_days(self, active, last: date, previous: dict) -> list[dict]:
        """Re-processing a past day changes what the next processed day added and removed:
        the corrected counts, committed with the run."""
        corrections = []
        for a in active:
            following = self._records.next_day(a.id, last)
            if following is None:
                continue
            plus, minus = 0, 0
            for _, p, m in self._compare(following["membership"], previous[a.id]["membership"],
                                         [a.id]):
                plus, minus = p, m
            corrections.append({"audience_id": a.id, "day": following["day"], "added": plus,
                                "removed": minus})
        return corrections

    def _collect_garbage(self, report: RunReport) -> None:
        """Membership files of a day that an earlier run wrote and this run replaced."""
        kept = self._records.membership_files()
        for day in report.days:
            folder = (self._wb.home.root / day.membership).parent
            for path in folder.glob("run-*.parquet"):
                if str(path.relative_to(self._wb.home.root)) not in kept:
                    path.unlink(missing_ok=True)

    # -- inputs ---------------------------------------------------------------------------------

    def days(self, as_of=None, date_from=None, date_to=None) -> tuple[date, date]:
        """The first and last day a run would process, checked (default: yesterday)."""
        if as_of is not None and (date_from or date_to):
            raise InvalidInput("give either a day (--as-of) or a range (--from, --to), not both")
        if (date_from is None) != (date_to is None):
            raise InvalidInput("a range needs both --from and --to")
        parse = self._wb.day
        if date_from is not None:
            first, last = parse(date_from), parse(date_to)
            if first > last:
                raise InvalidInput(f"--from {first} is after --to {last}")
            return first, last
        day = parse(as_of)
        return day, day

    def _active_audiences(self) -> list[ActiveAudience]:
        catalog = self._wb.catalog()
        active = []
        for row in AudienceRecords(self._wb.store).list(status="active", sort="created"):
            definition = AudienceDefinition.parse(row["definition"])
            rules, _ = check_definition(definition, catalog, look_at_data=False)
            active.append(ActiveAudience(row["id"], row["name"], rules))
        return active

    def _buckets(self) -> list[Buckets]:
        catalog = self._wb.catalog()
        custom = []
        for name in self._wb.settings.composition.attributes:
            attribute = catalog.get(name)
            if attribute is None or attribute.group not in ("Demographics", "Appended"):
                raise InvalidInput(f"workbench.toml [composition] attributes: {name!r} is not a "
                                   "profile or appended attribute")
            custom.append(Buckets(name, name, "top"))
        return [*DEFAULTS, *custom]

    @contextmanager
    def _lock(self):
        path = self._wb.home.root / ".processing.lock"
        with open(path, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise Conflict(f"another processing run is in progress ({holder}); try again "
                               "when it has finished") from None
            handle.truncate(0)
            handle.write(f"pid {os.getpid()}, started by {self._wb.user.name}")
            handle.flush()
            try:
                yield
            finally:
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- reading --------------------------------------------------------------------------------

    def history(self, audience_id: int) -> pd.DataFrame:
        """Size over time: day, size, base, percent_of_base, added, removed."""
        import pandas as pd

        rows = self._records.history(int(audience_id))
        frame = pd.DataFrame(rows, columns=["day", "size", "base", "added", "removed"])
        frame["percent_of_base"] = (100 * frame["size"] / frame["base"]).round(2)
        return frame

    def composition(self, audience_id: int, day: date | None = None,
                    attribute: str | None = None) -> pd.DataFrame:
        """Buckets with count, % of the audience, base count and % of the total base."""
        import pandas as pd

        audience = self._wb.audiences.get(audience_id)
        day = day or audience.last_processed_on
        columns = ["attribute", "bucket", "count", "percent_of_audience", "base_count",
                   "percent_of_base"]
        if day is None:
            return pd.DataFrame(columns=columns)
        day = self._wb.day(day)
        rows = self._records.composition(audience.id, day)
        stored = self._records.day(audience.id, day) or {"size": 0, "base": 0}
        return pd.DataFrame([{
            "attribute": r["attribute"], "bucket": r["bucket"], "count": r["count"],
            "percent_of_audience": percent(r["count"], stored["size"]) or 0.0,
            "base_count": r["base_count"],
            "percent_of_base": percent(r["base_count"], stored["base"]) or 0.0}
            for r in rows if attribute in (None, r["attribute"])], columns=columns)

    def histories(self) -> pd.DataFrame:
        """Size over time of every active audience, one frame (for overview charts)."""
        import pandas as pd

        frames = []
        for audience in self._wb.audiences.list(sort="name"):
            if audience.status == "active":
                frame = self.history(audience.id)
                frame.insert(0, "audience", f"#{audience.id} {audience.name}")
                frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["audience", "day", "size", "base", "added", "removed", "percent_of_base"])

    def runs(self, limit: int = 20) -> list[dict]:
        return self._records.runs(limit)

    def stored_members(self, audience_id: int, day: date) -> pd.DataFrame | None:
        """Members as kept by processing for that day, or None if it was not processed."""
        row = self._records.day(audience_id, day)
        if row is None:
            return None
        return self._wb.duck.execute(
            f"SELECT customer_id FROM {self._read(row['membership'])} "
            "WHERE audience_id = $id ORDER BY customer_id", {"id": audience_id}).df()
