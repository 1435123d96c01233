"""``wb.audiences``: lifecycle (create, update, activate, duplicate), reads (get, list) and
evaluation (estimate, members, explain), with SPEC 8 permissions enforced here."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

from sqlglot import exp

from ..errors import Conflict, InvalidInput, NotFound
from ..store.audiences import SORTS, AudienceRecords
from .catalog import Catalog
from .compiler import Compiled, Sources, column, compile_rules
from .definition import AudienceDefinition, CheckedRule, InvalidDefinition, check_definition
from .models import Audience, Estimate, Explanation, RuleCheck
from .summary import summarize

if TYPE_CHECKING:
    import pandas as pd

    from ..app import Workbench

DefinitionLike = AudienceDefinition | dict | str


class Audiences:
    def __init__(self, wb: Workbench):
        self._wb = wb
        self._records = AudienceRecords(wb.store)

    # -- lifecycle ------------------------------------------------------------------------------

    def create(self, definition: DefinitionLike) -> Audience:
        """Save a new draft; the current user is its creator."""
        self._wb.user.require("audience.edit")
        definition = AudienceDefinition.parse(definition)
        _, warnings = self.check(definition)
        audience_id = self._records.insert(
            name=definition.name, description=definition.description,
            definition=definition.to_json(), user=self._wb.user.name, today=self._wb.today())
        return replace(self.get(audience_id), warnings=warnings)

    def update(self, audience_id: int | str, definition: DefinitionLike, *, version: int) -> Audience:
        """Save an edit of a draft made on ``version``; refused if it changed since."""
        self._wb.user.require("audience.edit")
        audience_id = _as_id(audience_id)
        definition = AudienceDefinition.parse(definition)
        _, warnings = self.check(definition, editing=audience_id)
        self._records.update_definition(
            audience_id, name=definition.name, description=definition.description,
            definition=definition.to_json(), base_version=version, user=self._wb.user.name)
        return replace(self.get(audience_id), warnings=warnings)

    def activate(self, audience_id: int | str, *, version: int | None = None) -> Audience:
        """Freeze a draft; today (workbench timezone) becomes its inception date."""
        self._wb.user.require("audience.activate")
        current = self.get(audience_id)
        audience_id = current.id
        if current.status == "active":
            raise Conflict(f"audience {audience_id} ({current.name}) is already active")
        self.check(current.definition, editing=audience_id)
        self._records.activate(audience_id, base_version=version or current.version,
                               user=self._wb.user.name, today=self._wb.today())
        return self.get(audience_id)

    def duplicate(self, audience_id: int | str, name: str | None = None) -> Audience:
        """A new draft with the same rules (the way to change an active audience)."""
        source = self.get(audience_id)
        copy = source.definition.model_copy(update={"name": name or f"Copy of {source.name}"})
        return self.create(copy)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, audience_id: int | str) -> Audience:
        return self._audience(self._records.get(_as_id(audience_id)), self._last_failure())

    def list(self, search: str = "", sort: str = "-created") -> list[Audience]:
        if sort not in SORTS:
            raise InvalidInput(f"unknown sort {sort!r}; use one of {', '.join(SORTS)}")
        failure = self._last_failure()  # once for the whole list
        return [self._audience(row, failure)
                for row in self._records.list(search=search, sort=sort)]

    def frame(self, search: str = "", sort: str = "-created") -> pd.DataFrame:
        """The dashboard's list as a DataFrame."""
        import pandas as pd

        columns = ["id", "status", "name", "created_by", "created_on", "last_processed_on",
                   "size", "percent_of_base"]
        rows = [{k: a.to_json()[k] for k in columns} for a in self.list(search, sort)]
        return pd.DataFrame(rows, columns=columns)

    def versions(self, audience_id: int) -> list[dict]:
        return self._records.versions(_as_id(audience_id))

    def _audience(self, row: dict, failure: dict | None) -> Audience:
        """``failure``: the latest processing run, if it failed (shown on active audiences)."""
        definition = AudienceDefinition.parse(row["definition"])
        return Audience(
            id=row["id"], name=row["name"], description=row["description"],
            status=row["status"], definition=definition, version=row["version"],
            created_by=row["created_by"], created_on=row["created_on"],
            updated_by=row["updated_by"], updated_at=row["updated_at"],
            activated_on=row["activated_on"], last_processed_on=row["last_processed_on"],
            size=row["size"], base=row["base"], summary=self.summary(definition),
            processing_error=failure and (
                f"processing run #{failure['id']} ({failure['date_from']} to "
                f"{failure['date_to']}) failed: {failure['error']}") if row["status"] == "active"
            else None)

    def _last_failure(self) -> dict | None:
        from ..store.processing import ProcessingRecords

        return ProcessingRecords(self._wb.store).last_failure()

    # -- checking -------------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        return self._wb.catalog()

    def check(self, definition: DefinitionLike, *,
              editing: int | None = None) -> tuple[list[CheckedRule], list[str]]:
        """Rules checked against the catalog, and warnings; audience references must be to
        active audiences and must not lead back to the audience being edited."""
        definition = AudienceDefinition.parse(definition)
        checked, warnings = check_definition(definition, self.catalog())
        problems = []
        for rule in checked:
            if rule.rule.attribute != "audience":
                continue
            for audience_id in rule.value:
                problem = self._reference_problem(audience_id, editing)
                if problem:
                    problems.append(f"rule {rule.position} (audience): {problem}")
        if problems:
            raise InvalidDefinition(problems)
        return checked, warnings

    def _reference_problem(self, audience_id: int, editing: int | None) -> str | None:
        try:
            referenced = self._records.get(audience_id)
        except NotFound:
            return f"no audience with id {audience_id}"
        if referenced["status"] != "active":
            return (f"audience {audience_id} ({referenced['name']}) is a draft; only active "
                    "audiences can be used in rules")
        if editing is not None and editing in self._references(audience_id):
            return f"audience {audience_id} refers back to audience {editing} (a cycle)"
        return None

    def _references(self, audience_id: int, seen: frozenset = frozenset()) -> set[int]:
        """Every audience reachable from ``audience_id`` through audience rules."""
        if audience_id in seen:
            return {audience_id}
        definition = AudienceDefinition.parse(self._records.get(audience_id)["definition"])
        found = {audience_id}
        for rule in definition.rules:
            if rule.attribute == "audience":
                for ref in rule.value or []:
                    found |= self._references(int(ref), seen | {audience_id})
        return found

    def summary(self, definition: DefinitionLike) -> list[str]:
        definition = AudienceDefinition.parse(definition)
        try:
            checked, _ = check_definition(definition, self.catalog(), look_at_data=False)
        except InvalidDefinition as exc:
            return [f"(invalid: {p})" for p in exc.problems]
        return summarize(checked, self.catalog(), self._name_of)

    def _name_of(self, audience_id: int) -> str:
        try:
            return self._records.get(audience_id)["name"]
        except NotFound:
            return "unknown audience"

    # -- evaluation -----------------------------------------------------------------------------

    def estimate(self, definition: DefinitionLike, as_of: date | str | None = None) -> Estimate:
        """Size and base of a definition as of a day (default: yesterday), without saving."""
        definition = AudienceDefinition.parse(definition)
        checked, warnings = self.check(definition)
        as_of = self._wb.day(as_of)
        size, base = self._run(self._compile(checked, as_of).estimate())[0]
        return Estimate(size=int(size), base=int(base), as_of=as_of,
                        summary=summarize(checked, self.catalog(), self._name_of),
                        warnings=warnings + self._day_warnings(as_of, int(base)))

    def _day_warnings(self, as_of: date, base: int) -> list[str]:
        """Say why a count may be empty rather than let a zero pass for an answer."""
        warnings = []
        if as_of > self._wb.today():
            warnings.append(f"{as_of} is in the future: events after today do not exist yet")
        if base == 0:
            warnings.append(f"the customer base is empty as of {as_of}: no profiles ingested, "
                            "or none created by then")
        return warnings

    def members(self, audience_id: int | str, as_of: date | str | None = None) -> pd.DataFrame:
        """Members (customer_id, ordered) as of ``as_of``, default the last processed day."""
        audience = self.get(audience_id)
        if as_of is None:
            if audience.last_processed_on is None:
                raise InvalidInput(f"audience {audience.id} ({audience.name}) has not been "
                                   "processed yet; give a day (--as-of YYYY-MM-DD)")
            # What processing kept: exports deliver exactly what the history counted.
            return self._wb.processing.stored_members(audience.id, audience.last_processed_on)
        checked, _ = self.check(audience.definition)
        query = self._compile(checked, self._wb.day(as_of)).members().order_by("customer_id")
        return self._wb.duck.sql(query.sql("duckdb")).df()

    def explain(self, audience: int | str | DefinitionLike, customer_id: str,
                as_of: date | str | None = None) -> Explanation:
        """For one customer: which rules hold and which do not, and so whether they are in."""
        if isinstance(audience, int) or (isinstance(audience, str) and audience.isdigit()):
            definition = self.get(audience).definition
        else:
            definition = AudienceDefinition.parse(audience)
        checked, _ = self.check(definition)
        as_of = self._wb.day(as_of)
        compiled = self._compile(checked, as_of)
        rows = self._run(compiled.explain(customer_id))
        if not rows:
            return Explanation(customer_id, as_of, in_base=False, member=False, rules=[])
        row, count = rows[0], len(checked)
        holds, values, member = row[:count], row[count:2 * count], row[-1]
        summary = summarize(checked, self.catalog(), self._name_of)
        checks = [RuleCheck(rule.position, text, rule.rule.exclude, held, value)
                  for rule, text, held, value in zip(checked, summary, holds, values,
                                                     strict=True)]
        return Explanation(customer_id, as_of, in_base=True, member=bool(member), rules=checks)

    def _compile(self, checked: list[CheckedRule], as_of: date) -> Compiled:
        tables = self._wb.feature_tables
        needs_events = any(r.rule.attribute in ("tag", "audience") or r.rule.within_days
                           for r in checked)
        sources = Sources(features=tables.table(as_of),
                          tag_events=tables.event_table("tag_events") if needs_events else "",
                          purchases=tables.event_table("purchases") if needs_events else "")

        def resolve(audience_id: int) -> exp.Expression:
            nested, _ = check_definition(
                AudienceDefinition.parse(self._records.get(audience_id)["definition"]),
                self.catalog(), look_at_data=False)
            members = compile_rules(nested, as_of, sources, resolve).members()
            return exp.In(this=column("customer_id"), query=exp.Subquery(this=members))

        return compile_rules(checked, as_of, sources, resolve)

    def _run(self, query) -> list[tuple]:
        return self._wb.duck.execute(query.sql("duckdb")).fetchall()


def _as_id(audience_id: int | str) -> int:
    if isinstance(audience_id, int) and not isinstance(audience_id, bool):
        return audience_id
    if isinstance(audience_id, str) and audience_id.strip().isdigit():
        return int(audience_id)
    raise InvalidInput(f"audience id must be a number, not {audience_id!r}")
