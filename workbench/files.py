"""Files that jobs read while other processes may replace them: read leases and private writes.

Customer data versions and membership files are immutable once written; what changes is which
file the store calls current. A job that reads a file holds a shared ``flock`` on it for as long
as it reads (a *lease*); whoever removes superseded files takes an exclusive lock without waiting
and skips a file that someone still reads. The kernel drops the locks of a process that dies, so a
killed job never pins a file forever, and no lock table has to be cleaned up.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from contextlib import ExitStack
from pathlib import Path

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


def make_private_lock(path: Path) -> Path:
    """A lock file created with the owner's rights only (it holds nothing, but lives among
    private files and should not be the one thing others may read)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    return make_private(path)
