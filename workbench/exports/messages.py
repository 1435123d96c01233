"""pydantic's errors about export, destination and encryption JSON as people read them, in one
place: each becomes a ``Problem`` whose ``field`` is the JSON path a form places it by
(``columns.2.template``) and whose ``label`` names the field as the form shows it, positions
1-based ("Column 3 template"), with a one-line message in plain words ("is required", not
"String should have at least 1 character"). Pure: no IO.

Decisions: a message never shows a bound a person cannot have meant (a 64-bit limit such as
9223372036854775807 reads "is too large"); an empty required text says "is required" whatever
its minimum; our own validators' words (``ValueError``) are kept, without pydantic's "Value
error, " in front.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import Problem

# Field paths as the forms label them (the wizard, the destination and encryption forms).
LABELS = {
    "name": "Name", "audience": "Audience", "file_name": "File name", "active": "State",
    "schedule": "Delivery date/time", "schedule.start": "Delivery date/time",
    "schedule.timezone": "Time zone", "schedule.repeat": "Repeats",
    "schedule.repeat.every": "Repeat every", "schedule.repeat.unit": "Repeat unit",
    "schedule.ends": "End date", "schedule.cancel_after_minutes": "Cancel after (min)",
    "destination": "Destination", "encryption": "Encryption", "format": "Format",
    "csv": "CSV options", "csv.header": "Header", "csv.record_delimiter": "Record delimiter",
    "csv.field_delimiter": "Field delimiter", "csv.neutralize_formulas": "Neutralize formulas",
    "columns": "Columns", "notify": "Email recipients",
    "max_staleness_days": "Max staleness (days)", "type": "Type", "host": "Host", "port": "Port",
    "path": "Path", "username": "User name", "password": "Password",
    "private_key": "Private key", "passphrase": "Passphrase", "host_key": "Host key",
    "keys": "Public keys", "configuration": "Configuration",
    # Wave 3: what each file holds, compression and parts; S3 destinations; notice targets.
    "changes": "What each file holds", "compression": "Compression", "split": "Split into parts",
    "split.rows": "Rows per part", "split.bytes": "Bytes per part", "group": "Group",
    "bucket": "Bucket", "prefix": "Prefix", "region": "Region", "endpoint": "Endpoint",
    "access_key_id": "Access key id", "secret_access_key": "Secret access key",
    "session_token": "Session token", "url": "URL", "secret": "Signing secret",
}
# What the items of a list are called, for "Column 3" and "add at least one column".
ITEMS = {"columns": "column", "notify": "recipient", "keys": "key"}
COLUMN_PARTS = {"attribute": "attribute", "template": "template", "label": "label"}
# A bound larger than this is a machine's limit (64-bit ids, sizes), not a person's.
SHOWN_BOUND = 10**9
_LONG_NUMBER = re.compile(r"\d{16,}…?")


def label(field: str) -> str:
    """``columns.2.template`` → "Column 3 template"; ``schedule.repeat.every`` → "Repeat
    every"; an unknown path in words, positions 1-based."""
    if field in LABELS:
        return LABELS[field]
    parts = field.split(".")
    if len(parts) >= 2 and parts[0] in ITEMS and parts[1].isdigit():
        item = f"{ITEMS[parts[0]].capitalize()} {int(parts[1]) + 1}"
        rest = [COLUMN_PARTS.get(p, p.replace("_", " ")) for p in parts[2:]]
        return " ".join([item, *rest])
    words = [str(int(p) + 1) if p.isdigit() else p.replace("_", " ") for p in parts]
    return " ".join(words).capitalize() if words and words != [""] else "Configuration"


def message(error: dict) -> str:
    """One pydantic error (from ``ValidationError.errors()``) as a plain one-line message."""
    kind, ctx = error["type"], error.get("ctx") or {}
    field = ".".join(str(p) for p in error["loc"])
    items = ITEMS.get(field, "item")
    text = _plain(kind, ctx, items, error)
    return _LONG_NUMBER.sub("a number too large", text.splitlines()[0] if text else "invalid")


def _plain(kind: str, ctx: dict[str, Any], items: str, error: dict) -> str:
    if kind == "missing":
        return "is required"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        return "is required" if least <= 1 else f"needs at least {least} characters"
    if kind == "string_too_long":
        return f"is too long: at most {ctx.get('max_length', 0):,} characters"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return f"add at least one {items}" if least <= 1 else \
            f"needs at least {least} {items}s"
    if kind == "too_long":
        return f"has too many {items}s: at most {ctx.get('max_length', 0):,}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind == "int_parsing_size":
        return "is too large"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = next((ctx[k] for k in ("ge", "gt", "le", "lt") if k in ctx), None)
        word = "at least" if kind.startswith("greater") else "at most"
        if isinstance(bound, int | float) and abs(bound) > SHOWN_BOUND:
            return "is too large" if word == "at most" else "is too small"
        if kind in ("greater_than", "less_than"):
            word = "more than" if kind == "greater_than" else "less than"
        return f"must be {word} {bound}"
    if kind == "finite_number":
        return "must be a finite number"
    if kind in ("string_type", "string_sub_type"):
        return "must be text"
    if kind == "string_unicode":
        return "holds characters that cannot be stored"
    if kind in ("list_type", "tuple_type"):
        return "must be a list"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be an object"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in ("json_invalid", "json_type"):
        return "is not valid JSON"
    text = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return re.sub(r"^Input should be\b", "must be", text)


def problem(error: dict, prefix: str = "") -> Problem:
    """One pydantic error as a ``Problem``: its path (under ``prefix``), label and message."""
    path = [prefix] if prefix else []
    field = ".".join(path + [str(p) for p in error["loc"]]) or "configuration"
    return Problem(field, message(error), label=label(field))


def problems(errors: list[dict], prefix: str = "") -> list[Problem]:
    return [problem(error, prefix) for error in errors]


def labelled(found: list[Problem]) -> list[Problem]:
    """``found`` with each field's label (the service's own problems come without one)."""
    from dataclasses import replace

    return [p if p.label or not p.field else replace(p, label=label(p.field)) for p in found]
