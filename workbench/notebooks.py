"""Running the product's notebooks with papermill: the executed copy is the audit record.

Parameters never carry secrets: papermill writes them into the output notebook. Each run's
notebook has a path of its own, owner-only from its creation. The kernel dies with the process
that runs it (``die_with_parent``): papermill writes the notebook from that process, so a kernel
left running alone would finish a run that no notebook records; instead, a run whose process
was killed is taken over by the next attempt (export runs) or recorded interrupted by the next
run (processing), each with a notebook of its own.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .errors import KernelDied, NotebookFailed, WorkbenchError
from .files import make_private, private_folder

if TYPE_CHECKING:
    from .clock import Clock
    from .days import Calendar
    from .home import Home
    from .users import User

# The notebooks live beside the package in a checkout (the design card's notebooks/ folder);
# $WORKBENCH_NOTEBOOKS points elsewhere for installs that keep them apart.
NOTEBOOKS = Path(os.environ.get("WORKBENCH_NOTEBOOKS",
                                Path(__file__).resolve().parents[1] / "notebooks"))


class Opened(Protocol):
    """What a run's notebook needs of an opened workbench (``workbench.open``), named without
    importing the app that wires it; each kind of run adds the service it records with."""

    home: Home
    clock: Clock
    calendar: Calendar
    user: User
    via: str


def execute(name: str, output: Path, parameters: dict, *, stream: bool = True) -> Path:
    """Execute ``notebooks/NAME.ipynb`` into ``output``; its printed lines go to stderr."""
    papermill = _papermill()
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    source = NOTEBOOKS / f"{name}.ipynb"
    if not source.is_file():
        raise WorkbenchError(f"notebook {source} is missing (set WORKBENCH_NOTEBOOKS to the "
                             "folder that holds the workbench notebooks)")
    private_folder(output.parent)
    _quiet_libraries()
    if stream:
        _stream_cell_output()
    try:
        papermill.execute_notebook(
            str(source), str(output), parameters=parameters, log_output=stream,
            progress_bar=False, cwd=str(NOTEBOOKS),
            # The kernel's own notices (TCP on loopback at start-up; its sockets closing under it
            # when a run is stopped) are not ours: what the run does is in the notebook.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL",
                             "--IPKernelApp.exec_lines=import workbench.notebooks as n; "
                             f"n.die_with_parent({os.getpid()})"])
    except PapermillExecutionError as exc:
        raise NotebookFailed(exc.evalue, output, exc.ename) from None
    except DeadKernelError:
        raise KernelDied("the notebook's kernel died before the run finished", output) from None
    except OSError as exc:  # the disk filled up while papermill wrote the notebook
        _drop_if_unreadable(output)
        raise NotebookFailed(f"{exc.strerror or exc}: {exc.filename or output}", output) \
            from None
    except WorkbenchError:
        raise
    except Exception as exc:  # no kernel to start, a kernel that never answers, ...
        first = (str(exc).strip().splitlines() or [""])[0]
        raise NotebookFailed(f"the notebook could not run ({exc.__class__.__name__}: {first})",
                             output) from exc
    finally:
        make_private(output)
    return output


# papermill reads and writes notebooks on HDFS (pyarrow), S3 (boto3), Azure, GCS and GitHub
# too, and imports each client it finds installed when it is imported (each behind an
# ``except ImportError``). Ours are local files: hidden while papermill imports, the clients
# cost nothing, about 0.4 s of every run's start; they import as usual afterwards.
_PAPERMILL_STORES = ("pyarrow.fs", "boto3", "azure", "gcsfs", "github")


def _papermill():
    from .imports import skip_slow_optional_modules

    skip_slow_optional_modules()
    # papermill saves the notebook at each cell's start and end, nbformat checking it against
    # its schema every time: with fastjsonschema (installed with nbformat) the 18 checks of an
    # export run take 0.01 s of CPU instead of 0.07 s.
    os.environ.setdefault("NBFORMAT_VALIDATOR", "fastjsonschema")
    if "papermill" in sys.modules:
        return sys.modules["papermill"]
    hidden = [name for name in _PAPERMILL_STORES if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))
    try:
        import papermill
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    return papermill


def _quiet_libraries() -> None:
    """What went wrong is said in our one line, not in the libraries' log records."""
    # nbclient's tasks that end when a run is stopped report "exception was never retrieved"
    # through asyncio's logger at exit; the stop itself is reported by us, in one line.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    # nbclient logs "Kernel died while waiting…" with no handler of its own, which Python
    # prints to stderr; the CLI says it in its one line.
    logging.getLogger("nbclient").setLevel(logging.CRITICAL)
    # papermill's own notices ("Kernel died while waiting for execute reply.") would reach
    # stderr through Python's last-resort handler: what happened is said in our one line.
    papermill_log = logging.getLogger("papermill")
    if not papermill_log.handlers:
        papermill_log.addHandler(logging.NullHandler())


def _drop_if_unreadable(output: Path) -> None:
    """A notebook cut off mid-write is no audit record: remove it rather than leave a file
    that no tool can open (what the run did is in the store, or it did not start)."""
    import json

    try:
        json.loads(output.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        output.unlink(missing_ok=True)


def run_path(folder: Path, label: str, at: datetime) -> Path:
    """A new, empty, owner-only file for a run's notebook, named by when it started (``at``,
    the workbench's time) and what it runs, with a random part: two runs started in the same
    second, or under a pinned clock, never share one."""
    import secrets

    private_folder(folder)
    while True:
        path = folder / f"{at:%Y%m%dT%H%M%S}-{label}-{secrets.token_hex(3)}.ipynb"
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        return path


def die_with_parent(parent: int) -> None:
    """In a run's kernel: end when the process that runs the notebook ends (Linux), so that
    no run goes on with nobody writing its notebook."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the lease still hands the run over
        return
    if os.getppid() != parent:  # it ended before the line above
        os._exit(1)


def pinned_clock(wb: Opened) -> str | None:
    """The ``now`` parameter of a run's notebook: the caller's instant when its clock is
    pinned (so the kernel reads the same time), else None (the kernel reads the system's)."""
    pinned = wb.clock.pinned
    return pinned.isoformat() if pinned else None


class _Stripped(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage().rstrip()


def _stream_cell_output() -> None:
    """Show what the notebook prints (progress of long backfills) as it runs, and only that."""
    logger = logging.getLogger("papermill")
    if any(getattr(h, "_workbench", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Stripped())
    handler.addFilter(lambda record: record.getMessage().startswith("day "))
    handler._workbench = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
