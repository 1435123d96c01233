"""What the audience service hands out: an audience, an estimate, an explanation.

Plain data with a JSON form (the SPEC 9 field names) and an HTML form for notebooks.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date, datetime

from ..errors import Problem
from ..freshness import behind, sentence
from .definition import AudienceDefinition, shown


def percent(size: int | None, base: int | None) -> float | None:
    if size is None or not base:
        return None
    return round(100.0 * size / base, 2)


def index_against_base(count: int, size: int | None, base_count: int, base: int | None) -> float | None:
    """A bucket's index against the base: the audience's share of it over the base's share,
    × 100 (100: as common as in the base; 200: twice as common). None where either share is
    undefined (an empty audience, or nobody of the base in the bucket)."""
    if not size or not base or not base_count:
        return None
    return round(100.0 * (count / size) / (base_count / base), 1)


def _table(rows: list[tuple[str, object]]) -> str:
    cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
                    f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>"
                    for k, v in rows)
    return f"<table>{cells}</table>"


def _stale(text: str | None) -> str:
    return f"<p style='color:#a15c00'>⚠ {html.escape(sentence(text))}</p>" if text else ""


def _summary_list(summary: list[str]) -> str:
    if not summary:
        return "<p><i>No rules: the whole customer base.</i></p>"
    return "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in summary) + "</ul>"


@dataclass
class Audience:
    id: int
    name: str
    description: str
    status: str
    definition: AudienceDefinition
    version: int
    created_by: str
    created_on: date
    updated_by: str
    updated_at: datetime
    activated_on: date | None
    last_processed_on: date | None
    size: int | None
    base: int | None
    summary: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # from the save that returned it
    processing_error: str | None = None  # its last processing failed (see processing docs)
    archived_on: date | None = None
    # Active and processed: days its results lag behind yesterday (0: current), by the clock.
    days_behind: int | None = None
    holdout_size: int | None = None  # of ``size``, members in the holdout (SPEC 6)

    @property
    def treatment_size(self) -> int | None:
        """Of ``size``, the members exports deliver (all of them without a holdout)."""
        return None if self.size is None else self.size - (self.holdout_size or 0)

    @property
    def percent_of_base(self) -> float | None:
        return percent(self.size, self.base)

    @property
    def behind(self) -> str | None:
        """``processed through 2026-11-28, 7 days behind``, or None when current."""
        return behind(self.last_processed_on, self.days_behind)

    def to_json(self) -> dict:
        return {
            "id": self.id, "name": self.name, "description": self.description,
            "status": self.status, "version": self.version, "created_by": self.created_by,
            "created_on": self.created_on.isoformat(),
            "activated_on": self.activated_on and self.activated_on.isoformat(),
            "last_processed_on": self.last_processed_on and self.last_processed_on.isoformat(),
            "size": self.size, "base": self.base, "percent_of_base": self.percent_of_base,
            "summary": self.summary, "definition": self.definition.model_dump(),
            "processing_error": self.processing_error,
            "archived_on": self.archived_on and self.archived_on.isoformat(),
            "days_behind": self.days_behind,
            "holdout_percent": self.definition.holdout_percent,
            "treatment_size": self.treatment_size,
            "holdout_size": None if self.size is None else self.holdout_size or 0,
        }

    def _repr_html_(self) -> str:
        size = ("not processed yet" if self.size is None else
                f"{self.size:,} of {self.base:,} ({self.percent_of_base}% of base) "
                f"as of {self.last_processed_on}")
        return (f"<h4>{html.escape(self.name)} <small>#{self.id} · {self.status} · "
                f"v{self.version}</small></h4>"
                + _table([("Created", f"{self.created_on} by {self.created_by}"),
                          ("Size", size)])
                + _stale(self.behind) + _summary_list(self.summary))

    def __repr__(self) -> str:
        lag = f", {self.behind}" if self.behind else ""
        return f"Audience(id={self.id}, name={self.name!r}, status={self.status!r}, " \
               f"version={self.version}, size={self.size}{lag})"


@dataclass
class Estimate:
    size: int
    base: int
    as_of: date
    summary: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # The last day nightly processing has done (any active audience's), when there is one:
    # an estimate as of another day is not what the dashboards and exports show.
    processed_through: date | None = None

    @property
    def percent_of_base(self) -> float | None:
        return percent(self.size, self.base)

    @property
    def as_of_text(self) -> str:
        """``as of 2026-12-04`` and, where processing is elsewhere, ``processing is through
        2026-11-28``."""
        text = f"as of {self.as_of}"
        if self.processed_through and self.processed_through != self.as_of:
            text += f" (processing is through {self.processed_through})"
        return text

    def to_json(self) -> dict:
        return {"size": self.size, "base": self.base, "percent_of_base": self.percent_of_base,
                "as_of": self.as_of.isoformat(), "summary": self.summary,
                "warnings": [str(w) for w in self.warnings],
                "processed_through": self.processed_through and
                self.processed_through.isoformat()}

    def _repr_html_(self) -> str:
        warnings = "".join(f"<p style='color:#a15c00'>⚠ {html.escape(str(w))}</p>"
                           for w in self.warnings)
        return (f"<p><b>{self.size:,}</b> customers of {self.base:,} "
                f"({self.percent_of_base}% of base) {html.escape(self.as_of_text)}</p>"
                + _summary_list(self.summary) + warnings)


@dataclass
class RuleCheck:
    position: int
    summary: str
    exclude: bool
    holds: bool | None  # None: the attribute is unknown for this customer
    value: object  # the customer's value of the attribute, where it is one column
    label: str = ""  # "rule 3.1": where it is written (groups opened)
    group: str = ""  # the group it is written in ("group 3"), if any

    @property
    def named(self) -> str:
        return self.label or f"rule {self.position}"

    @property
    def outcome(self) -> str:
        if self.exclude and self.group:  # it keeps its group from holding, not the customer out
            return f"holds, so {self.group} does not" if self.holds else "does not hold"
        if self.exclude:
            return "excludes the customer" if self.holds else "does not exclude"
        return "holds" if self.holds else ("unknown, so it does not hold"
                                           if self.holds is None else "does not hold")


@dataclass
class GroupCheck:
    """Whether a group held for the customer (its rules' answers folded: logic.py)."""

    label: str  # "group 2"
    kind: str  # any / all
    exclude: bool
    holds: bool
    summary: str

    @property
    def outcome(self) -> str:
        if self.exclude:
            return "excludes the customer" if self.holds else "does not exclude"
        return "holds" if self.holds else "does not hold"


@dataclass
class Explanation:
    customer_id: str
    as_of: date
    in_base: bool
    member: bool
    rules: list[RuleCheck]
    groups: list[GroupCheck] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"customer_id": self.customer_id, "as_of": self.as_of.isoformat(),
                "in_base": self.in_base, "member": self.member,
                "rules": [{"position": r.position, "label": r.named, "summary": r.summary,
                           "exclude": r.exclude, "holds": r.holds, "outcome": r.outcome,
                           "value": None if r.value is None else str(r.value)}
                          for r in self.rules],
                "groups": [{"label": g.label, "kind": g.kind, "exclude": g.exclude,
                            "holds": g.holds, "outcome": g.outcome, "summary": g.summary}
                           for g in self.groups]}

    def lines(self) -> list[str]:
        # The id is typed by a person: escaped and cut, it cannot steer the terminal.
        customer = shown(self.customer_id)
        if not self.in_base:
            return [f"{customer} is not in the customer base as of {self.as_of}"]
        verdict = "is a member" if self.member else "is not a member"
        lines = [f"{customer} {verdict} as of {self.as_of}"]
        for r in self.rules:
            value = "" if r.value is None else f" (value: {r.value})"
            lines.append(f"  {r.named}: {r.summary}: {r.outcome}{value}")
        for g in self.groups:
            lines.append(f"  {g.label} ({g.kind}): {g.summary}: {g.outcome}")
        return lines

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape("\n".join(self.lines())) + "</pre>"
