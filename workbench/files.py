"""Files that jobs read while other processes may replace them: read leases and private writes.

Customer data versions and membership files are immutable once written; what changes is which
file the store calls current. A job that reads a file holds a shared ``flock`` on it for as long
as it reads (a *lease*); whoever removes superseded files takes an exclusive lock without waiting
and skips a file that someone still reads. The kernel drops the locks of a process that dies, so a
killed job never pins a file forever, and no lock table has to be cleaned up.

Jobs that must not overlap (a processing run, two ingests of one kind, a sample) hold an
exclusive ``flock`` on a lock file of their own (``exclusive_lock``), dropped the same way.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from .errors import WorkbenchError

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


class Gone(Exception):
    """The file was removed before the lease was taken (it was superseded meanwhile)."""


def lease(stack: ExitStack, path: Path) -> None:
    """Hold a shared lock on ``path`` until ``stack`` closes; raise ``Gone`` if it vanished."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise Gone(str(path)) from None
    stack.callback(os.close, fd)
    fcntl.flock(fd, fcntl.LOCK_SH)
    # Removed between open and lock (the remover held the lock then): the path is gone, or is
    # another file now. Either way this is not the version that was asked for.
    try:
        same = os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        same = False
    if not same:
        raise Gone(str(path))


def remove_unless_read(path: Path) -> bool:
    """Remove ``path`` unless a job holds a lease on it; True when it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False  # still read: the next clean-up takes it
            raise
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def make_private(path: Path) -> Path:
    """Customer data, rejects and run records are readable by the home's owner only: group and
    other lose every right; the owner's own are left as they are (a folder its owner made
    read-only stays read-only)."""
    try:
        mode = os.stat(path).st_mode
        allowed = PRIVATE_FOLDER if stat.S_ISDIR(mode) else PRIVATE_FILE
        if stat.S_IMODE(mode) & ~allowed:
            os.chmod(path, stat.S_IMODE(mode) & allowed)
    except FileNotFoundError:
        pass
    return path


def private_folder(path: Path) -> Path:
    """``path`` and any missing folder above it, created for the owner only (``mkdir -p``
    would give the folders above it the umask's mode)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)
        make_private(folder)
    return make_private(path)


class Locked(Exception):
    """The lock stayed held for the whole wait; ``holder`` is what its holder wrote in it."""

    def __init__(self, holder: str):
        super().__init__(holder)
        self.holder = holder


@contextmanager
def exclusive_lock(path: Path, *, wait: float | None = None, holder: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on the lock file ``path`` for the block. ``wait`` is how many
    seconds to wait for another holder before raising ``Locked`` (0: not at all); None waits for
    as long as it holds. ``holder`` (who this is) stays written in the file while held, for a
    process refused meanwhile to say. The file is the owner's only: it holds little, but lives
    among private files and should not be the one thing others may read."""
    try:  # never through a link: another user could aim it at a file of ours to be emptied
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise WorkbenchError(f"{path} is a symbolic link, not a lock file: remove it (a lock "
                             "file is never a link)") from None
    os.fchmod(fd, stat.S_IMODE(os.fstat(fd).st_mode) & PRIVATE_FILE)
    with os.fdopen(fd, "r+") as handle:
        _acquire(handle, wait)
        try:
            handle.truncate(0)  # what a holder that was killed left
            handle.write(holder)
            handle.flush()
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _acquire(handle: IO[str], wait: float | None) -> None:
    if wait is None:
        fcntl.flock(handle, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise Locked(handle.read().strip()) from None
            time.sleep(0.1)
