"""Composition buckets (SPEC 6): for an attribute, the SQLGlot expression that puts each
customer in one bucket, and the buckets' display order. Pure: trees over feature columns; labels
are ours, or values from the data as literals.

"% of the total base" is the bucket's audience count over the whole customer base (count / base,
SPEC 6); the base's own count in each bucket is kept too, so that the base's share of the bucket
(base_count / base) can be shown beside it for over/under-index comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from ..query import sql

UNKNOWN = "unknown"
OTHER = "other"
TOP_VALUES = 10

# A range bucket: (comparison of the column with the bound, bound, label), e.g. (exp.LT, 18, "<18").
Bound = tuple[type[exp.Binary], int, str]


@dataclass(frozen=True)
class Buckets:
    """``ranges``: fixed labels from bounds; ``values``: every stored value (gender);
    ``top``: the most frequent values, then ``other``. NULL is ``unknown`` in every kind
    (``missing`` names it for ranges: ``never`` for recency; "" when a column is never NULL)."""

    attribute: str  # as shown: gender, age, recency, frequency, monetary, or an attribute name
    column: str  # the feature column
    kind: str = "ranges"
    bounds: tuple[Bound, ...] = ()  # ranges: the first bound the value meets names its bucket
    last: str = ""  # ranges: the label when no bound is met
    missing: str = ""  # ranges: the label of NULL
    top: tuple[str, ...] = field(default=())  # top: the values kept as buckets

    def expression(self) -> exp.Expression:
        c = sql.column(self.column)
        text = exp.cast(c, "VARCHAR")
        if self.kind == "values":
            return exp.Coalesce(this=text, expressions=[exp.Literal.string(UNKNOWN)])
        if self.kind == "top":
            kept = [exp.Literal.string(v) for v in self.top] or [exp.null()]
            return exp.Case().when(c.is_(exp.null()), exp.Literal.string(UNKNOWN)).when(
                text.isin(*kept), text).else_(exp.Literal.string(OTHER))
        case = exp.Case()
        if self.missing:
            case = case.when(c.is_(exp.null()), exp.Literal.string(self.missing))
        for compare, bound, label in self.bounds:
            case = case.when(compare(this=c.copy(), expression=exp.Literal.number(bound)),
                             exp.Literal.string(label))
        return case.else_(exp.Literal.string(self.last))

    def order(self, seen: dict[str, int]) -> list[str]:
        """Display order of the buckets, given base counts of the labels seen in the data.
        Fixed ranges keep their order and show empty buckets; values go by base count, with
        other and unknown last."""
        if self.kind == "ranges":
            return [label for _, _, label in self.bounds] + [self.last] + (
                [self.missing] if self.missing else [])
        tail = [label for label in (OTHER, UNKNOWN) if label in seen]
        head = sorted((v for v in seen if v not in tail), key=lambda v: (-seen[v], v))
        return head + tail


DEFAULTS: tuple[Buckets, ...] = (
    Buckets("gender", "gender", "values"),
    Buckets("age", "age", bounds=(
        (exp.LT, 18, "<18"), (exp.LTE, 24, "18–24"), (exp.LTE, 34, "25–34"),
        (exp.LTE, 44, "35–44"), (exp.LTE, 54, "45–54"), (exp.LTE, 64, "55–64")),
        last="65+", missing=UNKNOWN),
    Buckets("recency", "rfm.recency_days", bounds=(
        (exp.LTE, 30, "0–30"), (exp.LTE, 90, "31–90"), (exp.LTE, 180, "91–180"),
        (exp.LTE, 365, "181–365")), last="366+ days", missing="never"),
    Buckets("frequency", "rfm.frequency", bounds=(
        (exp.EQ, 0, "0"), (exp.EQ, 1, "1"), (exp.LTE, 3, "2–3"), (exp.LTE, 9, "4–9")),
        last="10+"),
    Buckets("monetary", "rfm.monetary", bounds=(
        (exp.LTE, 0, "<=0"), (exp.LT, 50, "0–50"), (exp.LT, 100, "50–100"),
        (exp.LT, 250, "100–250"), (exp.LT, 500, "250–500"), (exp.LT, 1000, "500–1000")),
        last="1000+"),
)


def top_values(features: str, column: str) -> exp.Select:
    """The query for a custom attribute's most frequent values in the base."""
    c = sql.column(column)
    first = exp.Literal.number(1)
    return exp.select(exp.cast(c, "VARCHAR")).from_(exp.to_table(features)).where(
        exp.not_(c.is_(exp.null()))).group_by(first).order_by(
        exp.Ordered(this=exp.Count(this=exp.Star()), desc=True), first).limit(TOP_VALUES)
