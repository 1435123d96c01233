"""Overlap of 2 to 10 audiences as of a day (SPEC 6): for each pair, the customers in both, as
a share of each.

One pass: every chosen audience's members become rows (customer_id, bit) where the bit is the
audience's place in the choice (1, 2, 4, ...); summed per customer they give the customer's
*pattern* (which of the chosen audiences they are in), and the query returns how many customers
have each pattern: at most 2^10 = 1,024 rows. Every pair's count, every size and the regions of
a Venn diagram follow from those counts here, without going back to the data. A self-join per
pair would read the memberships 45 times for 10 audiences.

The members come from the kept memberships of the day (what processing recorded, and exports
delivered) when the audience was processed that day, else from evaluating its definition as of
the day (an estimate: drafts, or days not processed). Each pair says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import combinations
from typing import TYPE_CHECKING

from ..errors import InvalidInput
from ..ids import parse_id
from .models import percent

if TYPE_CHECKING:
    import pandas as pd
    from sqlglot import exp

MIN_AUDIENCES, MAX_AUDIENCES = 2, 10
KEPT = "kept memberships"  # the audience was processed that day
EVALUATED = "evaluated"  # its definition evaluated as of the day: an estimate
COLUMNS = ["audience_a", "name_a", "audience_b", "name_b", "size_a", "size_b", "both",
           "share_of_a", "share_of_b", "as_of", "computed_from"]


def chosen_ids(ids) -> list[int]:
    """The audience ids of an overlap, checked: 2 to 10 of them, each once."""
    if isinstance(ids, int | str):
        ids = [ids]
    ids = [parse_id(i, "audience") for i in ids]
    if not MIN_AUDIENCES <= len(ids) <= MAX_AUDIENCES:
        raise InvalidInput(f"overlap: give {MIN_AUDIENCES} to {MAX_AUDIENCES} audiences, not "
                           f"{len(ids)}")
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InvalidInput(f"overlap: audience {twice[0]} is given twice; give each audience "
                           "once")
    return ids


@dataclass(frozen=True)
class Chosen:
    id: int
    name: str
    source: str  # KEPT or EVALUATED


@dataclass(frozen=True)
class Overlap:
    as_of: date
    audiences: list[Chosen]
    patterns: dict[int, int]  # pattern (bit i: in audiences[i]) -> customers with it

    def __post_init__(self):
        # Whole numbers again after JSON (the workbench service), whose keys are text.
        object.__setattr__(self, "patterns", {int(k): int(v) for k, v in self.patterns.items()})

    def size(self, i: int) -> int:
        return sum(n for pattern, n in self.patterns.items() if pattern >> i & 1)

    def both(self, i: int, j: int) -> int:
        both = 1 << i | 1 << j
        return sum(n for pattern, n in self.patterns.items() if pattern & both == both)

    def computed_from(self, *positions: int) -> str:
        sources = {self.audiences[i].source for i in positions}
        if sources == {KEPT}:
            return f"kept memberships of {self.as_of}"
        if sources == {EVALUATED}:
            return f"evaluated as of {self.as_of} (estimate)"
        return f"kept memberships and evaluated as of {self.as_of} (estimate)"

    @property
    def estimated(self) -> bool:
        return any(a.source == EVALUATED for a in self.audiences)

    def pairs(self) -> list[dict]:
        rows = []
        for i, j in combinations(range(len(self.audiences)), 2):
            a, b = self.audiences[i], self.audiences[j]
            size_a, size_b, both = self.size(i), self.size(j), self.both(i, j)
            rows.append({"audience_a": a.id, "name_a": a.name, "audience_b": b.id,
                         "name_b": b.name, "size_a": size_a, "size_b": size_b, "both": both,
                         "share_of_a": percent(both, size_a) or 0.0,
                         "share_of_b": percent(both, size_b) or 0.0, "as_of": self.as_of,
                         "computed_from": self.computed_from(i, j)})
        return rows

    def frame(self) -> pd.DataFrame:
        """One row per pair: ids, names, sizes, customers in both, the share of each (% of
        that audience's members who are also in the other), and how it was computed."""
        import pandas as pd

        frame = pd.DataFrame(self.pairs(), columns=COLUMNS)
        for name in ("audience_a", "audience_b", "size_a", "size_b", "both"):
            frame[name] = frame[name].astype("Int64")
        frame.attrs["as_of"] = str(self.as_of)  # text: a frame's attrs go through Parquet on the wire
        return frame

    def regions(self) -> list[dict]:
        """The exclusive regions of a Venn diagram (customers in exactly these audiences), for
        2 or 3 audiences: ``{"in": [ids], "customers": n}``, every region present."""
        count = len(self.audiences)
        return [{"in": [self.audiences[i].id for i in range(count) if pattern >> i & 1],
                 "customers": self.patterns.get(pattern, 0)}
                for pattern in range(1, 1 << count)]

    def to_json(self) -> dict:
        return {"as_of": str(self.as_of),
                "audiences": [{"id": a.id, "name": a.name, "size": self.size(i),
                               "computed_from": a.source}
                              for i, a in enumerate(self.audiences)],
                "pairs": [{**row, "as_of": str(row["as_of"])} for row in self.pairs()]}

    def lines(self) -> list[str]:
        """The CLI's table: one line per pair."""
        width = max(len(a.name) for a in self.audiences)
        width = min(max(width, 8), 28)
        head = (f"overlap as of {self.as_of} "
                f"({'estimate: ' if self.estimated else ''}"
                + "; ".join(f"#{a.id} {a.source}" for a in self.audiences) + ")")
        lines = [head, f"{'A':<{width + 5}}  {'B':<{width + 5}}  {'BOTH':>10}  "
                       f"{'% OF A':>7}  {'% OF B':>7}"]
        for row in self.pairs():
            a = f"#{row['audience_a']} {_cut(row['name_a'], width)}"
            b = f"#{row['audience_b']} {_cut(row['name_b'], width)}"
            lines.append(f"{a:<{width + 5}}  {b:<{width + 5}}  {row['both']:>10,}  "
                         f"{row['share_of_a']:>7.2f}  {row['share_of_b']:>7.2f}")
        return lines


def _cut(text: str, width: int) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= width else text[:width - 1] + "…"


# -- the query ------------------------------------------------------------------------------------

def kept_part(file: exp.Table, bits: dict[int, int]) -> exp.Select:
    """(customer_id, bit) of the members of several audiences kept in one membership file: one
    scan of the file, whose rows of other audiences are skipped."""
    from sqlglot import exp

    bit = exp.Case(this=exp.column("audience_id"), ifs=[
        exp.If(this=exp.Literal.number(audience_id), true=exp.Literal.number(value))
        for audience_id, value in bits.items()])
    return (exp.select("customer_id", exp.alias_(bit, "bit")).from_(file)
            .where(exp.column("audience_id").isin(*(exp.Literal.number(a) for a in bits))))


def evaluated_part(members: exp.Select, bit: int) -> exp.Select:
    """(customer_id, bit) of an audience's members as evaluated (``Compiled.members()``)."""
    from sqlglot import exp

    return exp.select("customer_id", exp.alias_(exp.Literal.number(bit), "bit")).from_(
        members.subquery("m"))


def patterns_query(parts: list[exp.Select]) -> exp.Select:
    """How many customers have each pattern, from the parts' (customer_id, bit) rows."""
    from sqlglot import exp

    rows = exp.union(*parts, distinct=False) if len(parts) > 1 else parts[0]
    per_customer = (exp.select(exp.alias_(exp.Sum(this=exp.column("bit")), "pattern"))
                    .from_(rows.subquery("r")).group_by("customer_id"))
    return (exp.select("pattern", exp.alias_(exp.Count(this=exp.Star()), "customers"))
            .from_(per_customer.subquery("c")).group_by("pattern"))
