"""``wb.export_runs``: one run of an export, CSV → PGP → SFTP, and the run history.

A run is claimed atomically in the store before anything is written, so it is delivered once
whoever else tries, and an export has at most one unfinished run started by hand (the store
refuses a second). Its file is written and encrypted in a private folder of the home, then
uploaded (``upload.py``): under a temporary name, renamed into place only when complete. The
rename is the commit point: what the final name will hold (name, bytes, SHA-256) is recorded
just before it, recording the result after it keeps trying while the store is busy (for as
long as the lease), and an attempt that takes over a run whose process died first looks on
the server: a file that is there, whole, makes the run Complete; it is never sent twice.
The run records what was sent (rows, bytes, file name, as-of day, key fingerprints, where),
never a secret and never a customer row.

A run may deliver several files (changes-only "both", numbered parts, then a manifest last):
each is uploaded as above, one after the other, and staged with the files renamed before it.
An attempt that takes over finds which are there, sends only the rest (never one twice), with
the rows of the as-of day and baseline the first staged upload pinned; the run is Complete
once the last file of its set is on the server. A changes-only run keeps the ids it delivers
up to (``changes.py``) before its first upload; they become the export's baseline only when
the run is recorded Complete.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from ..days import parse_day
from ..delivery.upload import Staged, delivered, sweep, upload
from ..errors import (
    Busy,
    Conflict,
    DeliveryError,
    NotFound,
    RenameUncertain,
    Stale,
    StoreError,
    Unrecorded,
    WorkbenchError,
)
from ..files import make_private, private_folder
from ..run_states import Run, RunState
from .changes import labels
from .csvfile import Written
from .files import render_file_name
from .fileset import (
    SUFFIXES,
    CompressedFile,
    TooManyParts,
    compress_file,
    manifest,
    manifest_name,
    part_name,
    split_csv,
)
from .models import MAX_PARTS
from .notify import addressed, run_message, sent_note, unsent_note, unsent_reason
from .schedule import cancel_deadline

if TYPE_CHECKING:
    import pandas as pd

    from ..audit import AuditTrail
    from ..home import Home
    from ..settings import SmtpSettings
    from ..store.runs import RunRecords
    from ..users import User
    from .destinations import Destinations, Encryptions
    from .service import Exports

# A run renews its lease every HEARTBEAT while it works; one whose lease ran out has died with
# its process and is taken over by the next claim.
LEASE = timedelta(minutes=3)
# How a run's reason says it ran out of time (its schedule's cancel_after_minutes), said once.
WINDOW_PASSED = "its window passed"
HEARTBEAT = 30.0  # seconds
# ``wb.export_runs.frame()``'s columns (a run's JSON form, details and errors' traces aside).
FRAME_COLUMNS = ["id", "export_id", "export", "audience", "state", "scheduled_for", "type",
                 "format", "destination", "created_by", "attempts", "rows", "bytes", "as_of",
                 "file_name", "error"]
SWEEP_EVERY = 600.0  # seconds between two sweeps of one destination by one process


class ExportRuns:
    def __init__(self, *, records: RunRecords, exports: Exports, destinations: Destinations,
                 encryptions: Encryptions, home: Home, user: User,
                 now: Callable[[], datetime], audit: AuditTrail,
                 smtp: SmtpSettings | None = None, notices=None):
        """``smtp``: where notifications go (workbench.toml [smtp]); ``audit``: where runs
        made and canceled are recorded."""
        self._audit = audit
        self._smtp = smtp
        self._notices = notices  # Notices: the webhook / Slack targets ``notify`` names
        self._records = records
        self._exports = exports
        self._destinations = destinations
        self._encryptions = encryptions
        self._home = home
        self._user = user
        self._now = now
        self._swept: dict[str, float] = {}  # destination -> when this process last swept it

    def create(self, export_id: int | str, *, allow_stale: bool = False) -> Run:
        """A run of ``export_id`` due now (``export run``): not yet started. Refused when the
        members it would deliver are older than its ``max_staleness_days``, unless
        ``allow_stale`` (the run records that it was allowed)."""
        self._user.require("export.run")
        export = self._exports.get(export_id)
        if "run" not in export.actions:
            raise Conflict(f"export {export.id} ({export.name}) is {export.state}; it cannot run")
        stale = self._exports.staleness(export)
        if stale and not allow_stale:
            raise Stale(f"export {export.id} ({export.name}) would deliver stale members: "
                        f"{stale}; run processing first (`workbench process`), or run it "
                        "anyway (--allow-stale)")
        try:  # a second click on Run now would deliver the same file twice: the store refuses
            run_id = self._records.create_by_hand(
                export_id=export.id, scheduled_for=self._now(), user=self._user.name,
                details={"allowed_stale": stale} if stale else None)
        except Conflict as exc:
            raise Conflict(f"{exc} (export {export.id}, {export.name})") from None
        self._audit.record("run.start", "run", run_id, audience_id=export.audience_id,
                           export_id=export.id, changes={"state": ["scheduled"], **(
                               {"allowed_stale": [stale]} if stale else {})})
        return self.get(run_id)

    def execute(self, run_id: int, *, notebook: str | None = None) -> Run:
        """Claim the run and deliver it; the run ends Complete or Failed (with the reason), or
        is scheduled again for a retry. While it works its lease is renewed (a heartbeat), so a
        live run is never taken over; everything it records is conditional on still holding
        the run."""
        self._user.require("export.run")
        attempt = self._records.claim(run_id, lease=LEASE, now=self._now())
        if attempt is None:
            run = self.get(run_id)
            raise Conflict(f"export run #{run_id} is {run.state.label}: another "
                           "process has it, or it has ended; it is not delivered twice")
        if notebook:
            self._records.set(run_id, notebook=notebook)
        earlier = self._found_delivered(run_id, attempt) if attempt > 1 else _Earlier()
        if earlier.complete:
            return self._ended(run_id)
        stop = self._refusal(run_id, attempt)
        if stop:
            self._finish_refused(run_id, attempt, *stop, unknown=earlier.unknown,
                                 delivered=earlier.files)
            return self._ended(run_id)
        folder = self._home.tmp_dir / "export-runs" / f"run-{run_id}"
        shutil.rmtree(folder, ignore_errors=True)  # what a killed attempt left
        private_folder(folder)
        beat = _Heartbeat(lambda: self._records.renew(
            run_id, attempt, until=self._now() + LEASE))
        ledger = _Ledger(self._records, run_id, attempt, self._live)
        try:
            with beat:
                result = self._deliver(self._records.get(run_id), folder, ledger, earlier)
                self._commit(run_id, attempt, result)
        except (Unrecorded, RenameUncertain) as exc:  # maybe delivered: never Failed
            run = self.get(run_id)
            run.error = str(exc)
            return run
        except BaseException as exc:
            if ledger.staged and not isinstance(exc, WorkbenchError):
                raise  # stopped at or after the rename: the next attempt looks on the server
            disk = _local_disk_error(exc, self._home.root)
            if disk:  # the home's disk, not a bug: Failed in one line, no traceback
                self._failed(run_id, attempt, disk)
                return self._ended(run_id)
            if not isinstance(exc, WorkbenchError):
                self._stopped(run_id, attempt, exc)
                raise
            self._failed(run_id, attempt, str(exc))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._ended(run_id)

    def _stopped(self, run_id: int, attempt: int, exc: BaseException) -> None:
        """A bug, or a stop (Ctrl-C, SIGTERM), before the rename: recorded on the run in one
        line, never left "in progress"; a stopped run says so by e-mail too."""
        if isinstance(exc, Exception):
            self._failed(run_id, attempt, f"{exc.__class__.__name__}: "
                                          f"{(str(exc).splitlines() or [''])[0]}")
            return
        self._failed(run_id, attempt, "interrupted: stopped before the delivery finished; "
                                      "nothing was renamed into place")
        self._ended(run_id)

    def _commit(self, run_id: int, attempt: int, result: dict) -> None:
        """Record a delivered run Complete. The file is on the server under its final name:
        a busy store is waited for while the lease lasts (the heartbeat keeps it), then the
        run is left to the next attempt, which finds the file there."""
        deadline = time.monotonic() + LEASE.total_seconds()
        while True:
            try:
                # False: this attempt lost the run meanwhile; the one that took it over finds
                # the file on the server and records it.
                if self._records.finish_attempt(run_id, attempt, "complete", partial=None,
                                                error=None, next_attempt_at=None, **result):
                    self._prune_delivered(run_id)
                return
            except (Busy, StoreError) as exc:
                if time.monotonic() >= deadline:
                    raise Unrecorded(
                        f"export run #{run_id} is in-progress: its file reached the server as "
                        f"{result['file_name']}, but recording that failed ({exc}); the next "
                        "attempt (the scheduler, once its lease has run out) finds the file "
                        "there and records it Complete; do not run it again") from None
                time.sleep(2)

    def _found_delivered(self, run_id: int, attempt: int) -> _Earlier:
        """Taking over a run whose process died: which of its files reached the server. Each
        file whose rename answered is delivered (the next file is staged only after it); the
        one staged last is looked for on the server (size, then SHA-256). When that is the
        last of its set and there, whole, the run is recorded Complete and nothing is sent
        again; otherwise the attempt delivers the rest (``_deliver``), with the as-of day and
        baseline the first attempt pinned. ``unknown``: the server could not be asked (a retry
        fails there too, or a run by hand ends Failed saying to look)."""
        run = self._records.get(run_id)
        staged = run["details"].get("staged")
        if not staged:
            return _Earlier()
        confirmed = list(staged.get("delivered", []))
        earlier = _Earlier(files=confirmed, pinned=staged.get("pinned"))
        export = self._exports.get(run["export_id"])
        try:
            there = delivered(self._destinations.target(export.config.destination),
                              Staged.of(staged))
        except WorkbenchError:
            earlier.unknown = True
            return earlier
        if not there:
            return earlier
        confirmed.append(_delivered_file(staged, staged))
        if not staged.get("last", True):
            return earlier
        result = _result(confirmed, as_of=staged["as_of"], details=staged["details"])
        result["details"]["recorded_by"] = (f"attempt {attempt}, which found the file on the "
                                            "server (the attempt that renamed it could not "
                                            "record it)")
        self._commit(run_id, attempt, result)
        earlier.complete = True
        return earlier

    def _finish_refused(self, run_id: int, attempt: int, move: str, error: str, *,
                        unknown: bool, delivered: list[dict]) -> None:
        run = self._records.get(run_id)
        staged = run["details"].get("staged") or {}
        if unknown:  # staged, and the server could not be asked whether the rename happened
            error += (f"; its file may have reached the server as "
                      f"{staged['file_name']} (the server could not be "
                      "asked): look there before running it again")
        if delivered:  # files of a set, never its manifest
            error += (f"; {len(delivered)} file(s) of its set reached the server without "
                      "the manifest (an incomplete set, for the partner to ignore): "
                      + ", ".join(f["file_name"] for f in delivered))
        self._records.finish_attempt(run_id, attempt, move, error=error)
        if run["partial"]:  # what its killed attempt left: removed now if the server answers
            self.sweep(force=True)

    def _ended(self, run_id: int) -> Run:
        """The run as it is now, its recipients told if it completed or failed."""
        run = self.get(run_id)
        if run.state in (RunState.COMPLETE, RunState.FAILED):
            self._notify(run)
            run = self.get(run_id)
        return run

    def _refusal(self, run_id: int, attempt: int) -> tuple[str, str] | None:
        """Why a claimed run must not deliver, and the move that ends it: its export was
        canceled (or paused, for a scheduled run), or its window passed while a crashed
        attempt held it."""
        run = self._records.get(run_id)
        export = self._exports.get(run["export_id"])
        if export.state == "canceled":
            return "refuse", "canceled: the export was canceled before this run started"
        if export.state == "paused" and run["trigger"] == "schedule":
            return "refuse", "canceled: the export was paused before this run started"
        schedule = export.config.schedule
        if run["trigger"] == "schedule" and attempt > 1 and \
                self._now() > cancel_deadline(run["scheduled_for"], schedule):
            return "fail", (f"interrupted: its process stopped and {WINDOW_PASSED} "
                            "before it could be taken over")
        if run["trigger"] == "manual" and attempt > 1:
            return "fail", ("interrupted: the process that ran it stopped before it ended "
                            "(a run started by hand is one attempt)")
        return None

    def _notify(self, run: Run) -> None:
        """One e-mail to the export's recipients after a run completes or fails, and a notice
        to each webhook / Slack target it names. Recorded on the run either way: sent, or why
        not (no SMTP host configured, the server's refusal, HTTP 500 after 3 tries); a failed
        notice never fails the delivery (the run is recorded before)."""
        recipients, targets = addressed(self._exports.get(run.export_id).config.notify)
        if targets and self._notices is not None:
            notices = self._notices.send(run, targets)  # never raises
            self._records.set(run.id, details=json.dumps({**run.details, "notices": notices}))
            run.details = {**run.details, "notices": notices}
        if not recipients:
            return
        reason = unsent_reason(recipients, self._smtp.host if self._smtp else None)
        if reason is None:
            from ..delivery.mail import send

            try:
                send(run_message(run, sender=self._smtp.sender, recipients=recipients,
                                 sent_at=self._now()), self._smtp)
                note = sent_note(len(recipients))
            except WorkbenchError as exc:
                note = unsent_note(str(exc))
        else:
            note = unsent_note(reason)
        self._records.set(run.id, details=json.dumps({**run.details, "notification": note}))

    def _deliver(self, run: dict, folder: Path, ledger: _Ledger, earlier: _Earlier) -> dict:
        """Write the run's files (the full list, or its changes), compress, split, encrypt and
        upload each, then the manifest of a set last; every upload recorded in ``ledger``.
        Files an earlier attempt delivered are not sent again: the rows are those of the
        as-of day and baseline it pinned."""
        export = self._exports.get(run["export_id"])
        config = export.config
        # Fresh enough for this run's day, unless the person who ran it by hand allowed it.
        stale = self._exports.staleness(export, run["scheduled_for"])
        allowed = run["trigger"] == "manual" and run["details"].get("allowed_stale")
        if stale and not allowed:
            raise Stale(f"stale: {stale}; nothing was delivered: run processing "
                        "(`workbench process`), then the export again")
        at = run["scheduled_for"].astimezone(_zone(config))
        pinned = earlier.pinned or {"as_of": None, "baseline": self._baseline(export.id)
                                    if config.changes != "full" else None}
        pieces, as_of = self._written(export, run["id"], folder, pinned)
        pinned = {**pinned, "as_of": as_of.isoformat()}
        keys = self._encryptions.armored_keys(config.encryption) if config.encryption else None
        target = self._destinations.target(config.destination)
        details = {"destination": target.location,
                   "username": target.username, "encrypted_to": [],
                   "csv_bytes": sum(p.written.bytes for p in pieces), "changes": config.changes,
                   # A changes-only run: the ids it delivers up to (the next baseline once
                   # it is Complete), and the run whose delivery it measured against.
                   **({"members": f"run-{run['id']}.parquet", "baseline": pinned["baseline"]}
                      if config.changes != "full" else {}),
                   **({"allowed_stale": stale} if stale else {})}
        named = dict(at=at, audience=export.audience, export=config.name, run=run["id"],
                     encrypted=bool(config.encryption))
        many = config.split is not None or config.changes == "both"
        parts = [part for piece in pieces for part in self._parts(
            piece, config, folder, render_file_name(config.file_name, change=piece.change,
                                                    **named))]
        done = {f["file_name"]: f for f in earlier.files}
        missing = set(done) - {part.name for part in parts}
        if missing:  # its name or its split was edited since they were sent
            raise DeliveryError(
                f"an earlier attempt delivered {', '.join(sorted(missing))}, which this attempt "
                "would not deliver (the export was edited since): the set cannot be "
                "completed; nothing more was sent")
        files: list[dict] = []
        for part in parts:
            if part.name in done:  # an earlier attempt delivered it: never twice
                files.append(_same_rows(done[part.name], part))
                continue
            payload = part.path
            if keys:
                from ..delivery.pgp import encrypt_file

                payload = part.path.with_name(part.path.name + ".pgp")
                details["encrypted_to"] = encrypt_file(part.path, payload, keys)
            files.append(_send(target, payload, part.name, ledger, {
                "rows": part.rows, "as_of": pinned["as_of"], "details": details,
                "change": part.change, "part": part.number, "pinned": pinned,
                "delivered": list(files), "last": not many}))
            for local in {part.path, payload}:
                local.unlink(missing_ok=True)
        if many:  # the manifest, last: the partner's sign that the set is complete
            name = manifest_name(render_file_name(
                config.file_name, change="changes" if config.changes == "both"
                else pieces[0].change, **named))
            path = folder / "manifest.json"
            path.write_bytes(manifest(
                export={"id": export.id, "name": export.name}, run=run["id"],
                scheduled_for=at.isoformat(timespec="seconds"), as_of=pinned["as_of"],
                change=config.changes, files=files))
            files.append(_send(target, path, name, ledger, {
                "rows": None, "as_of": pinned["as_of"], "details": details,
                "change": "manifest", "part": None, "pinned": pinned,
                "delivered": list(files), "last": True}))
        return _result(files, as_of=pinned["as_of"], details=details)

    def _written(self, export, run_id: int, folder: Path, pinned: dict
                 ) -> tuple[list[_Piece], date]:
        """The run's CSV files, unencrypted, in the private work folder: the full list, or
        its changes against the pinned baseline (``changes``). A changes-only run first keeps
        the ids it delivers up to (its baseline once it is Complete)."""
        config = export.config
        day = parse_day(pinned["as_of"]) if pinned["as_of"] else None
        if config.changes == "full":
            written = self._exports.write_csv(export.id, folder / "full.csv", day=day)
            make_private(folder / "full.csv")
            return [_Piece("full", folder / "full.csv", written)], written.as_of
        now = self._delivered_folder(export.id) / f"run-{run_id}.parquet"
        day = self._exports.write_member_ids(export.id, now, day=day)
        baseline = None
        if pinned["baseline"] is not None:
            baseline = self._delivered_folder(export.id) / f"run-{pinned['baseline']}.parquet"
            damage = _unreadable(baseline)
            if damage:
                raise DeliveryError(
                    f"changes: the record of what run #{pinned['baseline']} delivered "
                    f"(data/exports/export-{export.id}/{baseline.name}) {damage}; this run "
                    "measures its changes against it, so nothing was delivered (a full list "
                    "would be read as changes): restore the file from a backup of the home, "
                    'or run the export once with changes "full" (the next changes-only run '
                    "then starts from the full list)")
        pieces = []
        for change in labels(config.changes, first=baseline is None):
            path = folder / f"{change}.csv"
            if change == "full":
                written = self._exports.write_csv(export.id, path, day=day)
            else:
                written = self._exports.write_changes(
                    export.id, path, day=day, now=now, baseline=baseline,
                    kind="column" if change == "changes" else change)
            make_private(path)
            pieces.append(_Piece(change, path, written))
        return pieces, day

    @staticmethod
    def _parts(piece: _Piece, config, folder: Path, name: str) -> list[_Part]:
        """One CSV as the files it is delivered as: compressed, and split into numbered parts
        (each with the header) when the export says so."""
        suffix = SUFFIXES.get(config.compression, "")
        if config.split is None:
            path = piece.path
            if config.compression:
                path = piece.path.with_name(piece.path.name + suffix)
                compress_file(config.compression, piece.path, path)
                piece.path.unlink()
            return [_Part(name, piece.change, None, piece.written.rows, path)]

        def open_part(number: int):
            path = folder / f"{piece.change}-{number}.csv{suffix}"
            return path, CompressedFile(config.compression, path)

        try:
            parts = split_csv(piece.path, rows=config.split.rows, size=config.split.bytes,
                              header=config.csv.header, open_part=open_part,
                              max_parts=MAX_PARTS)
        except TooManyParts:  # before any upload: nothing of the run was sent
            rows = piece.written.rows
            split = (f"{config.split.rows:,} rows" if config.split.rows
                     else f"{config.split.bytes:,} bytes")
            raise DeliveryError(
                f"split: parts of at most {split} would cut the {piece.change} file "
                f"({rows:,} rows) into more than {MAX_PARTS:,} parts, the most a file may "
                f"have; nothing was delivered: make the parts larger"
                + (f" (at least {-(-rows // MAX_PARTS):,} rows)" if config.split.rows else "")
                ) from None
        piece.path.unlink()
        return [_Part(part_name(name, p.number, len(parts)), piece.change, p.number, p.rows,
                      p.path) for p in parts]

    def _delivered_folder(self, export_id: int) -> Path:
        """Where an export's changes-only runs keep the ids they delivered."""
        return private_folder(self._home.root / "data" / "exports" / f"export-{export_id}")

    def _baseline(self, export_id: int) -> int | None:
        """The run whose delivered ids a changes-only run measures against: the export's run
        recorded Complete last, if it kept them (a full run keeps none: after it, the next
        changes-only run delivers the full list again)."""
        last = self._records.last_complete(export_id)
        if last is None or not last["details"].get("members"):
            return None
        # Kept or not: a run whose baseline file is gone fails saying so (``_written``), as
        # the full list in an "added" or "removed" file would be read as changes.
        return last["id"]

    def _prune_delivered(self, run_id: int) -> None:
        """Once a run is Complete, its export keeps only the baseline and what unfinished
        runs write or measure against. Tidiness: what fails here is left for the next."""
        try:
            self._prune(self._records.get(run_id)["export_id"])
        except Exception:  # the run is Complete whatever happens to old id files
            pass

    def _prune(self, export_id: int) -> None:
        folder = self._home.root / "data" / "exports" / f"export-{export_id}"
        if not folder.exists():
            return
        keep = {f"run-{self._baseline(export_id)}.parquet"}
        files = list(folder.glob("run-*.parquet"))
        for path in files:
            try:
                run = self._records.get(int(path.stem.removeprefix("run-")))
            except (ValueError, NotFound):
                continue
            if run["state"] in (RunState.SCHEDULED, RunState.IN_PROGRESS):
                pinned = (run["details"].get("staged") or {}).get("pinned") or {}
                keep |= {path.name, f"run-{pinned.get('baseline')}.parquet"}
        for run in self._records.list(export_id=export_id):
            if run["state"] == RunState.IN_PROGRESS and \
                    not (run["details"].get("staged") or {}).get("pinned"):
                # It chose its baseline but has not recorded which yet (it is still writing
                # its files): any of them may be it. The next run to complete prunes.
                return
        for path in files:
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def _live(self, run_id: int, attempt: int) -> bool:
        """Whether an attempt still works on its run (its temporary file is kept)."""
        return self._records.live(run_id, attempt, self._now())

    def sweep(self, *, force: bool = False) -> list[str]:
        """Remove the temporary files that attempts which died left on their servers (each
        destination asked at most every 10 minutes by one process, unless ``force``); what
        cannot be removed now stays recorded for the next sweep. One line per removal."""
        lines = []
        by_destination: dict[str, list[dict]] = {}
        for run in self._records.with_partial(self._now()):
            destination = self._exports.get(run["export_id"]).config.destination
            by_destination.setdefault(destination, []).append(run)
        swept = self._swept
        for destination, runs in by_destination.items():
            if not force and time.monotonic() - swept.get(destination, -SWEEP_EVERY) \
                    < SWEEP_EVERY:
                continue
            swept[destination] = time.monotonic()
            try:
                target = self._destinations.target(destination)
            except NotFound:  # removed since: nothing left to reach
                removed = []
            else:
                try:
                    removed = sweep(target, self._records.workbench_id(), self._live)
                except WorkbenchError:
                    continue  # unreachable: the next sweep tries again
            for run in runs:
                self._records.set(run["id"], partial=None)
            lines += [f"removed {name} left on {destination} by a stopped run"
                      for name in removed]
        return lines

    def _failed(self, run_id: int, attempt: int, error: str) -> None:
        """A scheduled run is tried again with back-off (1, 2, 4 … 60 minutes) while its window
        (``cancel_after_minutes`` after its scheduled time) lasts, then it is Failed. A run
        started by hand ("run now") is one attempt: the person who started it sees its end."""
        run = self._records.get(run_id)
        retry = None
        if run["trigger"] == "schedule":
            schedule = self._exports.get(run["export_id"]).config.schedule
            retry = self._now() + timedelta(minutes=min(2 ** (attempt - 1), 60))
            retry = retry if retry <= cancel_deadline(run["scheduled_for"], schedule) else None
        if retry is None:
            self._records.finish_attempt(run_id, attempt, "fail", error=error)
        else:
            self._records.finish_attempt(
                run_id, attempt, "retry", next_attempt_at=retry, lease_until=None,
                error=f"attempt {attempt} failed, retrying at "
                      f"{retry.isoformat(timespec='minutes')}: {error}")

    def plan(self, now: datetime) -> list[str]:
        """Runs for every occurrence of the active exports' schedules up to ``now``, each made
        once; an occurrence whose window passed before it could start is Canceled with the
        reason. Scheduled runs whose window passed without a start are Canceled too."""
        from .schedule import occurrences

        lines = []
        for export in self._exports.list():
            if export.state != "active":
                continue  # paused and canceled exports create no runs
            schedule = export.config.schedule
            since = max(filter(None, [self._records.last_scheduled(export.id),
                                      export.activated_at]))
            due = occurrences(schedule, after=since, until=now, limit=1000)
            planned = [(when, None if now <= cancel_deadline(when, schedule) else
                        f"canceled: {WINDOW_PASSED} before it could start (the "
                        f"scheduler was not running at {when.isoformat(timespec='minutes')})")
                       for when in due]
            made = self._records.create_scheduled(export.id, planned, self._user.name)
            if made:
                lines.append(f"export #{export.id} {export.name}: {made} run(s) created")
                self._audit.record("run.schedule", "export", export.id,
                                   audience_id=export.audience_id, export_id=export.id,
                                   changes={"runs_created": [made]})
        self._collect_folders()
        lines += self.sweep()
        return lines + self._cancel_unstarted(now)

    def _cancel_unstarted(self, now: datetime) -> list[str]:
        """Cancel the runs that will never start: started by hand by a process that stopped
        before claiming them, or scheduled and not begun before their window passed."""
        lines = []
        for run in self._records.unstarted_manual(before=now - timedelta(minutes=10)):
            if self._records.cancel(run["id"], "canceled: the process that started it "
                                               "stopped before it began"):
                lines.append(f"export run #{run['id']} canceled: its starter stopped")
                self._canceled(run, "its starter stopped")
        for run in self._records.due(now):
            if run["state"] == RunState.SCHEDULED and run["attempts"] == 0:
                schedule = self._exports.get(run["export_id"]).config.schedule
                reason = f"{WINDOW_PASSED} before it could start"
                if now > cancel_deadline(run["scheduled_for"], schedule) and \
                        self._records.cancel(run["id"], f"canceled: {reason}"):
                    lines.append(f"export run #{run['id']} canceled: {reason}")
                    self._canceled(run, reason)
        return lines

    def _canceled(self, run: dict, reason: str) -> None:
        export = self._exports.get(run["export_id"])
        self._audit.record("run.cancel", "run", run["id"], audience_id=export.audience_id,
                           export_id=export.id,
                           changes={"state": [run["state"], "canceled"], "reason": [reason]})

    def _collect_folders(self) -> None:
        """Work folders of runs that no process is working on (killed attempts) hold the rows
        unencrypted: remove them."""
        root = self._home.tmp_dir / "export-runs"
        for folder in root.glob("run-*") if root.exists() else []:
            try:
                state = self._records.get(int(folder.name.removeprefix("run-")))["state"]
            except (ValueError, WorkbenchError):
                state = None
            if state != RunState.IN_PROGRESS:
                shutil.rmtree(folder, ignore_errors=True)

    def due(self, now: datetime) -> list[int]:
        """Ids of the runs to start now (new, retries after back-off, taken-over crashes)."""
        return [run["id"] for run in self._records.due(now)]

    def abandon(self, run_id: int, reason: str) -> None:
        """A run whose kernel died could not record its end: the next claim takes it over
        (at once: its lease is over; a retry while a scheduled run's window lasts); until then
        it says why."""
        self._records.set(run_id, lease_until=self._now() - timedelta(seconds=1),
                          error=reason[:2000])

    def started_by_hand(self, run_id: int) -> bool:
        return self._records.get(run_id)["trigger"] == "manual"

    def claimed_in(self, run_id: int, notebook: str) -> bool:
        """Whether the attempt executed in ``notebook`` claimed the run (``execute`` records
        its notebook on claiming): a kernel that failed to start, or died first, did not."""
        return self._records.get(run_id)["notebook"] == notebook

    # -- reading --------------------------------------------------------------------------------

    def get(self, run_id: int) -> Run:
        return self._run(self._records.get(int(run_id)))

    def history(self, export_id: int | None = None, limit: int = 100) -> list[Run]:
        """Runs, newest first (each export read once, however many runs it has)."""
        exports: dict[int, object] = {}
        return [self._run(row, exports) for row in self._records.list(export_id, limit)]

    def frame(self, export_id: int | None = None, limit: int = 100) -> pd.DataFrame:
        """``history`` as a DataFrame, one row per run (``FRAME_COLUMNS``), newest first: the
        state as its word, rows and bytes as nullable integers (``<NA>`` before a file)."""
        import pandas as pd

        rows = [{k: getattr(run, k) for k in FRAME_COLUMNS} | {"state": run.state.value}
                for run in self.history(export_id, limit)]
        frame = pd.DataFrame(rows, columns=FRAME_COLUMNS)
        for column in ("id", "export_id", "attempts", "rows", "bytes"):
            frame[column] = frame[column].astype("Int64")
        return frame

    def _run(self, row: dict, exports: dict | None = None) -> Run:
        exports = {} if exports is None else exports
        if row["export_id"] not in exports:
            exports[row["export_id"]] = self._exports.get(row["export_id"])
        export = exports[row["export_id"]]
        return Run(id=row["id"], export_id=row["export_id"], export=export.name,
                   audience=export.audience, state=row["state"],
                   scheduled_for=row["scheduled_for"], type=export.type, format=export.format,
                   destination=export.config.destination, created_by=row["created_by"],
                   attempts=row["attempts"], rows=row["rows"], bytes=row["bytes"],
                   as_of=row["as_of"], file_name=row["file_name"], error=row["error"],
                   details=row["details"])


class _Ledger:
    """One attempt's upload as its run records it (``upload.Ledger``): ``staged`` once what
    the final name will hold is recorded, from when the file may be in place."""

    def __init__(self, records: RunRecords, run_id: int, attempt: int,
                 live: Callable[[int, int], bool]):
        self._records = records
        self.workbench = records.workbench_id()
        self.run_id, self.attempt, self.live = run_id, attempt, live
        self.sent: dict = {}  # rows, as-of day and details of the file, recorded with it
        self.staged = False

    def writing(self, path: str | None) -> None:
        self._records.set(self.run_id, partial=path)

    def staging(self, staged: Staged) -> None:
        if not self._records.stage(self.run_id, self.attempt,
                                   {**staged.to_json(), **self.sent}):
            raise Conflict(f"export run #{self.run_id} was taken over by another process "
                           "before its file was renamed into place; nothing was renamed")
        self.staged = True


def _zone(config):
    from zoneinfo import ZoneInfo

    return ZoneInfo(config.schedule.timezone)


class _Heartbeat:
    """Renews a run's lease from a thread while the run works (a long COPY or upload never
    looks dead); stops with the block."""

    def __init__(self, renew: Callable[[], bool]):
        import threading

        self._renew = renew
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                if not self._renew():
                    return  # the run was taken over: nothing more to renew
            except Exception:  # a busy store: the next beat tries again
                continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class _Earlier:
    """What an attempt taking over a run finds of the attempts before it."""

    files: list[dict] = field(default_factory=list)  # delivered, in order
    pinned: dict | None = None  # the as-of day and baseline the first staged upload used
    complete: bool = False  # every file of the run is there: recorded Complete
    unknown: bool = False  # the server could not be asked about the file staged last


@dataclass
class _Piece:
    change: str  # what {change} says of it
    path: Path
    written: Written


@dataclass
class _Part:
    name: str
    change: str
    number: int | None  # its part number; None: not split
    rows: int
    path: Path


def _send(target, path: Path, name: str, ledger: _Ledger, sent: dict) -> dict:
    """Upload one file of the run as ``name``, ``sent`` recorded with it when it is staged;
    the file as the run records it."""
    ledger.sent = sent
    with open(path, "rb") as source:
        staged = upload(target, source, name, ledger)
    return _delivered_file(sent, staged)


def _delivered_file(sent: dict, staged) -> dict:
    """A file of the run as the run records it (``details["files"]``) and the manifest
    lists it: as it is on the server."""
    staged = staged.to_json() if isinstance(staged, Staged) else staged
    return {"file_name": staged["file_name"], "change": sent.get("change", "full"),
            "part": sent.get("part"), "rows": sent["rows"], "bytes": staged["bytes"],
            "sha256": staged["sha256"]}


def _local_disk_error(exc: BaseException, home: Path) -> str | None:
    """What to record when the home's disk refused the run's files (full, read-only, not
    writable): a reason in one line naming the folder, or None for anything else."""
    import errno

    reasons = {errno.ENOSPC: "is full", errno.EDQUOT: "is over its quota",
               errno.EROFS: "is read-only", errno.EACCES: "is not writable",
               errno.EPERM: "is not writable"}
    if not isinstance(exc, OSError) or exc.errno not in reasons:
        return None
    where = "the home's disk"
    if exc.filename:
        try:
            path = Path(exc.filename)
            where = f"the home's folder {(path if path.is_dir() else path.parent).relative_to(home)}"
        except ValueError:
            return None  # not the home's: someone else's error, said as it is
    return (f"{where} {reasons[exc.errno]} ({exc.strerror}) while the run wrote its files; "
            "nothing was delivered: make room (or fix its permissions) and run it again")


def _unreadable(path: Path) -> str | None:
    """Why a baseline's id file cannot be measured against (gone, or not a Parquet file of
    ids: damaged on disk), or None."""
    if not path.exists():
        return "is gone from the home"
    try:
        import pyarrow.parquet as pq

        pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - any reason: the file is not what the run wrote
        return "is damaged (not a readable Parquet file)"
    return None


def _same_rows(delivered: dict, part: _Part) -> dict:
    """A file an earlier attempt delivered, if this attempt would write the same rows."""
    if delivered["rows"] != part.rows:
        raise DeliveryError(
            f"{part.name} reached the server in an earlier attempt with {delivered['rows']:,} "
            f"rows; this attempt would write {part.rows:,} (the members of the pinned day "
            "changed since): the set cannot be completed; nothing more was sent")
    part.path.unlink(missing_ok=True)
    return delivered


def _result(files: list[dict], *, as_of: str | None, details: dict) -> dict:
    """What a delivered run records: every file (``details["files"]``), the rows of its data
    files, the bytes of all; its file name is its manifest's, or its one file's."""
    data = [f for f in files if f["change"] != "manifest"]
    return {"rows": sum(f["rows"] for f in data), "bytes": sum(f["bytes"] for f in files),
            "as_of": parse_day(as_of) if as_of else None, "file_name": files[-1]["file_name"],
            "details": {**details, "sha256": files[-1]["sha256"], "files": files}}
