"""One export run through papermill: the executed notebook is the run's audit record."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from .. import notebooks
from ..errors import Conflict, KernelDied, NotebookFailed, WorkbenchError
from ..run_states import Run, RunState

if TYPE_CHECKING:
    from .runs import ExportRuns


class Opened(notebooks.Opened, Protocol):
    """What an export run needs of an opened workbench."""

    export_runs: ExportRuns


def run_export(wb: Opened, run_id: int) -> Run:
    """Execute ``notebooks/run_export.ipynb`` for a run (claimed inside); the run as it ended.
    A kernel that dies, or a stop, is recorded on the run when the run could not say so."""
    output = notebooks.run_path(wb.home.runs_dir / "exports", f"run-{run_id}", wb.calendar.now())
    parameters = {"home": str(wb.home.root), "run_id": run_id, "user": wb.user.name,
                  "now": notebooks.pinned_clock(wb), "via": wb.via, "role": wb.user.role.value,
                  "run_notebook": str(output)}
    try:
        notebooks.execute("run_export", output, parameters, stream=False)
    except (NotebookFailed, KeyboardInterrupt) as exc:
        if isinstance(exc, NotebookFailed) and exc.error == "Conflict":
            # Another process holds the run: it is theirs to finish; touch nothing, and keep
            # no notebook of an attempt that never was.
            output.unlink(missing_ok=True)
            raise Conflict(f"export run #{run_id} is taken by another process") from None
        if isinstance(exc, NotebookFailed) and not wb.export_runs.claimed_in(run_id, str(output)):
            # Its kernel never claimed the run (it did not start, or died first): the run's
            # state is another attempt's, neither to be reported as this one's nor touched.
            raise exc from None
        run = wb.export_runs.get(run_id)
        if isinstance(exc, KernelDied | KeyboardInterrupt) and run.state == RunState.IN_PROGRESS:
            wb.export_runs.abandon(run_id, "interrupted: the run's kernel stopped before it "
                                           "ended; the next attempt takes it over")
            if wb.export_runs.started_by_hand(run_id):
                # One attempt: ended here, now (its file looked for on the server if it was
                # staged, its temporary file removed, its e-mail sent), not at the next tick.
                try:
                    wb.export_runs.execute(run_id)
                except WorkbenchError:
                    pass  # another process took it: theirs to end
        if isinstance(exc, KeyboardInterrupt):
            raise
    run = wb.export_runs.get(run_id)
    run.details.setdefault("notebook", str(output))
    return run
