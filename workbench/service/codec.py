"""What crosses the wire between the workbench service and its clients: the services' own
values (dataclasses such as ``Audience``, pydantic models such as ``AudienceDefinition``,
enums, dates, DataFrames) as JSON, so that a client gets back the objects the embedded API
returns.

Pure: no IO. A tagged value is a JSON object with a ``$t`` key. Only classes defined in the
workbench package are rebuilt, and only dataclasses, pydantic models and enums: a request can
name no other class (never pickle, never import what a client names outside the package).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import importlib
import io
import sys
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

PACKAGE = "workbench"


class Undecodable(ValueError):
    """A value a client or the service sent that this side will not rebuild."""


def encode(value: Any) -> Any:
    if isinstance(value, enum.Enum):  # first: a StrEnum is a str too
        return {"$t": "enum", "cls": _name(type(value)), "v": encode(value.value)}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {"$t": "datetime", "v": value.isoformat()}
    if isinstance(value, date):
        return {"$t": "date", "v": value.isoformat()}
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        items = {str(key): encode(item) for key, item in value.items()}
        return {"$t": "dict", "v": items} if "$t" in items else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$t": "dc", "cls": _name(type(value)),
                "v": {f.name: encode(getattr(value, f.name))
                      for f in dataclasses.fields(value) if f.init}}
    if _is_model(type(value)):
        return {"$t": "model", "cls": _name(type(value)), "v": value.model_dump(mode="json")}
    if _is_frame(value):
        return {"$t": "frame", "v": _frame_bytes(value)}
    raise TypeError(f"cannot send a {type(value).__name__}")


def decode(value: Any, depth: int = 0, *, trusted: bool = False) -> Any:
    """A value sent by the other side. ``trusted`` (the client reading the service's answers)
    may import the module of a class it names; the service only finds classes in modules it
    has imported already (``api.SENDABLE``), never ``__main__``: importing a module a request
    names would run it."""
    try:
        return _decode(value, depth, trusted)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, Undecodable):
            raise
        raise Undecodable(f"{exc.__class__.__name__}: {str(exc)[:120]}") from None


def _decode(value: Any, depth: int, trusted: bool) -> Any:
    if depth > 40:
        raise Undecodable("nested too deeply")
    if isinstance(value, list):
        return [_decode(item, depth + 1, trusted) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("$t")
    if tag is None:
        return {key: _decode(item, depth + 1, trusted) for key, item in value.items()}
    inner = value.get("v")
    if tag == "dict":
        return {key: _decode(item, depth + 1, trusted) for key, item in _mapping(inner).items()}
    if tag == "date":
        return date.fromisoformat(_text(inner))
    if tag == "datetime":
        return datetime.fromisoformat(_text(inner))
    if tag == "frame":
        return _frame(_text(inner))
    if tag not in ("enum", "dc", "model"):
        raise Undecodable(f"unknown value tag {str(tag)[:40]!r}")
    cls = _class(value.get("cls"), trusted)
    if tag == "enum" and isinstance(cls, type) and issubclass(cls, enum.Enum):
        return cls(_decode(inner, depth + 1, trusted))
    if tag == "dc" and dataclasses.is_dataclass(cls):
        fields = {f.name for f in dataclasses.fields(cls) if f.init}
        given = _mapping(inner)
        if not set(given) <= fields:
            raise Undecodable(f"{cls.__name__} has no field {sorted(set(given) - fields)[0]}")
        return cls(**{key: _decode(item, depth + 1, trusted) for key, item in given.items()})
    if tag == "model" and _is_model(cls):
        try:
            return cls.model_validate(inner)
        except ValueError as exc:  # pydantic's ValidationError: the service's own input check
            raise Undecodable(f"{cls.__name__}: {str(exc).splitlines()[0]}") from None
    raise Undecodable(f"{_name(cls)} is not a value that is sent ({tag})")


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _class(name: Any, trusted: bool) -> type:
    if not isinstance(name, str) or ":" not in name:
        raise Undecodable("a tagged value without its class")
    module, _, qualname = name.partition(":")
    if module != PACKAGE and not module.startswith(PACKAGE + "."):
        raise Undecodable(f"{name[:80]} is not a workbench class")
    if "__main__" in module or (not trusted and module not in sys.modules):
        raise Undecodable(f"{name[:80]} is not a value that is sent")
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        raise Undecodable(f"no class {name[:80]}") from None
    if not isinstance(found, type):
        raise Undecodable(f"{name[:80]} is not a class")
    return found


def _mapping(value: Any) -> dict:
    if not isinstance(value, dict):
        raise Undecodable("expected an object")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise Undecodable("expected text")
    return value


def _is_model(cls: Any) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return isinstance(cls, type) and issubclass(cls, BaseModel)


def _is_frame(value: Any) -> bool:
    module = type(value).__module__
    return module.startswith("pandas") and type(value).__name__ == "DataFrame"


def _frame_bytes(frame) -> str:
    # Parquet keeps every column's type (dates, nullable integers, categories) as it was.
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=not _plain_index(frame))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plain_index(frame) -> bool:
    import pandas as pd

    return isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 \
        and frame.index.step == 1 and frame.index.name is None


def _frame(text: str):
    import pandas as pd

    try:
        return pd.read_parquet(io.BytesIO(base64.b64decode(text, validate=True)))
    except Exception as exc:  # noqa: BLE001 - whatever pyarrow says, the value is unreadable
        raise Undecodable(f"a table that cannot be read: {exc.__class__.__name__}") from None
