"""Every error the workbench raises on purpose.

One root, so the CLI, the widgets and the notebooks catch ``WorkbenchError`` once and show its
message. Vendor exceptions (DuckDB, SQLAlchemy, paramiko, gnupg, papermill) are translated at
the adapter edge with ``raise ... from exc``; they never reach a user as a traceback.

An input refused for several reasons carries them as data: ``problems``, a list of
``Problem(field, message)``. Its one-line message is composed from them here, once; the CLI
prints that line, the widgets place each problem at its field.

    WorkbenchError                      exit 1: the operation failed
    ├── InvalidInput                    exit 2: bad usage or invalid input (file, JSON, option)
    │   ├── HomeNotFound                no home given, or the folder is not a workbench home
    │   ├── SettingsError               workbench.toml is unreadable or holds an invalid value
    │   ├── IngestError                 a customer data file cannot be ingested as a whole
    │   ├── InvalidDefinition           an audience definition, with its problems
    │   ├── Unordered                   audiences that read each other in a cycle, or read
    │   │                               one that is not active (processing refuses them)
    │   ├── InvalidExport               an export configuration, destination or encryption,
    │   │                               with its problems
    │   ├── InvalidSchedule             an export's schedule, with its problems
    │   └── InvalidKeys                 public keys an encryption cannot use, with its problems
    ├── NotFound                        no such audience, export, destination, ... (exit 2)
    ├── PermissionDenied                the current user's role does not allow the operation
    ├── Conflict                        the object changed since it was read (stale version),
    │   │                               or is frozen (an active audience)
    │   └── Stale                       an export's members are older than its
    │                                   max_staleness_days allows (run processing first)
    ├── Busy                            another process holds what is needed (a lock timed
    │                                   out); trying again later can succeed
    ├── RejectedRows                    --strict ingest with rejected rows (exit 1; data kept)
    ├── EngineError                     the query engine failed (out of memory, disk full)
    ├── DataMissing                     a current customer data file is not on disk
    ├── ProcessingFailed                a processing run failed or was interrupted; the
    │                                   previous results are intact
    ├── NotebookFailed                  an executed notebook raised (its copy is kept)
    │   └── KernelDied                  its kernel died mid-run (killed, out of memory)
    ├── DeliveryError                   talking to a destination or GnuPG failed (exit 1)
    │   ├── SftpError                   SFTP: resolution, connection, host key, login, path
    │   ├── RenameUncertain             the upload's rename was sent, its answer never came
    │   └── PgpError                    GnuPG: a key or an encryption
    ├── Unrecorded                      a delivered file whose result the store would not take
    └── StoreError                      the metadata store failed

Four exceptions are signals inside the package, never shown to anyone, and so not part of the
tree: ``files.Gone`` (a pinned file vanished: pin again), ``files.Locked`` (a lock not taken in
time: the caller says why in its own words), ``days.NoSuchDay`` (a ValueError: 2026-02-30) and
``exports.templates.TemplateProblem`` (a ValueError: a template's problem, made a ``Problem``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One reason an input is refused: the ``field`` it is about, as the person wrote it
    (``name``, ``schedule.repeat.every``, ``columns.2.template``, ``rule 3 (age)``, ``key 1``),
    and what is wrong with it. ``rule``: the 1-based audience rule it is about, if any, so a
    page can show it beside that rule. ``label``: the field as a person sees it on a form
    ("Column 3 template" for ``columns.2.template``), said instead of ``field`` when set;
    ``field`` stays the path a form places the message by."""

    field: str
    message: str
    rule: int | None = None
    label: str = ""

    def __str__(self) -> str:
        named = self.label or self.field
        return f"{named}: {self.message}" if named else self.message


class WorkbenchError(Exception):
    """Root of the tree. ``exit_code`` is what the CLI exits with; ``problems`` the reasons of
    a refused input, each naming its field (empty for other errors)."""

    exit_code = 1

    def __init__(self, message: str, problems: Iterable[Problem] = ()):
        super().__init__(message)
        self.message = message
        self.problems = list(problems)

    def __str__(self) -> str:
        return self.message


class InvalidInput(WorkbenchError):
    exit_code = 2
    # What a list of problems refuses, said before them: "invalid schedule: start: required".
    subject = ""

    @classmethod
    def listing(cls, problems: Iterable[Problem], subject: str | None = None) -> Self:
        """The error for every problem at once; its message is the subject (the class's, or
        ``subject``), then each ``field: message``, separated by semicolons."""
        problems = list(problems)
        lead = cls.subject if subject is None else subject
        text = "; ".join(str(p) for p in problems)
        return cls(f"{lead}: {text}" if lead else text, problems)


class HomeNotFound(InvalidInput):
    pass


class SettingsError(InvalidInput):
    pass


class IngestError(InvalidInput):
    pass


class InvalidDefinition(InvalidInput):
    """The definition cannot be saved or evaluated."""

    subject = "invalid audience definition"


class InvalidExport(InvalidInput):
    """The configuration cannot be saved (a destination or an encryption: ``subject`` says)."""

    subject = "invalid export configuration"


class Unordered(InvalidInput):
    """Audiences that cannot be ordered; ``stuck`` are those, ``missing`` the audiences they
    read that are not in the graph (not active)."""

    def __init__(self, stuck: set[int], missing: set[int]):
        super().__init__(f"audiences {sorted(stuck)} refer to "
                         + (f"audiences that are not active: {sorted(missing)}" if missing
                            else "each other in a cycle"))
        self.stuck = stuck
        self.missing = missing


class InvalidSchedule(InvalidInput):
    subject = "invalid schedule"


class InvalidKeys(InvalidInput):
    """Public keys an encryption cannot use: one ``key N`` problem each."""


class NotFound(WorkbenchError):
    exit_code = 2


class PermissionDenied(WorkbenchError):
    pass


class Conflict(WorkbenchError):
    pass


class Stale(Conflict):
    pass


class Busy(WorkbenchError):
    pass


class RejectedRows(WorkbenchError):
    pass


class EngineError(WorkbenchError):
    """The query engine failed (out of memory, disk full, a file unreadable)."""

    def __init__(self, message: str, out_of_memory: bool = False):
        super().__init__(message)
        self.out_of_memory = out_of_memory


class DataMissing(WorkbenchError):
    """A current version's file is not on disk."""


class ProcessingFailed(WorkbenchError):
    """A processing run failed; the previous results are intact."""


class NotebookFailed(WorkbenchError):
    """An executed notebook raised; ``output`` is the kept copy with the traceback, ``error``
    the class name of what the notebook raised (None when it did not run) and ``reason`` its
    message. The message reads ``error: reason``."""

    def __init__(self, reason: str, output: Path, error: str | None = None):
        super().__init__(f"{error}: {reason}" if error else reason)
        self.reason = reason
        self.output = output
        self.error = error


class KernelDied(NotebookFailed):
    """The notebook's kernel died mid-run (killed, out of memory): the run did not finish and
    could not say so itself."""


class StoreError(WorkbenchError):
    pass


class DeliveryError(WorkbenchError):
    pass


class SftpError(DeliveryError):
    """``reason``: a short machine-readable kind (resolution, refused, timeout, host_key,
    authentication, missing_path, not_writable, protocol), beside the message."""

    def __init__(self, message: str, reason: str = "protocol"):
        super().__init__(message)
        self.reason = reason


class S3Error(DeliveryError):
    """``reason``: a short machine-readable kind (missing_bucket, authentication, clock_skew,
    unreachable, timeout, access_denied, protocol), beside the message."""

    def __init__(self, message: str, reason: str = "protocol"):
        super().__init__(message)
        self.reason = reason


class RenameUncertain(DeliveryError):
    """The rename was sent, its answer never came: the file may be in place."""


class PgpError(DeliveryError):
    pass


class Unrecorded(WorkbenchError):
    """The file reached its final name, but the store would not take the result for as long
    as the lease: the run stays In-Progress until the next attempt finds the file there."""
