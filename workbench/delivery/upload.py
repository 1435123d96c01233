"""Putting a run's file on a destination (``upload``, ``delivered``, ``sweep``: each kind in
``kinds``), and the SFTP kind's way, where the rename is the commit point.

The file is written under a temporary name beside the target, ``.NAME.part-W-RUN-ATTEMPT`` (W:
this workbench's id, so it sweeps only its own), hashed as it streams, and renamed to ``NAME``
only when complete. Before the rename the caller's ``Ledger`` records what will be there
(name, bytes, SHA-256): a file that reached its final name is a delivered file, and whoever
takes the run over can prove it is there (``delivered``) instead of sending it twice. A file of the final name
already on the server is never overwritten: SFTP's rename refuses it, and it is checked first.

Every way an upload ends removes its temporary file while the server can be reached; what a
killed process left is removed at the next contact with that folder (``sweep``), and by the
scheduler (``ExportRuns.sweep``), as long as no live attempt owns it.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import BinaryIO, Protocol

from ..errors import DeliveryError, RenameUncertain, SftpError, WorkbenchError

CHUNK = 1 << 20
PARTIAL = re.compile(r"^\.(?P<name>.+)\.part-(?P<workbench>[0-9a-f]{8})-(?P<run>\d+)-"
                     r"(?P<attempt>\d+)$")


@dataclass(frozen=True)
class Staged:
    """What the final name holds once renamed: recorded before the rename."""

    file_name: str
    bytes: int
    sha256: str

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, recorded: dict) -> Staged:
        """What was recorded before a rename (``to_json``, with whatever the caller added)."""
        return cls(recorded["file_name"], recorded["bytes"], recorded["sha256"])


class Ledger(Protocol):
    """Where an upload says how far it got, as it goes: one attempt of one run, recorded."""

    workbench: str  # this workbench's id: its temporary files are the ones it sweeps
    run_id: int
    attempt: int

    def writing(self, path: str | None) -> None:
        """The temporary path, before a byte is written; None once it is removed after a
        failure (once renamed, the caller records that with the result)."""

    def staging(self, staged: Staged) -> None:
        """Record what the final name will hold, just before the rename; raises if this
        attempt no longer holds the run (nothing is renamed)."""

    def live(self, run_id: int, attempt: int) -> bool:
        """Whether an attempt still works (sweeps keep its temporary file)."""


def partial_name(name: str, workbench: str, run_id: int, attempt: int) -> str:
    return f".{name}.part-{workbench}-{run_id}-{attempt}"


def final_path(folder: str, name: str) -> str:
    folder = folder.rstrip("/") or "/"
    return posixpath.join(folder, name)


def upload(target, source: BinaryIO, name: str, ledger: Ledger) -> Staged:
    """Put ``source`` on the target's destination as ``name`` (each kind in ``kinds``): under
    a temporary name first, under ``name`` only when complete; what the final name holds."""
    from .kinds import of

    return of(target).upload(target, source, name, ledger)


def delivered(target, staged: Staged) -> bool:
    """Whether the target's final name holds exactly the staged file."""
    from .kinds import of

    return of(target).delivered(target, staged)


def sweep(target, workbench: str, live: Callable[[int, int], bool]) -> list[str]:
    """Remove this workbench's leftovers on the target that no live attempt owns; their names."""
    from .kinds import of

    return of(target).sweep(target, workbench, live)


# --- SFTP: the rename is the commit point -----------------------------------------------------


def sftp_upload(target, source: BinaryIO, name: str, ledger: Ledger) -> Staged:
    """Upload ``source`` as ``name`` in ``target.path`` (see the module's docstring), telling
    ``ledger`` how far it got; what the final name holds.

    After the rename nothing here touches the store: what can fail there is the caller's to
    wait for. A rename whose answer was lost with the connection raises ``RenameUncertain``:
    whether the file is in place is for the next attempt to look (``delivered``)."""
    from .sftp import open_sftp, translate_error

    folder = target.path.rstrip("/") or "/"
    final = final_path(folder, name)
    partial = final_path(folder, partial_name(name, ledger.workbench, ledger.run_id,
                                              ledger.attempt))
    writing = ledger.writing
    with open_sftp(target) as sftp:
        written = False
        try:
            sweep_folder(sftp, folder, ledger.workbench, ledger.live)
            if exists(sftp, final):
                raise DeliveryError(f"{final} exists already on {target.where}; it is never "
                                    "overwritten (remove it, or change the file name)")
            writing(partial)
            written = True
            staged = Staged(name, *_write(sftp, source, partial, target))
            ledger.staging(staged)
            try:
                sftp.rename(partial, final)  # the commit point; SFTP v3 refuses an existing name
            except BaseException as exc:
                if not _answered(exc):  # the rename may have happened: nothing is removed
                    written = False
                    if not isinstance(exc, Exception):  # stopped: the caller knows it staged
                        raise
                    raise RenameUncertain(
                        f"the connection to {target.where} was lost while {final} was being "
                        "renamed into place; the next attempt looks whether it is there") \
                        from exc
                raise
            return staged
        except BaseException as exc:  # stopped too: leave nothing of ours on their server
            if written and _remove(sftp, partial):
                _quietly(writing, None)
            if isinstance(exc, WorkbenchError) or not isinstance(exc, Exception):
                raise
            raise translate_error(exc, target, final) from exc


def _write(sftp, source: BinaryIO, partial: str, target) -> tuple[int, str]:
    """Stream ``source`` into ``partial``: its size and SHA-256, once the server holds it all."""
    digest, size = hashlib.sha256(), 0
    with sftp.open(partial, "wb") as remote:
        remote.set_pipelined(True)  # writes stream without waiting for each reply
        while chunk := source.read(CHUNK):
            remote.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    # paramiko reports no error of a pipelined write (a full disk, a quota): the size on the
    # server is what says the whole file is there.
    kept = sftp.stat(partial).st_size
    if kept != size:
        raise SftpError(
            f"{target.where} kept {kept:,} of the {size:,} bytes written to {partial} "
            "(most often a full disk or a quota on the server); nothing was renamed "
            "into place", "not_writable")
    return size, digest.hexdigest()


def _answered(exc: BaseException) -> bool:
    """Whether the server answered the request (a status it sent), rather than the connection
    or this process going away under it."""
    if isinstance(exc, EOFError | ConnectionError | TimeoutError):
        return False
    return isinstance(exc, OSError) and "Socket is closed" not in str(exc)


def sftp_delivered(target, staged: Staged) -> bool:
    """Whether the final name holds exactly the staged file (size, then SHA-256)."""
    from .sftp import open_sftp

    path = final_path(target.path, staged.file_name)
    with open_sftp(target) as sftp:
        try:
            if sftp.stat(path).st_size != staged.bytes:
                return False
        except FileNotFoundError:
            return False
        digest = hashlib.sha256()
        with sftp.open(path, "rb") as remote:
            remote.prefetch()
            while chunk := remote.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == staged.sha256


def sftp_sweep(target, workbench: str, live: Callable[[int, int], bool]) -> list[str]:
    """Remove this workbench's temporary files in the destination's folder that no live
    attempt owns; the names removed."""
    from .sftp import open_sftp

    with open_sftp(target) as sftp:
        return sweep_folder(sftp, target.path.rstrip("/") or "/", workbench, live)


def sweep_folder(sftp, folder: str, workbench: str, live: Callable[[int, int], bool]
                 ) -> list[str]:
    removed = []
    for entry in sftp.listdir(folder):
        found = PARTIAL.match(entry)
        if found and found["workbench"] == workbench and \
                not live(int(found["run"]), int(found["attempt"])) and \
                _remove(sftp, final_path(folder, entry)):
            removed.append(entry)
    return removed


def exists(sftp, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _remove(sftp, path: str) -> bool:
    """Remove ``path``: True when it is gone (or was never there)."""
    try:
        sftp.remove(path)
    except FileNotFoundError:
        return True
    except Exception:  # the connection is gone: the next contact sweeps it
        return False
    return True


def _quietly(call, *args) -> None:
    try:
        call(*args)
    except Exception:  # recording that it is gone is tidiness; a sweep finds nothing later
        pass
