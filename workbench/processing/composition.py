"""Composition buckets (SPEC 6): for an attribute, the SQL that puts each customer in one bucket,
and the buckets' display order. Pure: SQL text over feature columns; labels are ours, or values
from the data as quoted literals.

"% of the total base" is the bucket's audience count over the whole customer base (count / base,
SPEC 6); the base's own count in each bucket is kept too, so that the base's share of the bucket
(base_count / base) can be shown beside it for over/under-index comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..query.sql import ident, lit

UNKNOWN = "unknown"
OTHER = "other"
TOP_VALUES = 10


@dataclass(frozen=True)
class Buckets:
    """``ranges``: fixed labels from conditions; ``values``: every stored value (gender);
    ``top``: the most frequent values, then ``other``. NULL is ``unknown`` (``never`` for
    recency) in every kind."""

    attribute: str  # as shown: gender, age, recency, frequency, monetary, or an attribute name
    column: str  # the feature column
    kind: str = "ranges"
    cases: tuple[tuple[str, str], ...] = ()  # ranges: (condition on {c}, label), first match
    last: str = ""  # ranges: the label when no condition matches
    top: tuple[str, ...] = field(default=())  # top: the values kept as buckets

    def expression(self) -> str:
        c = ident(self.column)
        text = f"CAST({c} AS VARCHAR)"
        if self.kind == "values":
            return f"coalesce({text}, {lit(UNKNOWN)})"
        if self.kind == "top":
            kept = ", ".join(lit(v) for v in self.top) or "NULL"
            return (f"CASE WHEN {c} IS NULL THEN {lit(UNKNOWN)} WHEN {text} IN ({kept}) "
                    f"THEN {text} ELSE {lit(OTHER)} END")
        whens = " ".join(f"WHEN {condition.format(c=c)} THEN {lit(label)}"
                         for condition, label in self.cases)
        return f"CASE {whens} ELSE {lit(self.last)} END"

    def order(self, seen: dict[str, int]) -> list[str]:
        """Display order of the buckets, given base counts of the labels seen in the data.
        Fixed ranges keep their order and show empty buckets; values go by base count, with
        other and unknown last."""
        if self.kind == "ranges":
            return [label for _, label in self.cases if label not in (UNKNOWN, "never")] + \
                [self.last] + [label for _, label in self.cases if label in (UNKNOWN, "never")]
        tail = [label for label in (OTHER, UNKNOWN) if label in seen]
        head = sorted((v for v in seen if v not in tail), key=lambda v: (-seen[v], v))
        return head + tail


def _ranges(column: str, attribute: str, null_label: str | None,
            bounds: list[tuple[str, str]], last: str) -> Buckets:
    nulls = (("{c} IS NULL", null_label),) if null_label else ()
    return Buckets(attribute, column, "ranges", (*nulls, *bounds), last)


DEFAULTS: tuple[Buckets, ...] = (
    Buckets("gender", "gender", "values"),
    _ranges("age", "age", UNKNOWN, [
        ("{c} < 18", "<18"), ("{c} <= 24", "18–24"), ("{c} <= 34", "25–34"),
        ("{c} <= 44", "35–44"), ("{c} <= 54", "45–54"), ("{c} <= 64", "55–64")], "65+"),
    _ranges("rfm.recency_days", "recency", "never", [
        ("{c} <= 30", "0–30"), ("{c} <= 90", "31–90"), ("{c} <= 180", "91–180"),
        ("{c} <= 365", "181–365")], "366+ days"),
    _ranges("rfm.frequency", "frequency", None, [
        ("{c} = 0", "0"), ("{c} = 1", "1"), ("{c} <= 3", "2–3"), ("{c} <= 9", "4–9")], "10+"),
    _ranges("rfm.monetary", "monetary", None, [
        ("{c} <= 0", "<=0"), ("{c} < 50", "0–50"), ("{c} < 100", "50–100"),
        ("{c} < 250", "100–250"), ("{c} < 500", "250–500"), ("{c} < 1000", "500–1000")],
        "1000+"),
)


def top_values_sql(features: str, column: str) -> str:
    """The query for a custom attribute's most frequent values in the base."""
    c = ident(column)
    return (f"SELECT CAST({c} AS VARCHAR) FROM {features} WHERE {c} IS NOT NULL "
            f"GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {TOP_VALUES}")
