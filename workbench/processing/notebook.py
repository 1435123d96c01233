"""A processing run through papermill: the executed notebook is the run's audit record."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Protocol

from .. import notebooks
from ..errors import Conflict, KernelDied, NotebookFailed, ProcessingFailed

if TYPE_CHECKING:
    from .run import Processing


class Opened(notebooks.Opened, Protocol):
    """What a processing run needs of an opened workbench."""

    processing: Processing


def run_processing(wb: Opened, first: date, last: date, *, stream: bool = True,
                   audience: int | None = None) -> dict:
    """Execute ``notebooks/nightly_processing.ipynb`` for the days ``first`` to ``last``; the
    run as recorded (a killed kernel or a stop is recorded as interrupted, its files removed).
    ``audience``: the backfill of that audience alone (backfill.py), for those days."""
    wb.user.require("processing.run")
    label = str(first) if first == last else f"{first}_{last}"
    if audience is not None:
        label = f"backfill-{audience}-{label}"
    output = notebooks.run_path(wb.home.runs_dir / "processing", label, wb.calendar.now())
    one_day = first == last
    parameters = {"home": str(wb.home.root), "user": wb.user.name, "now": notebooks.pinned_clock(wb),
                  "via": wb.via, "role": wb.user.role.value,
                  "as_of": str(first) if one_day else None,
                  "date_from": None if one_day else str(first),
                  "date_to": None if one_day else str(last), "run_notebook": str(output),
                  "backfill": audience}
    try:
        notebooks.execute("nightly_processing", output, parameters, stream=stream)
    except KeyboardInterrupt:
        # papermill shuts the kernel down on the way out; the run could not record its end.
        raise _interrupted(wb, output, "stopped by Ctrl-C or a stop signal", audience) from None
    except KernelDied as exc:
        raise _interrupted(wb, output, "the processing kernel died", audience) from exc
    except NotebookFailed as exc:
        if exc.error == "Conflict":  # refused (another run holds the lock): no run, no record
            output.unlink(missing_ok=True)
            raise Conflict(exc.reason) from None
        raise ProcessingFailed(f"processing failed: {exc.message} (audit notebook: "
                               f"{exc.output})") from None
    return {**_run_row(wb, output), "notebook": str(output)}


def _interrupted(wb: Opened, output, reason: str, audience: int | None = None) -> Exception:
    """Record the run of ``output`` as interrupted (its files removed) and say so: on every
    active audience, or on the one a backfill was for."""
    run_id = wb.processing.recover(str(output), reason, None if audience is None
                                   else [audience]) or _run_of(wb, output)
    return ProcessingFailed(f"processing run #{run_id or '?'} interrupted: {reason}; the "
                            f"previous results are unchanged (audit notebook: {output})")


def _run_of(wb: Opened, output) -> int | None:
    run = _run_row(wb, output)
    return run and run["id"]


def _run_row(wb: Opened, output) -> dict | None:
    """The run of an audit notebook (each run's notebook has a path of its own)."""
    return next((r for r in wb.processing.runs(limit=20) if r["notebook"] == str(output)),
                None)
