"""``wb.exports``: export configurations, their states and the actions each user may take.

Every rule lives here, once: the Manage Exports page and the export builder call exactly these
methods (and show only ``actions``), as the CLI does. Configurations are checked when they are
saved, with messages that name the field; runs are another service's work.

States: active (runs on its schedule), paused (creates no runs), canceled (read-only forever).
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from ..audit import changed, created
from ..days import parse_day
from ..delivery import location_of
from ..errors import Conflict, InvalidExport, NotFound, Problem
from .files import render_file_name
from .messages import labelled
from .models import DELIMITERS, RECORD_DELIMITERS, CsvOptions, ExportConfig
from .schedule import (
    DEFAULT_CANCEL_AFTER_MINUTES,
    MAX_CANCEL_AFTER_MINUTES,
    MAX_EVERY,
    UNITS,
    next_run,
    summary,
)
from .templates import TemplateProblem, check_template, record_fields

if TYPE_CHECKING:
    from ..audit import AuditTrail
    from ..customers.snapshot import Snapshots
    from ..memberships import Memberships
    from ..query.engine import Engine
    from ..store.audiences import AudienceRecords
    from ..store.exports import DestinationRecords, EncryptionRecords, ExportRecords
    from ..store.processing import ProcessingRecords
    from ..users import User
    from .csvfile import Written

# Who may do what, by state: the role's permission (users.PERMISSIONS) and the states it fits.
ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "edit": ("export.edit", frozenset({"active", "paused"})),
    "activate": ("export.activate", frozenset({"paused"})),
    "pause": ("export.pause", frozenset({"active"})),
    "cancel": ("export.cancel", frozenset({"active", "paused"})),
    "run": ("export.run", frozenset({"active", "paused"})),
    "preview": ("", frozenset({"active", "paused", "canceled"})),  # reading: every role
}
PROFILE_FIELDS = ("first_name", "last_name", "email", "gender", "birth_date", "home_city",
                  "home_state", "created_at", "age")


@dataclass
class Export:
    id: int
    name: str
    audience_id: int
    audience: str
    state: str
    type: str  # one-time | recurring
    repeats: str
    ends: str
    format: str
    destination: str  # its name, as every table shows it (removed: "(removed)")
    encryption: str | None
    created_by: str
    created_at: datetime
    version: int
    next_run: datetime | None
    config: ExportConfig
    actions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Runs are planned from here: the last save or state change (activating schedules the
    # next occurrence after it, never the ones missed while paused).
    activated_at: datetime | None = None
    location: str = ""  # where the destination puts files: host:port/path

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "audience_id": self.audience_id,
                "audience": self.audience, "state": self.state, "type": self.type,
                "repeats": self.repeats, "ends": self.ends, "format": self.format,
                "destination": self.destination, "location": self.location,
                "encryption": self.encryption, "created_by": self.created_by,
                "created_at": self.created_at.isoformat(),
                "version": self.version,
                "next_run": self.next_run.isoformat() if self.next_run else None,
                "actions": self.actions, "config": self.config.to_json()}

    def _repr_html_(self) -> str:
        return (f"<b>{html.escape(self.name)}</b> <small>#{self.id} · {self.state} · "
                f"{self.type} · {html.escape(self.repeats)}</small><br>audience "
                f"{html.escape(self.audience)} → {html.escape(self.destination)} "
                f"({html.escape(self.location)})"
                f"{' (PGP)' if self.encryption else ''}; next run {self.next_run or '—'}")


@dataclass
class Preview:
    file_name: str
    scheduled_for: datetime | None  # None: no next run (the file is named as if run now)
    as_of: object
    header: list[str]
    rows: list[list]
    config: ExportConfig | None = None
    stale: str | None = None  # a run now would be refused: why (Exports.staleness)

    def csv_text(self) -> str:
        """The first rows exactly as the file would hold them (its delimiters, its header)."""
        from .csvfile import csv_text

        return csv_text(self.header, self.rows, self.config)

    def to_json(self) -> dict:
        return {"file_name": self.file_name,
                "scheduled_for": self.scheduled_for and self.scheduled_for.isoformat(),
                "as_of": str(self.as_of), "header": self.header,
                "rows": [[None if v is None else str(v) for v in row] for row in self.rows],
                "stale": self.stale}

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>"
                                        for v in row) + "</tr>" for row in self.rows)
        when = self.scheduled_for or "no next run (named as if run now)"
        stale = (f"<p style='color:#a15c00'>⚠ Stale: {html.escape(self.stale)}</p>"
                 if self.stale else "")
        return (f"<p><code>{html.escape(self.file_name)}</code> at {when} "
                f"(members as of {self.as_of})</p>{stale}<table><tr>{head}</tr>{body}</table>")


@dataclass(frozen=True)
class ExportChoices:
    """What a form that edits export configurations offers and starts from: the models' own
    choices and bounds, as (label, value) where a person picks; ``new``: a new configuration."""

    units: list[str]
    max_every: int
    cancel_after_minutes: int
    max_cancel_after_minutes: int
    formats: list[tuple[str, str]]
    field_delimiters: list[tuple[str, str]]
    record_delimiters: list[tuple[str, str]]
    start_time: str
    repeat: dict
    new: dict
    timezones: list[str] = field(default_factory=list)  # the zone database's names, sorted


class Exports:
    def __init__(self, *, records: ExportRecords, audiences: AudienceRecords,
                 destinations: DestinationRecords, encryptions: EncryptionRecords, user: User,
                 snapshots: Snapshots, now: Callable[[], datetime], zone: tzinfo | None = None,
                 engine: Engine | None = None,
                 memberships: Memberships | None = None, history: ProcessingRecords | None = None,
                 audit: AuditTrail, notices=None):
        """``zone``: the workbench's, for the day whose members an export delivers;
        ``engine``, ``memberships`` and ``history``: for the rows; ``audit``: where each
        change is recorded."""
        self._audit = audit
        self._notices = notices  # NoticeRecords: the targets ``notify`` may name
        self._zone = zone or UTC
        self._engine = engine
        self._memberships = memberships
        self._history = history
        self._records = records
        self._audiences = audiences
        self._destinations = destinations
        self._encryptions = encryptions
        self._user = user
        self._snapshots = snapshots
        self._now = now

    # -- saving ---------------------------------------------------------------------------------

    def create(self, data) -> Export:
        self._user.require("export.edit")
        config = ExportConfig.parse(data)
        values = self._checked(config)
        export_id = self._records.insert(
            {**values, "state": "active" if config.active else "paused"}, user=self._user.name)
        export = self.get(export_id)
        self._record("export.create", export, created(_audited(export)))
        return export

    def update(self, export_id: int | str, data, *, version: int | None = None) -> Export:
        self._user.require("export.edit")
        stored = self._row(export_id)
        self._refuse_canceled(stored)
        before = self._export(stored)
        config = ExportConfig.parse(data)
        values = self._checked(config)
        self._records.update(stored["id"], {**values, "state": "active" if config.active
                                            else "paused"},
                             base_version=version, user=self._user.name)
        export = self.get(stored["id"])
        self._record("export.update", export, changed(_audited(before), _audited(export)))
        return export

    def check(self, data) -> list[Problem]:
        """Every problem of a configuration being edited, nothing saved:
        what the export builder shows at each field before it lets a person go on."""
        try:
            self._checked(ExportConfig.parse(data))
        except InvalidExport as exc:
            return list(exc.problems)
        return []

    def fields(self) -> list[str]:
        """The customer record's fields a column can name (the data's appended ones too)."""
        return ["customer_id"] + sorted(self._record_fields() - {"customer_id"})

    def field_labels(self) -> list[tuple[str, str]]:
        """``fields()`` as (label, name), labelled as the audience builder's catalog labels
        them ("First name", "Total spend"); a field the catalog does not know, in words."""
        from ..audiences.catalog import Catalog

        with self._snapshots.pin() as snapshot:
            catalog = Catalog.build(snapshot.appended_types())
        known = {"tags": "Tags"}
        return [((catalog.get(name).label if catalog.get(name) else
                  known.get(name, name.replace("_", " ").replace(".", " ").capitalize())), name)
                for name in self.fields()]

    def choices(self) -> ExportChoices:
        """What the export builder offers and a new export starts from."""
        systems = {"LF": "Unix", "CRLF": "Windows"}
        default_format = ExportConfig.model_fields["format"].default
        return ExportChoices(
            units=list(UNITS), max_every=MAX_EVERY,
            cancel_after_minutes=DEFAULT_CANCEL_AFTER_MINUTES,
            max_cancel_after_minutes=MAX_CANCEL_AFTER_MINUTES,
            formats=[(default_format.upper(), default_format)],
            field_delimiters=[(f"{name.title()} {char}".strip(), name)
                              for name, char in DELIMITERS.items()],
            record_delimiters=[(f"{name} ({systems[name]})", name) for name in RECORD_DELIMITERS],
            start_time="06:00", repeat={"every": 1, "unit": "weeks"},
            timezones=timezone_names(),
            # {run} in the default: a second run on one day (Run now after the scheduled
            # one) gets a name of its own, where %Y%m%d alone would collide with the first.
            new={"file_name": DEFAULT_FILE_NAME, "active": True,
                 "csv": CsvOptions().model_dump(), "columns": [{"attribute": "customer_id"}]})

    def _record_fields(self) -> set[str]:
        with self._snapshots.pin() as snapshot:
            appended = list(snapshot.appended_types())
        return record_fields(PROFILE_FIELDS, appended)

    def next_file_name(self, data: dict) -> str:
        """The file name the next run of a configuration being edited would get (its name,
        audience and schedule may still be incomplete: placeholders stand in)."""
        from ..ids import parse_id
        from .models import parse_model
        from .schedule import Schedule

        schedule = parse_model(Schedule, data.get("schedule") or {}, "schedule")
        start = schedule.start.replace(tzinfo=schedule.zone)
        at = next_run(schedule, after=self._now()) or start
        audience = self._audiences.get(parse_id(data.get("audience"), "audience"))
        return render_file_name(data.get("file_name") or "", at=at.astimezone(schedule.zone),
                                audience=audience["name"], export=data.get("name") or "export",
                                run="next", encrypted=bool(data.get("encryption")))

    def _checked(self, config: ExportConfig) -> dict:
        """Everything the shape cannot say, every problem at once."""
        problems = []
        audience = self._audience(config.audience, problems)
        destination = self._named(self._destinations, config.destination, "destination",
                                  problems)
        encryption = (self._named(self._encryptions, config.encryption, "encryption", problems)
                      if config.encryption else None)
        problems += self._column_problems(config)
        problems += _group_problems(config, audience)
        problems += self._notice_problems(config)
        at = next_run(config.schedule, after=self._now())
        if at is None and config.active:
            problems.append(Problem("schedule", "no run after now (the start, or the end of "
                                    "the repeats, has passed); change the dates or save it "
                                    "paused"))
        try:
            # At the next run, and on the day whose names are longest (Wednesday, September):
            # a name that fits today must fit on every day it will be rendered.
            for when in (at or _start(config), (at or _start(config)).replace(
                    year=2027, month=9, day=1, hour=23, minute=59, second=59)):
                name = render_file_name(config.file_name, at=when,
                                        audience=audience["name"] if audience else "audience",
                                        export=config.name, run=9_999_999_999,
                                        encrypted=bool(config.encryption), change="removed")
                _check_set_names(config, name)
        except ValueError as exc:
            problems.append(Problem("file_name", str(exc)))
        problems += self._changes_problems(config)
        problems += _split_problems(config, audience)
        if problems:
            raise InvalidExport.listing(labelled(problems))
        return {"name": config.name, "audience_id": audience["id"],
                "destination_id": destination["id"],
                "encryption_id": encryption["id"] if encryption else None,
                "config": json.dumps(config.to_json())}

    def _changes_problems(self, config: ExportConfig) -> list[Problem]:
        """A changes-only export names its removed members by their customer id, and "both"
        delivers two files that need two names."""
        from .files import has_placeholder
        from .templates import plain_field

        problems = []
        if config.changes in ("removed", "both", "column"):
            fields = self._record_fields()
            if not any((c.attribute or plain_field(c.template or "", fields)) == "customer_id"
                       for c in config.columns):
                problems.append(Problem("changes", f'"{config.changes}" delivers removed '
                                        "members by their customer id alone: add the column "
                                        "customer_id"))
        if config.changes == "removed" and not has_placeholder(config.file_name, "change"):
            # The first run (and the first after a full one) delivers the full list: under a
            # removals file's name a partner would drop everyone in it.
            problems.append(Problem("file_name", '"removed" delivers the full list first (no '
                                    "delivery to measure against yet): put {change} in the "
                                    "file name so that list is never read as removals"))
        if config.changes == "both" and not has_placeholder(config.file_name, "change"):
            problems.append(Problem("file_name", '"both" delivers two files (added and '
                                    "removed): put {change} in the file name so they have "
                                    "names of their own"))
        return problems

    def _audience(self, audience_id: int, problems: list[Problem]) -> dict | None:
        try:
            row = self._audiences.get(audience_id)
        except NotFound:
            problems.append(Problem("audience", f"no audience with id {audience_id}"))
            return None
        if row["status"] != "active":
            problems.append(Problem("audience", f"audience {audience_id} ({row['name']}) is "
                                    f"{row['status']}; only active audiences are exported"))
        return row

    @staticmethod
    def _named(records, name: str, what: str, problems: list[Problem]) -> dict | None:
        try:
            return records.get(name)
        except NotFound:
            known = ", ".join(repr(r["name"]) for r in records.list()) or "none yet"
            problems.append(Problem(what, f"no {what} named {name!r} (known: {known})"))
            return None

    def _notice_problems(self, config: ExportConfig) -> list[Problem]:
        """A ``notify`` entry without "@" names a webhook or Slack notice target that exists."""
        names = [entry for entry in config.notify if "@" not in entry]
        if not names or self._notices is None:
            return []
        from .notices import PARALLEL

        known = [row["name"] for row in self._notices.list()]
        problems = [Problem("notify", f"{name!r} is neither an e-mail address nor a notice "
                            f"target (targets: {', '.join(repr(k) for k in known) or 'none yet'})")
                    for name in names if name not in known]
        if len(names) > PARALLEL:
            # All of a run's targets are told at once, so its notices take at most 35 s (a
            # scheduler waits for them before its next run); more would queue behind hangs.
            problems.append(Problem("notify", f"names {len(names)} notice targets; at most "
                                    f"{PARALLEL} an export"))
        return problems

    def _column_problems(self, config: ExportConfig) -> list[Problem]:
        fields = self._record_fields()
        problems = []
        for position, column in enumerate(config.columns):
            where = f"columns.{position}"
            if column.attribute is not None and column.attribute not in fields:
                problems.append(Problem(f"{where}.attribute",
                                        f"unknown attribute {column.attribute!r}; "
                                        f"known: {', '.join(sorted(fields))}"))
            if column.template is not None:
                try:
                    check_template(column.template, fields)
                except TemplateProblem as exc:
                    problems.append(Problem(f"{where}.template", str(exc)))
        return problems

    # -- states ---------------------------------------------------------------------------------

    def activate(self, export_id: int | str) -> Export:
        return self._move(export_id, "activate", "active")

    def pause(self, export_id: int | str) -> Export:
        return self._move(export_id, "pause", "paused")

    def cancel(self, export_id: int | str) -> Export:
        return self._move(export_id, "cancel", "canceled")

    def _move(self, export_id: int | str, action: str, state: str) -> Export:
        permission, states = ACTIONS[action]
        self._user.require(permission)
        row = self._row(export_id)
        self._refuse_canceled(row)
        if row["state"] not in states:
            raise Conflict(f"export {row['id']} ({row['name']}) is {row['state']}; "
                           f"{action} applies to {' or '.join(sorted(states))} exports")
        config = ExportConfig.parse(row["config"])
        if state == "active" and next_run(config.schedule, after=self._now()) is None:
            raise Conflict(f"export {row['id']} ({row['name']}) has no run after now; edit "
                           "its schedule first")
        config = config.model_copy(update={"active": state == "active"})
        self._records.update(row["id"], {"state": state, "config": json.dumps(config.to_json())},
                             base_version=row["version"], user=self._user.name)
        export = self.get(row["id"])
        self._record(f"export.{action}", export, {"state": [row["state"], state]})
        return export

    def _record(self, action: str, export: Export, changes: dict) -> None:
        self._audit.record(action, "export", export.id, audience_id=export.audience_id,
                           export_id=export.id, changes=changes)

    def actions(self, export: Export, upcoming: datetime | None = None) -> list[str]:
        """What the current user may do with this export now (the UI shows only these).
        ``upcoming``: its next occurrence, when the caller has it already."""
        ahead = (upcoming or next_run(export.config.schedule, after=self._now())) is not None
        return [name for name, (permission, states) in ACTIONS.items()
                if export.state in states and (not permission or self._user.can(permission))
                and (name != "activate" or ahead)]

    @staticmethod
    def _refuse_canceled(row: dict) -> None:
        if row["state"] == "canceled":
            raise Conflict(f"export {row['id']} ({row['name']}) is canceled; a canceled "
                           "export never changes again (create a new one)")

    # -- freshness ------------------------------------------------------------------------------

    def staleness(self, export: int | str | Export | ExportConfig,
                  at: datetime | None = None) -> str | None:
        """Why a run of ``export`` at ``at`` (default: now) must not deliver: its audience's
        last processing is more than ``max_staleness_days`` before that day (in the
        workbench timezone, where processing counts days). None when fresh enough, and when
        never processed (the rows say that themselves)."""
        from ..freshness import stale_reason

        config = (export.config if isinstance(export, Export) else export
                  if isinstance(export, ExportConfig) else self.get(export).config)
        audience = self._audiences.get(config.audience)
        processed: date | None = audience["last_processed_on"]
        if processed is None:
            return None
        day = (at or self._now()).astimezone(self._zone).date()
        reason = stale_reason(processed, day, config.max_staleness_days)
        return reason and f"audience {audience['id']} ({audience['name']}) is {reason}"

    # -- preview --------------------------------------------------------------------------------

    def preview(self, export: int | str | dict | ExportConfig, limit: int = 20) -> Preview:
        """The next run's file name and the first rows as they would be written, from the
        audience's last processing; nothing is delivered. ``export``: a saved export's id, or
        a configuration being edited (checked first)."""
        from .rows import render

        config = self._config(export)
        canceled = not isinstance(export, dict | ExportConfig) and \
            self._row(export)["state"] == "canceled"
        upcoming = None if canceled else next_run(config.schedule, after=self._now())
        with self.rows(config) as (audience, day, query, plan):
            records = self._engine.dicts(query.limit(limit))
        # No next run (canceled, or the schedule has ended): the name it would get if run now.
        at = (upcoming or self._now()).astimezone(_start(config).tzinfo)
        name = render_file_name(config.file_name, at=at, audience=audience["name"],
                                export=config.name, run="next",
                                encrypted=bool(config.encryption))
        return Preview(file_name=name, scheduled_for=upcoming and at,
                       as_of=day, header=[column.header for column in config.columns],
                       rows=list(render(records, plan)), config=config,
                       stale=self.staleness(config))

    def write_csv(self, export: int | str | dict | ExportConfig, target: Path, *,
                  day: date | None = None) -> Written:
        """Write the export's whole file (unencrypted) to ``target``: its rows and bytes.
        ``day``: the members of that processed day (a run's pinned as-of day) rather than of
        the last processing."""
        from .csvfile import write_csv

        config = self._config(export)
        with self.rows(config, day=day) as (_audience, day, query, plan):
            written = write_csv(self._engine, config, query, plan, target)
        written.as_of = day
        return written

    def write_member_ids(self, export: int | str | ExportConfig, target: Path, *,
                         day: date | None = None) -> date:
        """The sorted customer ids the export's file holds as of ``day`` (default: the last
        processing), as a Parquet file: what a changes-only run measures against next time.
        Its as-of day."""
        from .changes import member_ids

        config = self._config(export)
        with self._membership(config, day) as (audience, day, table, group):
            self._engine.write_parquet(member_ids(table, audience["id"], group), target)
        return day

    def write_changes(self, export: int | str | ExportConfig, target: Path, *, day: date,
                      kind: str, now: Path, baseline: Path | None) -> Written:
        """Write a changes-only file: ``kind`` "added" or "removed" (the ids in ``now`` and
        not in ``baseline``, or the other way round), or "column" (both, with the ``change``
        column last). ``now`` and ``baseline``: id files (``write_member_ids``); without a
        baseline every member is added. Removed members' rows hold their customer id only."""
        from . import changes
        from .csvfile import write_csv
        from .models import ExportColumn

        config = self._config(export)

        def rows(left: Path, right: Path | None):
            members = None if right is None else changes.difference(
                str(left), str(right), config.audience)
            return self.rows(config, day=day, members=members)

        with ExitStack() as held:
            plan, parts = [], []
            if kind in ("added", "column"):
                _, _, added, plan = held.enter_context(rows(now, baseline))
                parts.append(added if kind == "added" else changes.marked(added, "added"))
            if kind in ("removed", "column") and baseline is not None:
                _, _, removed, plan = held.enter_context(rows(baseline, now))
                removed = changes.only_ids(removed)
                parts.append(removed if kind == "removed" else
                             changes.marked(removed, "removed"))
            if kind == "column":
                config = config.model_copy(update={"columns": [*config.columns, ExportColumn(
                    attribute=changes.CHANGE_COLUMN, label=changes.CHANGE_COLUMN)]})
                plan = [*plan, changes.CHANGE_COLUMN]
            written = write_csv(self._engine, config, changes.in_order(*parts), plan, target)
        written.as_of = day
        return written

    @contextmanager
    def rows(self, config: ExportConfig, *, day: date | None = None, members=None):
        """The audience, its processed day (``day``, default: the last), and the query and
        plan of the export's rows, with that day's membership file and one data snapshot held
        while the caller reads. ``members``: another membership relation (customer_id,
        audience_id: a changes-only file's ids), already of the export's group."""
        from ..customers.features import Day
        from .rows import rows_query

        with self._membership(config, day) as (audience, day, table, group), \
                self._snapshots.pin() as snapshot:
            tables = snapshot.tables()
            if members is not None:  # a changes-only file: those ids' data alone
                from .changes import restricted
                from .rows import needed_fields

                table, group = members, None
                tables = restricted(tables, members, needed_fields(
                    config, record_fields(PROFILE_FIELDS, tables.appended_columns)))
            query, plan = rows_query(config, tables,
                                     Day(day, self._zone), table, audience["id"],
                                     PROFILE_FIELDS, group)
            yield audience, day, query, plan

    @contextmanager
    def _membership(self, config: ExportConfig, day: date | None = None):
        """The audience, the day, its membership file (held while the caller reads) and the
        condition on its rows of the export's group."""
        from ..memberships import in_group

        audience = self._audiences.get(config.audience)
        day = day or audience["last_processed_on"]
        if day is None:
            raise InvalidExport.listing([Problem(
                "audience", f"audience {audience['id']} ({audience['name']}) has not been "
                "processed yet; an export delivers the members of its last processing")])
        processed = self._history.day(audience["id"], day)
        if processed is None:
            raise NotFound(f"audience {audience['id']} ({audience['name']}) has no processed "
                           f"day {day} (its members were pinned to that day by an earlier "
                           "attempt of this run)")
        group = in_group(config.group, flagged=processed.get("holdout") is not None)
        with self._memberships.reading(processed["membership"]) as table:
            yield audience, day, table, group

    def _config(self, export: int | str | dict | ExportConfig) -> ExportConfig:
        if isinstance(export, dict | ExportConfig):
            config = ExportConfig.parse(export)
            self._checked(config)
            return config
        return ExportConfig.parse(self._row(export)["config"])

    # -- reading --------------------------------------------------------------------------------

    def get(self, export_id: int | str) -> Export:
        return self._export(self._row(export_id))

    def list(self, audience: int | None = None) -> list[Export]:
        rows = self._records.list(audience_id=audience) if audience else self._records.list()
        return [self._export(row) for row in rows]

    def _row(self, export_id: int | str) -> dict:
        from ..ids import parse_id

        return self._records.get(parse_id(export_id, "export"))

    def _export(self, row: dict) -> Export:
        config = ExportConfig.parse(row["config"])
        described = summary(config.schedule)
        upcoming = next_run(config.schedule, after=self._now())
        destination = _optional_row(self._destinations, row["destination_id"])
        encryption = _optional_row(self._encryptions, row["encryption_id"])
        export = Export(
            id=row["id"], name=row["name"], audience_id=row["audience_id"],
            audience=self._audiences.get(row["audience_id"])["name"], state=row["state"],
            type=described["type"], repeats=described["repeats"], ends=described["ends"],
            format=config.format,
            destination=destination["name"] if destination else "(removed)",
            location=location_of(destination) if destination else "",
            encryption=(encryption or {}).get("name", "(removed)") if row["encryption_id"]
            else None, created_by=row["created_by"], created_at=row["created_at"],
            version=row["version"],
            activated_at=_aware(row["updated_at"]),
            next_run=upcoming if row["state"] == "active" else None, config=config)
        export.actions = self.actions(export, upcoming)
        if encryption and row["state"] == "active":
            export.warnings = self._expiring_keys(config, encryption, upcoming)
        export.warnings += name_warnings(config)
        return export

    def _expiring_keys(self, config: ExportConfig, encryption: dict,
                       upcoming: datetime | None) -> list[str]:
        """A key of its encryption that has expired, or expires before its next run or one of
        its runs of the next 30 days: said now, not found out by a failed run."""
        from datetime import timedelta

        from .schedule import occurrences

        now = self._now()
        runs = occurrences(config.schedule, after=now, until=now + timedelta(days=EXPIRY_DAYS))
        if not runs and upcoming:  # a one-time or sparse schedule: its next run, however far
            runs = [upcoming]
        warnings = []
        for key in json.loads(encryption["key_info"] or "[]"):
            if not key.get("expires"):
                continue
            expires = parse_day(key["expires"])
            if expires <= now.astimezone(self._zone).date():
                warnings.append(f"encryption {encryption['name']}: key "
                                f"{key['fingerprint'][-16:]} expired on {expires}: every run "
                                "fails until a renewed key replaces it")
                continue
            late = [run for run in runs if run.astimezone(self._zone).date() >= expires]
            if late:
                warnings.append(
                    f"encryption {encryption['name']}: key {key['fingerprint'][-16:]} expires "
                    f"on {expires}, before the run of {late[0]:%Y-%m-%d %H:%M} "
                    f"({len(late)} run(s) up to {max(runs):%Y-%m-%d} would fail); add a "
                    "renewed key to the encryption")
        return warnings


EXPIRY_DAYS = 30
DEFAULT_FILE_NAME = "{audience}_%Y%m%d_{run}.csv"


def _check_set_names(config: ExportConfig, name: str) -> None:
    """A split file's part names and its manifest's name are plain file names too."""
    from .files import check_plain
    from .fileset import manifest_name, part_name

    if config.split is not None:
        check_plain(part_name(name, 1000, 1000))
    if config.split is not None or config.changes == "both":
        check_plain(manifest_name(name))


def name_warnings(config: ExportConfig) -> list[str]:
    """A compressed file whose name does not say so (``….csv`` holding gzip): said, with the
    name it should rather have; the name is never changed behind the person's back."""
    from .fileset import suggested_name

    better = config.compression and suggested_name(config.file_name, config.compression)
    if not better:
        return []
    return [f"file_name: {config.file_name} is compressed with {config.compression} but its "
            f"name does not say so; suggested: {better}"]


def timezone_names() -> list[str]:
    """The names a schedule's time zone may take, as the time-zone picker offers them (the
    zone database's files that are not zones left out, as ``Schedule`` refuses them)."""
    from zoneinfo import available_timezones

    return sorted(set(available_timezones()) - {"localtime", "Factory", "posixrules"})


def _audited(export: Export) -> dict:
    """What the trail says of an export: its state and its configuration as saved (the
    changed settings are named by their path, ``schedule.time``)."""
    return {"state": export.state, **export.config.to_json()}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite keeps no zone


def _optional_row(records, row_id):
    if row_id is None:
        return None
    try:
        return records.get(row_id)
    except NotFound:  # removed after the export that used it was canceled
        return None


def _start(config: ExportConfig) -> datetime:
    from zoneinfo import ZoneInfo

    return config.schedule.start.replace(tzinfo=ZoneInfo(config.schedule.timezone))


def _group_problems(config: ExportConfig, audience: dict | None) -> list[Problem]:
    """A holdout export of an audience without a holdout would deliver empty files for good
    (the percent is frozen with the audience): refused when saved."""
    if config.group != "holdout" or audience is None:
        return []
    if json.loads(audience["definition"]).get("holdout_percent", 0):
        return []
    return [Problem("group", f"audience {audience['id']} ({audience['name']}) has no holdout "
                    "(holdout_percent 0), so a holdout export would be empty; use treatment")]


def _split_problems(config: ExportConfig, audience: dict | None) -> list[Problem]:
    """A split by rows that would cut the audience as last processed into more parts than a
    file may have (``MAX_PARTS``) is refused when saved; a run checks again (the audience may
    grow, and a split by bytes is known only once the file is written) and fails before it
    sends anything."""
    from .models import MAX_PARTS

    if config.split is None or config.split.rows is None or audience is None:
        return []
    size, holdout = audience.get("size") or 0, audience.get("holdout_size") or 0
    members = holdout if config.group == "holdout" else size - holdout
    parts = -(-members // config.split.rows)
    if parts <= MAX_PARTS:
        return []
    return [Problem("split.rows", f"{config.split.rows:,} rows a part would cut the "
                    f"{members:,} members of audience {audience['id']} ({audience['name']}) "
                    f"into {parts:,} parts; at most {MAX_PARTS:,} parts a file: give at least "
                    f"{-(-members // MAX_PARTS):,} rows")]
