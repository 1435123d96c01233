"""One export run through papermill: the executed notebook is the run's audit record."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..app import Workbench
    from .runs import Run


def run_export(wb: Workbench, run_id: int) -> Run:
    """Execute ``notebooks/run_export.ipynb`` for a run (claimed inside); the run as it ended.
    A kernel that dies, or a stop, is recorded on the run when the run could not say so."""
    from ..notebooks import KernelDied, NotebookFailed, execute, pinned_clock, run_path

    output = run_path(wb.home.runs_dir / "exports", f"run-{run_id}", wb.calendar.now())
    parameters = {"home": str(wb.home.root), "run_id": run_id, "user": wb.user.name,
                  "now": pinned_clock(wb), "run_notebook": str(output)}
    try:
        execute("run_export", output, parameters, stream=False)
    except (KernelDied, NotebookFailed, KeyboardInterrupt) as exc:
        if not isinstance(exc, KernelDied | KeyboardInterrupt) and \
                "is not delivered twice" in str(exc):
            # Another process holds the run: it is theirs to finish; touch nothing.
            from ..errors import Conflict

            raise Conflict(f"export run #{run_id} is taken by another process") from None
        if isinstance(exc, KernelDied | KeyboardInterrupt) and \
                wb.export_runs.get(run_id).state == "in_progress":
            wb.export_runs.abandon(run_id, "interrupted: the run's kernel stopped before it "
                                           "ended; the next attempt takes it over")
        if isinstance(exc, KeyboardInterrupt):
            raise
    run = wb.export_runs.get(run_id)
    run.details.setdefault("notebook", str(output))
    return run
