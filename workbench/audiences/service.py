"""``wb.audiences``: lifecycle (create, update, activate, duplicate, archive), reads (get, list)
and evaluation (estimate, members, explain), with SPEC 8 permissions enforced here.

The service receives what it uses: its store records, the user, the calendar, and for evaluation
the snapshots, the engine and the membership files. Each evaluation is one job: it pins one
snapshot of customer data, parses and checks the definition once, and reads only that snapshot.
Reads of the list never touch customer data: what they show is stored with the audience.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING

from ..audit import changed, created
from ..errors import Conflict, IngestError, InvalidDefinition, InvalidInput, NotFound, Problem, Unordered
from ..freshness import behind, days_behind
from ..ids import parse_id
from ..store.audiences import AudienceRecords
from .catalog import Catalog
from .definition import AudienceDefinition, CheckedRule, check_definition, references
from .logic import BOOLEANS, combine, tree
from .models import Audience, Estimate, Explanation, GroupCheck, RuleCheck
from .overlap import Overlap, chosen_ids
from .plan import Plan, reachable
from .sorts import SORTS
from .summary import describe, group_text, summarize

if TYPE_CHECKING:
    import pandas as pd

    from ..audit import AuditTrail
    from ..customers.snapshot import Snapshot, Snapshots
    from ..days import Calendar
    from ..memberships import Memberships
    from ..query.engine import Engine
    from ..store.processing import ProcessingRecords
    from ..users import User
    from .compiler import Compiled
    from .kept import Kept

DefinitionLike = AudienceDefinition | dict | str
STATUSES = ("draft", "active", "archived")
STATUS_WORDS = {"active": "live", "draft": "a draft", "archived": "archived"}


@dataclass(frozen=True)
class Job:
    """One evaluation's view of the world: a pinned snapshot and its catalog."""

    snapshot: Snapshot
    catalog: Catalog


class Audiences:
    def __init__(self, *, records: AudienceRecords, history: ProcessingRecords, user: User,
                 calendar: Calendar, snapshots: Snapshots, engine: Engine,
                 memberships: Memberships, audit: AuditTrail,
                 exported_by: Callable[[int], list[dict]] = lambda _audience_id: [],
                 activated: Callable[[int], object] = lambda _audience_id: None,
                 kept: Kept | None = None):
        """``exported_by(id)``: the exports, not canceled, that deliver an audience; ``audit``:
        where each change is recorded; ``activated(id)``: what follows an activation (the
        backfill of its history, started in the background); ``kept``: the tables a kernel
        keeps between estimates (kept.py), None where each estimate stands alone."""
        self._kept = kept
        self._exported_by = exported_by
        self._activated = activated
        self._audit = audit
        self._records = records
        self._history = history
        self._user = user
        self._calendar = calendar
        self._snapshots = snapshots
        self._engine = engine
        self._memberships = memberships

    @contextmanager
    def job(self, day: date | None = None) -> Iterator[Job]:
        """Pin a snapshot for the length of one job (a builder keeps one per refresh)."""
        # Imported here: listing and showing audiences never need the query side (SQLGlot).
        from ..customers.features import Day
        from .discovery import load_catalog

        with self._snapshots.pin() as snapshot:
            yield Job(snapshot, load_catalog(
                snapshot, self._active_ids, self._engine,
                Day(day or self._calendar.yesterday(), self._calendar.zone)))

    # -- lifecycle ------------------------------------------------------------------------------

    def create(self, definition: DefinitionLike) -> Audience:
        """Save a new draft; the current user is its creator."""
        return self._create(definition, "audience.create", {})

    def _create(self, definition: DefinitionLike, action: str, origin: dict) -> Audience:
        self._user.require("audience.edit")
        definition = AudienceDefinition.parse(definition)
        with self.job() as job:
            checked, warnings = self._check(definition, job.catalog)
            summary = self._summary(checked, job.catalog)
        audience_id = self._records.insert(
            name=definition.name, description=definition.description,
            definition=definition.to_json(), summary=json.dumps(summary), user=self._user.name,
            today=self._calendar.today())
        audience = self.get(audience_id)
        self._audit.record(action, "audience", audience.id, audience_id=audience.id,
                           changes={**origin, **created(_audited(audience))})
        return replace(audience, warnings=warnings + self._same_name(audience))

    def update(self, audience_id: int | str, definition: DefinitionLike, *, version: int) -> Audience:
        """Save an edit of a draft made on ``version``; refused if it changed since."""
        self._user.require("audience.edit")
        audience_id = as_id(audience_id)
        definition = AudienceDefinition.parse(definition)
        before = self.get(audience_id)
        with self.job() as job:
            checked, warnings = self._check(definition, job.catalog, editing=audience_id)
            summary = self._summary(checked, job.catalog)
        self._records.update_definition(
            audience_id, name=definition.name, description=definition.description,
            definition=definition.to_json(), summary=json.dumps(summary), base_version=version,
            user=self._user.name)
        audience = self.get(audience_id)
        self._audit.record("audience.update", "audience", audience_id, audience_id=audience_id,
                           changes=changed(_audited(before), _audited(audience)))
        return replace(audience, warnings=warnings + self._same_name(audience))

    def save_draft(self, definition: DefinitionLike) -> Audience:
        """Save ``definition`` as the current user's draft of that name: the newest such draft
        is updated, or a new one is created when there is none (a notebook run again keeps
        one draft, not one per run)."""
        definition = AudienceDefinition.parse(definition)
        mine = [row for row in self._named(definition.name)
                if row["status"] == "draft" and row["created_by"] == self._user.name]
        if not mine:
            return self.create(definition)
        draft = max(mine, key=lambda row: row["id"])
        return self.update(draft["id"], definition, version=draft["version"])

    def _named(self, name: str) -> list[dict]:
        """The stored audiences called ``name`` (case and surrounding spaces aside)."""
        wanted = name.strip().casefold()
        return [row for row in self._records.list(search=name, sort="created")
                if row["name"].strip().casefold() == wanted]

    def _same_name(self, audience: Audience) -> list[Problem]:
        """A warning, not a refusal, when another audience (archived ones aside) has the
        saved one's name: names need not be unique, but two alike are hard to tell apart in
        the list, in rules and in exports."""
        others = [row for row in self._named(audience.name)
                  if row["id"] != audience.id and row["status"] != "archived"]
        if not others:
            return []
        which = ", ".join(f"#{row['id']} ({STATUS_WORDS.get(row['status'], row['status'])})"
                          for row in others)
        return [Problem("name", f"another audience is already called “{audience.name}”: "
                                f"{which}; a different name tells them apart")]

    def activate(self, audience_id: int | str, *, version: int | None = None,
                 backfill: bool = True) -> Audience:
        """Freeze a draft; today (workbench timezone) becomes its inception date.
        ``backfill=False``: no history of the days before (`workbench demo`, whose setup
        processes them itself)."""
        self._user.require("audience.activate")
        current = self.get(audience_id)
        if current.status != "draft":
            raise Conflict(f"audience {current.id} ({current.name}) is already "
                           f"{current.status}")
        with self.job() as job:
            self._check(current.definition, job.catalog, editing=current.id, look=False)
        self._records.activate(current.id, base_version=version or current.version,
                               user=self._user.name, today=self._calendar.today())
        self._audit.record("audience.activate", "audience", current.id, audience_id=current.id,
                           changes={"status": [current.status, "active"]})
        activated = self.get(current.id)
        try:  # after the commit: the backfill reads it as active
            log = self._activated(current.id) if backfill else None
        except OSError as exc:  # activated all the same: only its history waits
            activated.warnings.append(Problem("backfill", f"not started ({exc.strerror or exc}); "
                                      "`workbench process --from D1 --to D2` fills its history"))
        else:
            if log:
                activated.warnings.append(Problem("backfill", "the days before today are being "
                                          f"processed in the background (log: {log})"))
        return activated

    def archive(self, audience_id: int | str) -> Audience:
        """Retire an active audience: it is no longer processed, keeps its history and stays
        read-only. Refused while an active audience still uses it in a rule."""
        self._user.require("audience.archive")
        audience_id = as_id(audience_id)
        users = [row for row in self._records.list(status="active")
                 if audience_id in self._reads(row)]
        if users:
            names = ", ".join(f"{row['id']} ({row['name']})" for row in users)
            raise Conflict(f"audience {audience_id} is used by active audience(s) {names}; "
                           "archive those first")
        exports = self._exported_by(audience_id)
        if exports:
            names = ", ".join(f"{row['id']} ({row['name']})" for row in exports)
            raise Conflict(f"audience {audience_id} is delivered by export(s) {names}; cancel "
                           "them first (an archived audience is no longer processed)")
        self._records.archive(audience_id, user=self._user.name, today=self._calendar.today())
        self._audit.record("audience.archive", "audience", audience_id, audience_id=audience_id,
                           changes={"status": ["active", "archived"]})
        return self.get(audience_id)

    def duplicate(self, audience_id: int | str, name: str | None = None) -> Audience:
        """A new draft with the same rules (the way to change an active audience)."""
        source = self.get(audience_id)
        copy = source.definition.model_copy(update={"name": name or f"Copy of {source.name}"})
        return self._create(copy, "audience.duplicate", {"copied_from": [source.id]})

    # -- reads (the store only) -------------------------------------------------------------------

    def actions(self, audience: Audience | None = None) -> list[str]:
        """What the current user may do with ``audience`` in its state: exactly what the
        methods below would not refuse (what the UI offers). No audience: a new draft (the
        dashboard's Create, the builder's Save and Activate)."""
        user, status = self._user, audience.status if audience else "draft"
        rules = {"edit": status == "draft" and user.can("audience.edit"),
                 "activate": status == "draft" and user.can("audience.activate"),
                 "duplicate": user.can("audience.edit"),
                 "archive": status == "active" and user.can("audience.archive"),
                 "export": status == "active" and user.can("export.edit")}
        return [name for name, allowed in rules.items() if allowed]

    def get(self, audience_id: int | str) -> Audience:
        return self._audience(self._records.get(as_id(audience_id)))

    def referable(self, editing: int | None = None) -> list[Audience]:
        """The audiences a rule of audience ``editing`` may name, by name: only active ones,
        never itself (``check`` refuses the rest)."""
        return [a for a in self.list(sort="name") if a.status == "active" and a.id != editing]

    def list(self, search: str = "", sort: str = "-created",
             status: str | None = None) -> list[Audience]:
        """``status``: only the audiences in it (draft, active or archived; None: all)."""
        if sort not in SORTS:
            raise InvalidInput(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
        if status not in (None, *STATUSES):
            raise InvalidInput(f"unknown status {str(status)[:40]!r}; use one of "
                               f"{', '.join(STATUSES)}")
        return [self._audience(row)
                for row in self._records.list(search=search, sort=sort, status=status)]

    def frame(self, search: str = "", sort: str = "-created",
              status: str | None = None) -> pd.DataFrame:
        """The dashboard's list as a DataFrame. Sizes are nullable integers (``Int64``):
        an audience not processed yet has ``<NA>``, never NaN beside floats."""
        import pandas as pd

        columns = ["id", "status", "name", "created_by", "created_on", "last_processed_on",
                   "size", "base", "percent_of_base", "processing_error"]
        rows = [{k: a.to_json()[k] for k in columns} for a in self.list(search, sort, status)]
        frame = pd.DataFrame(rows, columns=columns)
        for column in ("id", "size", "base"):
            frame[column] = frame[column].astype("Int64")
        frame["percent_of_base"] = frame["percent_of_base"].astype("Float64")
        return frame

    def processed_through(self) -> date | None:
        """The last day nightly processing has done: the latest last-processed day of the
        active audiences (None before the first run)."""
        return self._records.processed_through()

    def behind(self) -> str | None:
        """``processed through 2026-11-28, 7 days behind`` when processing lags the calendar
        (the dashboard's banner), else None."""
        through = self.processed_through()
        return behind(through, days_behind(through, self._calendar.yesterday()))

    def versions(self, audience_id: int) -> list[dict]:
        return self._records.versions(as_id(audience_id))

    def _audience(self, row: dict) -> Audience:
        definition = AudienceDefinition.parse(row["definition"], stored=True)
        summary = json.loads(row["summary"]) if row.get("summary") else None
        if summary is None:  # saved before summaries were stored
            summary = self.summary(definition)
        return Audience(
            id=row["id"], name=row["name"], description=row["description"],
            status=row["status"], definition=definition, version=row["version"],
            created_by=row["created_by"], created_on=row["created_on"],
            updated_by=row["updated_by"], updated_at=row["updated_at"],
            activated_on=row["activated_on"], last_processed_on=row["last_processed_on"],
            size=row["size"], base=row["base"], summary=summary,
            processing_error=row.get("processing_error") if row["status"] == "active" else None,
            archived_on=row.get("archived_on"), holdout_size=row.get("holdout_size"),
            days_behind=days_behind(row["last_processed_on"], self._calendar.yesterday())
            if row["status"] == "active" else None)

    # -- checking -------------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """The attributes rules can name, with their choices, over the current data."""
        with self.job() as job:
            return job.catalog

    def check(self, definition: DefinitionLike, *,
              editing: int | None = None) -> tuple[list[CheckedRule], list[Problem]]:
        """Rules checked against the catalog, and warnings."""
        with self.job() as job:
            return self._check(AudienceDefinition.parse(definition), job.catalog,
                               editing=editing)

    def _check(self, definition: AudienceDefinition, catalog: Catalog, *,
               editing: int | None = None, look: bool = True, saved: bool = False
               ) -> tuple[list[CheckedRule], list[Problem]]:
        """Audience references must be to active audiences and must not lead back to the
        audience being edited. ``saved``: evaluating a saved audience, whose references may
        have been archived since (it still evaluates as of any day)."""
        checked, warnings = check_definition(definition, catalog, look_at_data=look)
        named = [(rule, audience_id) for rule in checked
                 if rule.rule.attribute == "audience" for audience_id in rule.value]
        problems = [self._reference_problem(audience_id, saved) for _, audience_id in named]
        if editing is not None:
            cycle = self._leading_back(editing, {audience_id for (_, audience_id), problem
                                                 in zip(named, problems, strict=True)
                                                 if not problem})
            for i, (_, audience_id) in enumerate(named):
                if not problems[i] and audience_id in cycle:
                    problems[i] = (f"audience {audience_id} refers back to audience {editing} "
                                   "(a cycle)")
        said = [Problem(f"{rule.label} (audience)", problem, rule=rule.position)
                for (rule, _), problem in zip(named, problems, strict=True) if problem]
        if said:
            raise InvalidDefinition.listing(said)
        return checked, warnings

    def _reference_problem(self, audience_id: int, saved: bool = False) -> str | None:
        try:
            referenced = self._records.get(audience_id)
        except NotFound:
            return f"no audience with id {audience_id}"
        if referenced["status"] != "active" and not (saved and referenced["status"] == "archived"):
            state = "a draft" if referenced["status"] == "draft" else referenced["status"]
            return (f"audience {audience_id} ({referenced['name']}) is {state}; only active "
                    "audiences can be used in rules")
        return None

    def _leading_back(self, editing: int, reads: set[int]) -> set[int]:
        """The audiences in a cycle, or leading to one, if the audience being edited read
        ``reads`` (the plan's cycle check)."""
        graph = reachable(reads, lambda audience_id: self._reads(self._records.get(audience_id)))
        try:
            Plan.of({**graph, editing: reads})
        except Unordered as exc:
            return exc.stuck
        return set()

    def _reads(self, row: dict) -> set[int]:
        """The audiences a stored audience's rules read."""
        return references(AudienceDefinition.parse(row["definition"], stored=True).rules)

    def refuse_type_changes(self, stored: dict[str, str],
                            changes: dict[str, tuple[str, str]]) -> None:
        """A new type of an appended column must not break the rules of an active audience (it
        is frozen: its processing would fail every day until it is archived). An audience that
        did not check before the change is not this change's doing and is not named.
        ``stored``: appended column -> type now; ``changes``: column -> (old, new)."""
        def checks(definition: AudienceDefinition, types: dict[str, str]) -> bool:
            try:
                check_definition(definition, Catalog.build(types), look_at_data=False)
            except InvalidDefinition:
                return False
            return True

        active = []
        for row in self._records.list(status="active", sort="created"):
            try:
                definition = AudienceDefinition.parse(row["definition"], stored=True)
            except InvalidDefinition:
                continue
            if checks(definition, stored):
                active.append((row, definition))
        problems = []
        for column, (old, new) in changes.items():
            types = {**stored, column: new}
            broken = [f"{row['id']} ({row['name']})" for row, definition in active
                      if not checks(definition, types)]
            if broken:
                problems.append(f"changing appended.{column} from {old} to {new} would break "
                                f"active audience(s) {', '.join(broken)}")
        if problems:
            raise IngestError("; ".join(problems) + "; archive them first or keep the type")

    def _active_ids(self) -> list[int]:
        return [row["id"] for row in self._records.list(status="active", sort="name")]

    def summary(self, definition: DefinitionLike) -> list[str]:
        """The plain-English targeting summary (no customer data needed)."""
        definition = AudienceDefinition.parse(definition)
        with self.job() as job:  # the catalog only: no query runs
            try:
                checked, _ = check_definition(definition, job.catalog, look_at_data=False)
            except InvalidDefinition as exc:
                return [f"(invalid: {p})" for p in exc.problems]
            return self._summary(checked, job.catalog)

    def _summary(self, checked: list[CheckedRule], catalog: Catalog) -> list[str]:
        return summarize(checked, catalog, self._name_of)

    def _name_of(self, audience_id: int) -> str:
        try:
            return self._records.get(audience_id)["name"]
        except NotFound:
            return "unknown audience"

    # -- evaluation -----------------------------------------------------------------------------

    def estimate(self, definition: DefinitionLike, as_of: date | str | None = None) -> Estimate:
        """Size and base of a definition as of a day (default: yesterday), without saving."""
        definition = AudienceDefinition.parse(definition)
        as_of = self._calendar.day(as_of)
        with self.job(as_of) as job:
            checked, warnings = self._check(definition, job.catalog)
            with self._kept.hold() if self._kept is not None else nullcontext():
                compiled = self._compile(checked, as_of, job, kept=self._kept)
                size, base = self._engine.rows(compiled.estimate())[0]
            summary = self._summary(checked, job.catalog)
        if not base:
            warnings.append(Problem("", f"the customer base is empty as of {as_of}: no profiles "
                                    "ingested, or none created by then"))
        return Estimate(size=int(size or 0), base=int(base), as_of=as_of, summary=summary,
                        warnings=warnings, processed_through=self.processed_through())

    def members(self, audience_id: int | str, as_of: date | str | None = None,
                group: str | None = None) -> pd.DataFrame:
        """Members (customer_id, ordered) as of ``as_of``, default the last processed day;
        ``group``: only the ``treatment`` (what exports deliver) or the ``holdout``."""
        from .holdout import check_group, group_condition

        group = check_group(group)
        audience = self.get(audience_id)
        if as_of is None:
            if audience.last_processed_on is None:
                raise InvalidInput(f"audience {audience.id} ({audience.name}) has not been "
                                   "processed yet; give a day (--as-of YYYY-MM-DD)")
            # What processing kept: exports deliver exactly what the history counted.
            row = self._history.day(audience.id, audience.last_processed_on)
            return self._memberships.members(row["membership"], audience.id, group,
                                             flagged=row.get("holdout") is not None)
        from .compiler import KEY, column

        # The features' customer_id (f.customer_id): the members query may join aggregates.
        return self._members_of(audience.definition, as_of, saved=audience.status != "draft",
                                where=group_condition(
                                    audience.id, audience.definition.holdout_percent, group,
                                    column(KEY)))

    def members_of(self, definition: DefinitionLike, as_of: date | str | None = None, *,
                   saved: bool = False) -> pd.DataFrame:
        """Members (customer_id, ordered) of a definition, saved or not, as of a day."""
        return self._members_of(definition, as_of, saved=saved)

    def _members_of(self, definition: DefinitionLike, as_of: date | str | None, *,
                    saved: bool, where=None) -> pd.DataFrame:
        """``where``: a further condition on the members (a holdout group); never from a
        caller's input, so not on the public method."""
        definition = AudienceDefinition.parse(definition)
        as_of = self._calendar.day(as_of)
        with self.job(as_of) as job:
            checked, _ = self._check(definition, job.catalog, look=False, saved=saved)
            query = self._compile(checked, as_of, job).members().order_by("customer_id")
            if where is not None:
                query = query.where(where)
            return self._engine.frame(query)

    def explain(self, audience: int | str | DefinitionLike, customer_id: str,
                as_of: date | str | None = None) -> Explanation:
        """For one customer: which rules hold and which do not, and so whether they are in."""
        saved = False
        if isinstance(audience, int) or (isinstance(audience, str) and audience.isdigit()):
            stored = self.get(audience)
            definition, saved = stored.definition, stored.status != "draft"
        else:
            definition = AudienceDefinition.parse(audience)
        as_of = self._calendar.day(as_of)
        with self.job(as_of) as job:
            checked, _ = self._check(definition, job.catalog, look=False, saved=saved)
            compiled = self._compile(checked, as_of, job)
            rows = self._engine.rows(compiled.explain(customer_id))
        if not rows:
            return Explanation(customer_id, as_of, in_base=False, member=False, rules=[])
        row, count = rows[0], len(checked)
        holds, values, member = row[:count], row[count:2 * count], row[-1]
        checks = [RuleCheck(rule.position, describe(rule, job.catalog, self._name_of),
                            rule.rule.exclude, held, value, rule.label,
                            rule.groups[-1].label if rule.groups else "")
                  for rule, held, value in zip(checked, holds, values, strict=True)]
        return Explanation(customer_id, as_of, in_base=True, member=bool(member), rules=checks,
                           groups=self._group_checks(checked, holds, job.catalog))

    def _group_checks(self, checked: list[CheckedRule], holds: tuple,
                      catalog: Catalog) -> list[GroupCheck]:
        """Which groups held: the rules' answers (unknown: does not hold) folded as the SQL
        folds them (logic.py), in the order the groups are written."""
        held = {rule.position: bool(h) for rule, h in zip(checked, holds, strict=True)}
        found = []
        combine(tree(checked), lambda rule: held[rule.position], BOOLEANS,
                seen=lambda node, value: found.append(GroupCheck(
                    node.group.label, node.kind, node.exclude, value,
                    group_text(node, catalog, self._name_of))))
        return sorted(found, key=lambda g: [int(p) for p in g.label.split()[1].split(".")])

    def overlap(self, audience_ids, as_of: date | str | None = None) -> pd.DataFrame:
        """For 2 to 10 audiences as of a day (default: the last processed day, else
        yesterday): one row per pair with the customers in both and the share of each, from
        the kept memberships of that day or evaluated as of it (``computed_from`` says)."""
        return self.overlap_of(audience_ids, as_of).frame()

    def overlap_of(self, audience_ids, as_of: date | str | None = None) -> Overlap:
        """The overlap itself: sizes, pairs and a Venn diagram's regions (overlap.py)."""
        from contextlib import ExitStack

        from .overlap import EVALUATED, KEPT, Chosen, evaluated_part, kept_part, patterns_query

        ids = chosen_ids(audience_ids)
        chosen = [self.get(audience_id) for audience_id in ids]  # NotFound names the id
        as_of = self._calendar.day(as_of) if as_of is not None else (
            self.processed_through() or self._calendar.yesterday())
        kept = {a.id: row["membership"] for a in chosen
                if (row := self._history.day(a.id, as_of)) is not None}
        parts, by_file = [], {}
        for position, audience in enumerate(chosen):
            if audience.id in kept:
                by_file.setdefault(kept[audience.id], {})[audience.id] = 1 << position
        with ExitStack() as stack:
            for relative, bits in by_file.items():
                parts.append(kept_part(stack.enter_context(self._memberships.reading(relative)),
                                       bits))
            evaluated = [(p, a) for p, a in enumerate(chosen) if a.id not in kept]
            if evaluated:
                job = stack.enter_context(self.job(as_of))
                for position, audience in evaluated:
                    checked, _ = self._check(audience.definition, job.catalog, look=False,
                                             saved=audience.status != "draft")
                    parts.append(evaluated_part(
                        self._compile(checked, as_of, job).members(), 1 << position))
            rows = self._engine.rows(patterns_query(parts))
        return Overlap(as_of, [Chosen(a.id, a.name, KEPT if a.id in kept else EVALUATED)
                               for a in chosen],
                       {int(pattern): int(customers) for pattern, customers in rows})

    def _compile(self, checked: list[CheckedRule], as_of: date, job: Job, *,
                 kept: Kept | None = None) -> Compiled:
        """``kept``: read features and window aggregates from the tables it keeps (rules that
        read other audiences compile their levels as one query, kept or not)."""
        from ..customers.features import Day
        from .compiler import Sources, compile_nested, compile_rules, kept_sources

        sources = Sources(job.snapshot.tables(), Day(as_of, self._calendar.zone))
        reads = references(rule.rule for rule in checked)
        if not reads:
            if kept is not None:
                sources = kept_sources(sources, checked, kept.table)
            return compile_rules(checked, sources)
        rows = {}
        graph = reachable(reads, lambda audience_id: self._reads(
            rows.setdefault(audience_id, self._records.get(audience_id))))
        nested = {audience_id: check_definition(
            AudienceDefinition.parse(row["definition"], stored=True), job.catalog,
            look_at_data=False)[0] for audience_id, row in rows.items()}
        return compile_nested(checked, sources, Plan.of(graph), nested)


def _audited(audience: Audience) -> dict:
    """What the trail says of an audience: its name, description and rules in plain English
    (the summary), not its JSON."""
    return {"name": audience.name, "description": audience.definition.description,
            "rules": audience.summary,
            "holdout_percent": audience.definition.holdout_percent or None}  # none: unsaid


def as_id(audience_id: int | str) -> int:
    return parse_id(audience_id, "audience")
