"""workbench process [--as-of D | --from D1 --to D2]"""

from __future__ import annotations

import argparse

from . import emit, iso_date, open_workbench


def register(commands, shared: argparse.ArgumentParser) -> None:
    process = commands.add_parser(
        "process", parents=[shared],
        help="process active audiences for a day (default: yesterday) or a range, as a "
             "papermill run whose notebook is kept under HOME/runs/processing")
    process.add_argument("--as-of", type=iso_date, default=None, metavar="YYYY-MM-DD")
    process.add_argument("--from", dest="date_from", type=iso_date, default=None,
                         metavar="YYYY-MM-DD")
    process.add_argument("--to", dest="date_to", type=iso_date, default=None,
                         metavar="YYYY-MM-DD")
    process.set_defaults(run=cmd_process)


def cmd_process(args) -> int:
    from ..notebooks import KernelDied, NotebookFailed, execute, run_path
    from ..processing.run import ProcessingFailed

    with open_workbench(args) as wb:
        # Checked here, before a kernel starts; the notebook's run checks them again.
        wb.user.require("processing.run")
        first, last = wb.processing.days(args.as_of, args.date_from, args.date_to)
        label = str(first) if first == last else f"{first}_{last}"
        output = run_path(wb.home.runs_dir / "processing", label)
        parameters = {"home": str(wb.home.root), "user": wb.user.name,
                      "as_of": str(args.as_of) if args.as_of else None,
                      "date_from": str(args.date_from) if args.date_from else None,
                      "date_to": str(args.date_to) if args.date_to else None,
                      "run_notebook": str(output)}
        try:
            execute("nightly_processing", output, parameters)
        except KeyboardInterrupt:
            # papermill shuts the kernel down on the way out; the run could not record its end.
            run_id = wb.processing.recover(str(output), "stopped by Ctrl-C or a stop signal") \
                or _run_of(wb, output)
            raise ProcessingFailed(
                f"processing run #{run_id or '?'} interrupted: stopped by Ctrl-C or a stop "
                f"signal; the previous results are unchanged (audit notebook: {output})"
            ) from None
        except KernelDied as exc:
            # The kernel could not record its own end: do it for it, and remove its files.
            run_id = wb.processing.recover(str(output), "the processing kernel died") \
                or _run_of(wb, output)
            raise ProcessingFailed(
                f"processing run #{run_id or '?'} interrupted: the processing kernel died; "
                f"the previous results are unchanged (audit notebook: {output})") from exc
        except NotebookFailed as exc:
            exc.message = f"processing failed: {exc.message} (audit notebook: {exc.output})"
            raise
        [run] = wb.processing.runs(limit=1)
        text = (f"processing run #{run['id']} {run['status']}: {run['audiences']} active "
                f"audiences, {run['date_from']} to {run['date_to']}\naudit notebook: {output}")
        emit(args, {**run, "notebook": str(output)}, text)
        if run["status"] == "partial":
            raise ProcessingFailed(f"processing run #{run['id']} was partial: {run['error']} "
                                   f"(the other audiences were processed; audit notebook: "
                                   f"{output})")
    return 0


def _run_of(wb, output) -> int | None:
    """The run of an audit notebook (when the run recorded its own end before stopping)."""
    return next((r["id"] for r in wb.processing.runs(limit=5) if r["notebook"] == str(output)),
                None)
