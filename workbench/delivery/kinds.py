"""Destination kinds: what a destination of each SPEC 7 ``type`` does, found by that name.

A kind is one module of this package that defines:

- ``KIND`` (its JSON ``type``) and ``LABEL`` (as a person reads it: "SFTP", "S3");
- ``upload(target, source, name, ledger) -> Staged``: the file under its final name only when
  complete, with the ``upload.Ledger`` told how far it got (``writing`` before a byte goes out,
  ``staging`` just before the commit point);
- ``delivered(target, staged) -> bool``: whether the final name holds exactly that file;
- ``sweep(target, workbench, live) -> list[str]``: this workbench's leftovers no live attempt
  owns, removed;
- ``test(target) -> list[str]``: the steps of a connection test that passed (or its error);
- a target class with ``kind``, ``where``, ``location`` and ``username`` (what a run records).

SFTP's is ``sftp_kind`` (over ``upload`` and ``sftp``), S3's is ``s3``. Adding a kind is one
module here, its entry in ``MODULES``, its JSON model in
``exports/models.py`` and its form fields (``ui/forms.py``). Modules are imported when first
used: a workbench that never delivers to S3 never imports boto3.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES = {"sftp": "workbench.delivery.sftp_kind", "s3": "workbench.delivery.s3"}
LABELS = {"sftp": "SFTP", "s3": "S3"}


def kind(name: str) -> ModuleType:
    """The module of the destination kind ``name`` (``sftp``, ``s3``)."""
    try:
        return importlib.import_module(MODULES[name])
    except KeyError:
        raise ValueError(f"no destination kind {name!r}; kinds: {', '.join(MODULES)}") from None


def of(target) -> ModuleType:
    """The kind of a target (what ``Destinations.target`` returns)."""
    return kind(target.kind)
