"""The attribute catalog: what a rule can name, its type and its refinement choices (SPEC 4).

Pure: it is built from the stored columns' types, the known tag names and the active audiences,
all handed in by the service. Choices (distinct values, min/max) come from a loader the service
passes in, called only when a builder or a validation asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

NUMBER_TYPES = frozenset({"integer", "decimal", "double"})
DATE_TYPES = frozenset({"date", "timestamp"})

# A text attribute with at most this many distinct values is offered as a pick list.
LOW_CARDINALITY = 50


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str  # text, integer, decimal, double, boolean, date, timestamp, event, membership
    label: str
    group: str  # Demographics, Appended, Behaviour, RFM, Audiences: how a builder groups them
    windowed: bool = False  # accepts within_days

    @property
    def is_number(self) -> bool:
        return self.type in NUMBER_TYPES

    @property
    def is_date(self) -> bool:
        return self.type in DATE_TYPES


@dataclass(frozen=True)
class Choices:
    """Refinement choices of an attribute: known values (text, tags, audiences) or a range."""

    values: tuple = ()  # most frequent first; complete when ``complete``
    complete: bool = False
    minimum: object = None
    maximum: object = None

    @property
    def pick_list(self) -> bool:
        return self.complete and len(self.values) <= LOW_CARDINALITY


STANDARD: tuple[Attribute, ...] = (
    Attribute("customer_id", "text", "Customer ID", "Demographics"),
    Attribute("first_name", "text", "First name", "Demographics"),
    Attribute("last_name", "text", "Last name", "Demographics"),
    Attribute("email", "text", "Email", "Demographics"),
    Attribute("gender", "text", "Gender", "Demographics"),
    Attribute("age", "integer", "Age", "Demographics"),
    Attribute("birth_date", "date", "Birth date", "Demographics"),
    Attribute("home_city", "text", "Home city", "Demographics"),
    Attribute("home_state", "text", "Home state", "Demographics"),
    Attribute("created_at", "timestamp", "Customer since", "Demographics"),
    Attribute("tag", "event", "Tag", "Behaviour", windowed=True),
    Attribute("rfm.recency_days", "integer", "Days since last purchase", "RFM"),
    Attribute("rfm.frequency", "integer", "Number of purchases", "RFM", windowed=True),
    Attribute("rfm.monetary", "decimal", "Total spend", "RFM", windowed=True),
    Attribute("rfm.r_score", "integer", "Recency score", "RFM"),
    Attribute("rfm.f_score", "integer", "Frequency score", "RFM"),
    Attribute("rfm.m_score", "integer", "Monetary score", "RFM"),
    Attribute("audience", "membership", "Member of audience", "Audiences"),
)

SCORES = frozenset({"rfm.r_score", "rfm.f_score", "rfm.m_score"})


def appended_attribute(column: str, type_: str) -> Attribute:
    return Attribute(f"appended.{column}", type_,
                     "Appended " + column.replace("_", " "), "Appended")


@dataclass
class Catalog:
    attributes: dict[str, Attribute]
    load_choices: Callable[[Attribute], Choices] = field(default=lambda a: Choices(), repr=False)
    _choices: dict[str, Choices] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, appended: dict[str, str], load_choices=None) -> Catalog:
        """``appended``: custom column -> type, as stored."""
        attributes = {a.name: a for a in STANDARD}
        for column, type_ in appended.items():
            attributes[f"appended.{column}"] = appended_attribute(column, type_)
        return cls(attributes, load_choices or (lambda a: Choices()))

    def get(self, name: str) -> Attribute | None:
        return self.attributes.get(name)

    def choices(self, name: str) -> Choices:
        if name not in self._choices:
            attribute = self.attributes[name]
            if name in SCORES:
                self._choices[name] = Choices(values=(1, 2, 3, 4, 5), complete=True,
                                              minimum=1, maximum=5)
            else:
                self._choices[name] = self.load_choices(attribute)
        return self._choices[name]

    def names(self) -> list[str]:
        return list(self.attributes)
