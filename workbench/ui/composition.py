"""How the Composition tab words an attribute and its buckets (pure): "Monetary spend (USD)"
and "$50–$100", not ``monetary`` and ``50–100``; recency in days, frequency in purchases.

Money is shown in the workbench's currency (the ``currency`` setting, an ISO 4217 code; amounts
are never converted): a symbol where one is unambiguous, else the code after the amount.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

LABELS = {"gender": "Gender", "age": "Age", "recency": "Purchase recency",
          "frequency": "Purchase frequency", "monetary": "Monetary spend"}
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}
_NUMBER = re.compile(r"\d+")


def money(amount: str | int, currency: str) -> str:
    """``$1,000`` (USD), ``€50``, ``1,000 SEK``."""
    text = f"{int(amount):,}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{text} {currency}"


def attribute_label(attribute: str, currency: str) -> str:
    label = LABELS.get(attribute, attribute)
    return f"{label} ({currency})" if attribute == "monetary" else label


def bucket_label(attribute: str, bucket: str, currency: str) -> str:
    """A default bucket in words (``composition.DEFAULTS``' labels); others as they are."""
    if attribute == "monetary":
        if bucket.startswith("<="):
            return f"{money(bucket[2:], currency)} or less (refunds)"
        if currency in SYMBOLS:  # "$500–$1,000"
            return _NUMBER.sub(lambda m: money(m.group(), currency), bucket)
        return _NUMBER.sub(lambda m: f"{int(m.group()):,}", bucket) + f" {currency}"
    if attribute == "recency" and bucket[:1].isdigit() and not bucket.endswith("days"):
        return f"{bucket} days ago"
    if attribute == "recency" and bucket.endswith("days"):
        return f"{bucket} ago"
    if attribute == "frequency" and bucket[:1].isdigit():
        return f"{bucket} purchase" + ("" if bucket == "1" else "s")
    return bucket


def shown(frame: pd.DataFrame, attribute: str, currency: str) -> pd.DataFrame:
    """The rows of ``attribute`` (``wb.processing.composition``), buckets in words."""
    rows = frame[frame["attribute"] == attribute].copy()
    rows["bucket"] = [bucket_label(attribute, b, currency) for b in rows["bucket"]]
    return rows
