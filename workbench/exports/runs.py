"""``wb.export_runs``: one run of an export, CSV → PGP → SFTP, and the run history.

A run is claimed atomically in the store before anything is written, so it is delivered once
whoever else tries. Its file is written and encrypted in a private folder of the home, uploaded
under a temporary name beside the target and renamed to its final name only when complete: no
partial file ever carries the final name. A file of that name already on the server is never
overwritten (SFTP's rename refuses it, and it is checked first): the run fails saying so.
The run records what was sent (rows, bytes, file name, as-of day, key fingerprints, where),
never a secret and never a customer row.
"""

from __future__ import annotations

import html
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import Conflict, DeliveryError, Stale, WorkbenchError
from ..files import make_private, private_folder
from .files import render_file_name

if TYPE_CHECKING:
    from ..home import Home
    from ..settings import SmtpSettings
    from ..store.runs import RunRecords
    from ..users import User
    from .destinations import Destinations, Encryptions
    from .service import Exports

# A run renews its lease every HEARTBEAT while it works; one whose lease ran out has died with
# its process and is taken over by the next claim.
LEASE = timedelta(minutes=3)
HEARTBEAT = 30.0  # seconds
CHUNK = 1 << 20


@dataclass
class Run:
    id: int
    export_id: int
    export: str
    audience: str
    state: str
    scheduled_for: datetime
    type: str
    format: str
    destination: str
    created_by: str
    attempts: int
    rows: int | None
    bytes: int | None
    as_of: date | None
    file_name: str | None
    error: str | None
    details: dict

    def to_json(self) -> dict:
        return {"id": self.id, "export_id": self.export_id, "export": self.export,
                "audience": self.audience, "state": self.state,
                "scheduled_for": self.scheduled_for.isoformat(), "type": self.type,
                "format": self.format, "destination": self.destination,
                "created_by": self.created_by, "attempts": self.attempts, "rows": self.rows,
                "bytes": self.bytes, "as_of": self.as_of and self.as_of.isoformat(),
                "file_name": self.file_name, "error": self.error, "details": self.details}

    def _repr_html_(self) -> str:
        return (f"<b>run #{self.id}</b> of {html.escape(self.export)}: {self.state} · "
                f"{self.rows if self.rows is not None else '—'} rows · "
                f"{html.escape(self.file_name or '—')}"
                + (f"<br><span style='color:#a00'>{html.escape(self.error)}</span>"
                   if self.error else ""))


class ExportRuns:
    def __init__(self, *, records: RunRecords, exports: Exports, destinations: Destinations,
                 encryptions: Encryptions, home: Home, user: User,
                 now: Callable[[], datetime], smtp: SmtpSettings | None = None):
        """``smtp``: where notifications go (workbench.toml [smtp])."""
        self._smtp = smtp
        self._records = records
        self._exports = exports
        self._destinations = destinations
        self._encryptions = encryptions
        self._home = home
        self._user = user
        self._now = now

    def create(self, export_id: int | str, *, allow_stale: bool = False) -> Run:
        """A run of ``export_id`` due now (``export run``): not yet started. Refused when the
        members it would deliver are older than its ``max_staleness_days``, unless
        ``allow_stale`` (the run records that it was allowed)."""
        self._user.require("export.run")
        export = self._exports.get(export_id)
        if "run" not in export.actions:
            raise Conflict(f"export {export.id} ({export.name}) is {export.state}; it cannot run")
        busy = [r for r in self._records.list(export.id, 20) if r["state"] == "in_progress"
                or (r["state"] == "scheduled" and r["trigger"] == "manual")]
        if busy:  # a second click on Run now would deliver the same file twice
            raise Conflict(f"export {export.id} ({export.name}) has run #{busy[0]['id']} "
                           f"{busy[0]['state'].replace('_', '-')}; wait for it to end")
        stale = self._exports.staleness(export)
        if stale and not allow_stale:
            raise Stale(f"export {export.id} ({export.name}) would deliver stale members: "
                        f"{stale}; run processing first (`workbench process`), or run it "
                        "anyway (--allow-stale)")
        run_id = self._records.create(export_id=export.id, scheduled_for=self._now(),
                                      trigger="manual", user=self._user.name,
                                      details={"allowed_stale": stale} if stale else None)
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
            raise Conflict(f"export run #{run_id} is {run.state.replace('_', '-')}: another "
                           "process has it, or it has ended; it is not delivered twice")
        if notebook:
            self._records.set(run_id, notebook=notebook)
        stop = self._refusal(run_id, attempt)
        if stop:
            self._records.finish_attempt(run_id, attempt, state=stop[0], error=stop[1])
            return self._ended(run_id)
        folder = self._home.tmp_dir / "export-runs" / f"run-{run_id}"
        shutil.rmtree(folder, ignore_errors=True)  # what a killed attempt left
        private_folder(folder)
        beat = _Heartbeat(lambda: self._records.renew(
            run_id, attempt, until=self._now() + LEASE))
        try:
            with beat:
                result = self._deliver(self._records.get(run_id), folder, attempt)
        except WorkbenchError as exc:
            self._failed(run_id, attempt, str(exc))
        except Exception as exc:  # a bug: recorded on the run, one line, never "in progress"
            self._failed(run_id, attempt, f"{exc.__class__.__name__}: "
                                          f"{(str(exc).splitlines() or [''])[0]}")
            raise
        except BaseException:  # stopped (Ctrl-C, SIGTERM): the run says so, then we stop
            self._failed(run_id, attempt, "interrupted: stopped before the delivery finished; "
                                          "nothing was renamed into place")
            self._ended(run_id)  # a run that ends Failed says so, however it stopped
            raise
        else:
            self._records.finish_attempt(run_id, attempt, state="complete", **result)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._ended(run_id)

    def _ended(self, run_id: int) -> Run:
        """The run as it is now, its recipients told if it completed or failed."""
        run = self.get(run_id)
        if run.state in ("complete", "failed"):
            self._notify(run)
            run = self.get(run_id)
        return run

    def _refusal(self, run_id: int, attempt: int) -> tuple[str, str] | None:
        """Why a claimed run must not deliver: its export was canceled (or paused, for a
        scheduled run), or its window passed while a crashed attempt held it."""
        run = self._records.get(run_id)
        export = self._exports.get(run["export_id"])
        if export.state == "canceled":
            return "canceled", "canceled: the export was canceled before this run started"
        if export.state == "paused" and run["trigger"] == "schedule":
            return "canceled", "canceled: the export was paused before this run started"
        deadline = run["scheduled_for"] + timedelta(
            minutes=export.config.schedule.cancel_after_minutes)
        if run["trigger"] == "schedule" and attempt > 1 and self._now() > deadline:
            return "failed", ("interrupted: its process stopped and its window passed before "
                              "it could be taken over")
        if run["trigger"] == "manual" and attempt > 1:
            return "failed", ("interrupted: the process that ran it stopped before it ended "
                              "(a run started by hand is one attempt)")
        return None

    def _notify(self, run: Run) -> None:
        """One e-mail to the export's recipients after a run completes or fails. A failed
        e-mail is recorded on the run and never fails the delivery."""
        recipients = self._exports.get(run.export_id).config.notify
        if not recipients or self._smtp is None:
            return
        from ..delivery.mail import send
        from .notify import run_message

        try:
            send(run_message(run, sender=self._smtp.sender, recipients=recipients,
                             sent_at=self._now()), self._smtp)
            note = f"sent to {len(recipients)} recipient(s)"
        except WorkbenchError as exc:
            note = f"not sent: {exc}"
        self._records.set(run.id, details=json.dumps({**run.details, "notification": note}))

    def _deliver(self, run: dict, folder, attempt: int) -> dict:
        export = self._exports.get(run["export_id"])
        config = export.config
        # Fresh enough for this run's day, unless the person who ran it by hand allowed it.
        stale = self._exports.staleness(export, run["scheduled_for"])
        allowed = run["trigger"] == "manual" and run["details"].get("allowed_stale")
        if stale and not allowed:
            raise Stale(f"stale: {stale}; nothing was delivered: run processing "
                        "(`workbench process`), then the export again")
        at = run["scheduled_for"].astimezone(_zone(config))
        name = render_file_name(config.file_name, at=at, audience=export.audience,
                                export=config.name, run=run["id"],
                                encrypted=bool(config.encryption))
        plain = folder / "rows.csv"
        written = self._exports.write_csv(export.id, plain)
        make_private(plain)
        payload, fingerprints = plain, []
        if config.encryption:
            from ..delivery.pgp import encrypt_file

            payload = folder / "rows.csv.pgp"
            fingerprints = encrypt_file(plain, payload,
                                        self._encryptions.armored_keys(config.encryption))
        target = self._destinations.target(config.destination)
        with open(payload, "rb") as source:
            size = _upload(target, source, name, run["id"], attempt)
        return {"rows": written.rows, "bytes": size, "as_of": written.as_of, "file_name": name,
                "details": {"destination": f"{target.host}:{target.port}{target.path}",
                            "username": target.username, "encrypted_to": fingerprints,
                            "csv_bytes": written.bytes,
                            **({"allowed_stale": stale} if stale else {})}}

    def _failed(self, run_id: int, attempt: int, error: str) -> None:
        """A scheduled run is tried again with back-off (1, 2, 4 … 60 minutes) while its window
        (``cancel_after_minutes`` after its scheduled time) lasts, then it is Failed. A run
        started by hand ("run now") is one attempt: the person who started it sees its end."""
        run = self._records.get(run_id)
        retry = None
        if run["trigger"] == "schedule":
            config = self._exports.get(run["export_id"]).config
            deadline = run["scheduled_for"] + timedelta(
                minutes=config.schedule.cancel_after_minutes)
            retry = self._now() + timedelta(minutes=min(2 ** (attempt - 1), 60))
            retry = retry if retry <= deadline else None
        if retry is None:
            self._records.finish_attempt(run_id, attempt, state="failed", error=error)
        else:
            self._records.finish_attempt(
                run_id, attempt, state="scheduled", next_attempt_at=retry, lease_until=None,
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
            config = export.config
            window = timedelta(minutes=config.schedule.cancel_after_minutes)
            since = max(filter(None, [self._records.last_scheduled(export.id),
                                      export.activated_at]))
            due = occurrences(config.schedule, after=since, until=now, limit=1000)
            planned = [(when, None if now <= when + window else
                        f"canceled: its window ({config.schedule.cancel_after_minutes} min) "
                        f"passed before it could start (the scheduler was not running at "
                        f"{when.isoformat(timespec='minutes')})") for when in due]
            made = self._records.create_scheduled(export.id, planned, self._user.name)
            if made:
                lines.append(f"export #{export.id} {export.name}: {made} run(s) created")
        self._collect_folders()
        for run in self._records.unstarted_manual(before=now - timedelta(minutes=10)):
            self._records.finish(run["id"], state="canceled", error=(
                "canceled: the process that started it stopped before it began"))
            lines.append(f"export run #{run['id']} canceled: its starter stopped")
        for run in self._records.due(now):
            if run["state"] == "scheduled" and run["attempts"] == 0:
                config = self._exports.get(run["export_id"]).config
                if now > run["scheduled_for"] + timedelta(
                        minutes=config.schedule.cancel_after_minutes):
                    self._records.finish(run["id"], state="canceled", error=(
                        "canceled: its window passed before it could start"))
                    lines.append(f"export run #{run['id']} canceled: its window passed")
        return lines

    def _collect_folders(self) -> None:
        """Work folders of runs that no process is working on (killed attempts) hold the rows
        unencrypted: remove them."""
        root = self._home.tmp_dir / "export-runs"
        for folder in root.glob("run-*") if root.exists() else []:
            try:
                state = self._records.get(int(folder.name.removeprefix("run-")))["state"]
            except (ValueError, WorkbenchError):
                state = None
            if state != "in_progress":
                shutil.rmtree(folder, ignore_errors=True)

    def due(self, now: datetime) -> list[int]:
        """Ids of the runs to start now (new, retries after back-off, taken-over crashes)."""
        return [run["id"] for run in self._records.due(now)]

    def abandon(self, run_id: int, reason: str) -> None:
        """A run whose kernel died could not record its end: the next claim takes it over
        (a retry while a scheduled run's window lasts); until then it says why."""
        self._records.set(run_id, lease_until=self._now(), error=reason[:2000])

    # -- reading --------------------------------------------------------------------------------

    def get(self, run_id: int) -> Run:
        return self._run(self._records.get(int(run_id)))

    def history(self, export_id: int | None = None, limit: int = 100) -> list[Run]:
        """Runs, newest first (each export read once, however many runs it has)."""
        exports: dict[int, object] = {}
        return [self._run(row, exports) for row in self._records.list(export_id, limit)]

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


def _zone(config):
    from zoneinfo import ZoneInfo

    return ZoneInfo(config.schedule.timezone)


def _upload(target, source, name: str, run_id: int, attempt: int = 1) -> int:
    """Upload what ``source`` reads under a temporary name beside the target, then rename it
    into place; never over a file that is there already. The temporary name is the attempt's
    own, and partial files of this run's earlier attempts (killed mid-upload) are removed
    first. Returns the bytes uploaded."""
    from ..delivery.sftp import open_sftp, translate_error

    folder = target.path.rstrip("/") or "/"
    final = f"{folder}/{name}" if folder != "/" else f"/{name}"
    stem = f".{name}.part-{run_id}"
    partial = f"{folder}/{stem}-{attempt}"
    size = 0
    with open_sftp(target) as sftp:
        try:
            for entry in sftp.listdir(folder):
                if entry.startswith(stem + "-"):
                    _remove_quietly(sftp, f"{folder}/{entry}")
            try:
                sftp.stat(final)
            except FileNotFoundError:
                pass
            else:
                raise DeliveryError(f"{final} exists already on {target.where}; it is never "
                                    "overwritten (remove it, or change the file name)")
            with sftp.open(partial, "wb") as remote:
                remote.set_pipelined(True)  # writes stream without waiting for each reply
                while chunk := source.read(CHUNK):
                    remote.write(chunk)
                    size += len(chunk)
            sftp.rename(partial, final)  # SFTP v3: refused if final exists meanwhile
        except WorkbenchError:
            _remove_quietly(sftp, partial)
            raise
        except Exception as exc:
            _remove_quietly(sftp, partial)
            raise translate_error(exc, target, final) from exc
        except BaseException:  # stopped: leave nothing of ours on the partner's server
            _remove_quietly(sftp, partial)
            raise
    return size


def _remove_quietly(sftp, path: str) -> None:
    try:
        sftp.remove(path)
    except Exception:  # already gone, or the connection is: nothing under the final name
        pass


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
