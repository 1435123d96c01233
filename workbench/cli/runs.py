"""workbench export run | history: runs of an export, made now or by the scheduler"""

from __future__ import annotations

from ..run_states import RunState
from . import Commands, an_id, emit, open_workbench


def register(export: Commands) -> None:
    """The verbs of ``workbench export`` that are about its runs."""
    run = export.add("run", cmd_run, "run an export now and wait; prints the run (a papermill "
                     "run whose notebook is kept under HOME/runs/exports)")
    run.add_argument("id")
    run.add_argument("--allow-stale", action="store_true",
                     help="deliver even when the audience's last processing is older than "
                          "the export's max_staleness_days (the run records it)")
    history = export.add("history", cmd_history, "export runs, newest first")
    history.add_argument("--export", type=an_id("export"), default=None, metavar="ID")


def cmd_run(args) -> int:
    from ..errors import DeliveryError

    with open_workbench(args) as wb:
        run_id = wb.export_runs.create(args.id, allow_stale=args.allow_stale).id
        try:
            run = wb.run_export(run_id)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: the run as it was left, in one line
            raise DeliveryError("stopped: " + unfinished(wb.export_runs.get(run_id),
                                                         "kept under HOME/runs/exports")) \
                from None
        notebook = run.details.get("notebook")
        _show(args, run, notebook)
        if run.state != RunState.COMPLETE:
            raise DeliveryError(unfinished(run, notebook))
    return 0


def unfinished(run, notebook) -> str:
    """The one line for a run that did not complete: its state and why, never "None"."""
    if run.state == RunState.IN_PROGRESS:  # its attempt could not record its end
        return (f"export run #{run.id} is in-progress: its attempt could not record how it "
                "ended (the metadata store stayed busy, or its kernel stopped); once its lease "
                "runs out the scheduler takes it over and records it Complete if its file is "
                f"on the server; do not run it again (audit notebook: {notebook})")
    # A run's error begins with its state ("canceled: …"): said once.
    reason = (run.error or "no reason recorded").removeprefix(f"{run.state}: ")
    return f"export run #{run.id} {run.state}: {reason} (audit notebook: {notebook})"


def cmd_history(args) -> int:
    with open_workbench(args) as wb:
        runs = wb.export_runs.history(args.export)
        zone = wb.calendar.zone
        lines = [f"{'RUN':>5}  {'STATE':<11}  {'SCHEDULED (' + zone.key + ')':<16}  "
                 f"{'EXPORT':<22}  {'ROWS':>9}  {'TRIES':>5}  FILE / ERROR"] + [
            f"{r.id:>5}  {r.state.label:<11}  "
            f"{r.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M}  {r.export[:22]:<22}  "
            f"{'-' if r.rows is None else f'{r.rows:,}':>9}  {r.attempts:>5}  "
            f"{r.error or _files(r)}" for r in runs]
        emit(args, [r.to_json() for r in runs], "\n".join(lines))
    return 0


def _show(args, run, notebook) -> None:
    text = (f"export run #{run.id} of #{run.export_id} {run.export}: "
            f"{run.state.label}\n"
            f"{run.rows if run.rows is not None else '-'} rows, "
            f"{run.bytes if run.bytes is not None else '-'} bytes as of {run.as_of or '-'} -> "
            f"{run.file_name or '-'} on {run.details.get('destination', run.destination)}\n"
            f"audit notebook: {notebook}")
    if len(run.details.get("files") or []) > 1:  # parts, both changes, the manifest
        text += "\nfiles: " + ", ".join(f["file_name"] for f in run.details["files"])
    if run.notification:  # "e-mail not sent: no SMTP host configured"
        text += f"\n{run.notification}"
    for name, note in (run.details.get("notices") or {}).items():  # webhook / Slack targets
        text += f"\n{name}: {note}"
    if run.details.get("allowed_stale"):
        text += f"\ndelivered stale, as allowed: {run.details['allowed_stale']}"
    emit(args, {**run.to_json(), "notebook": str(notebook)}, text)


def _files(run) -> str:
    """A run's file, or its manifest and how many files it delivered."""
    files = run.details.get("files") or []
    if len(files) > 1:
        return f"{run.file_name} ({len(files)} files)"
    return run.file_name or ""
