"""The calls the workbench service answers: which method of which service, and whether it
reads or changes something (a change may carry an idempotency key, and is retried by clients
only with it).

The API is the Python API's verb–noun methods over HTTP (``POST /api/v1/call/NOUN/VERB``, a
JSON body of ``args`` and ``kwargs``, values in ``codec``'s form), so that a client gets the
same objects back. Only what is listed here is callable; the services check the user's role
themselves, as in the embedded mode. Nothing listed returns a secret: a destination's
``target`` (its secrets opened) and the scheduler's own verbs are not here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..app import Workbench

READ, CHANGE = "read", "change"


def _verbs(reads: str, changes: str = "") -> dict[str, str]:
    return {**dict.fromkeys(reads.split(), READ), **dict.fromkeys(changes.split(), CHANGE)}


# noun: {verb: READ | CHANGE}; the noun is the Workbench attribute (``wb.audiences``).
SERVICES: dict[str, dict[str, str]] = {
    "audiences": _verbs("get list frame referable actions versions check summary estimate "
                        "members members_of explain processed_through behind overlap overlap_of",
                        "create update save_draft activate archive duplicate"),
    "exports": _verbs("get list check fields choices next_file_name actions staleness preview",
                      "create update activate pause cancel"),
    "export_runs": _verbs("get history frame", "create"),
    "destinations": _verbs("list get actions check", "add update remove test fetch_host_key"),
    "encryptions": _verbs("list get actions inspect armored_keys", "add update"),
    "notices": _verbs("list get names actions check used_by", "add update remove test"),
    "processing": _verbs("history composition histories runs days stored_members"),
    "customers": _verbs("counts", "sample"),
    "audit_trail": _verbs("entries frame"),
}


def _features(wb: Workbench, as_of=None):
    relation = wb.features(as_of)
    return relation.toPandas() if hasattr(relation, "toPandas") else relation.df()


def _catalog(wb: Workbench) -> list:
    return list(wb.audiences.catalog().attributes.values())  # their choices: ``choices``


def _choices(wb: Workbench, name: str):
    catalog = wb.audiences.catalog()
    attribute = catalog.get(name)
    return None if attribute is None else catalog.choices(name)


def _about(wb: Workbench) -> dict:
    return {"user": wb.user.name, "role": wb.user.role.value,
            "timezone": wb.settings.timezone, "currency": wb.settings.currency,
            "backfill_days": wb.settings.backfill_days}


# Calls of the workbench itself (``wb.features(D)``), as (verb, kind, function(wb, ...)).
WORKBENCH: dict[str, tuple[str, Callable[..., Any]]] = {
    "about": (READ, _about),
    "audit": (READ, lambda wb, *args, **kwargs: wb.audit(*args, **kwargs)),
    "features": (READ, _features),
    "catalog": (READ, _catalog),
    "choices": (READ, _choices),
    "run_export": (CHANGE, lambda wb, run_id: _run_export(wb, run_id)),
    "run_processing": (CHANGE, lambda wb, first, last: _run_processing(wb, first, last)),
}


# The modules whose classes a client may send (definitions, audiences, exports, problems,
# roles, run states): imported when the service starts, so that ``codec`` finds them without
# importing anything a request names.
SENDABLE = ("workbench.errors", "workbench.settings", "workbench.run_states",
            "workbench.audiences.definition", "workbench.audiences.models",
            "workbench.audiences.catalog", "workbench.audiences.overlap",
            "workbench.exports.models",
            "workbench.exports.service", "workbench.exports.destinations",
            "workbench.exports.notices", "workbench.audit")


def _run_export(wb: Workbench, run_id):
    from ..ids import parse_id

    wb.user.require("export.run")
    run = wb.export_runs.get(parse_id(run_id, "run"))  # NotFound before a kernel starts
    return wb.run_export(run.id)


def _run_processing(wb: Workbench, first, last):
    wb.user.require("processing.run")
    first, last = wb.day(first), wb.day(last)
    return wb.run_processing(first, last)


def kind_of(noun: str, verb: str) -> str | None:
    """READ, CHANGE, or None when the service does not answer that call."""
    if noun == "workbench":
        return WORKBENCH[verb][0] if verb in WORKBENCH else None
    return SERVICES.get(noun, {}).get(verb)


def call(wb: Workbench, noun: str, verb: str, args: list, kwargs: dict) -> Any:
    """Make a call ``kind_of`` allows, on ``wb`` (already acting for the hub's user)."""
    if noun == "workbench":
        return WORKBENCH[verb][1](wb, *args, **kwargs)
    return getattr(getattr(wb, noun), verb)(*args, **kwargs)
