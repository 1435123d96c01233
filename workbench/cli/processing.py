"""workbench process [--as-of D | --from D1 --to D2] · workbench scheduler [--once]"""

from __future__ import annotations

from . import Commands, emit, iso_date, open_workbench, whole


def register(commands: Commands) -> None:
    process = commands.add(
        "process", cmd_process,
        "process active audiences for a day (default: yesterday) or a range, as a papermill "
        "run whose notebook is kept under HOME/runs/processing")
    process.add_argument("--as-of", type=iso_date, default=None, metavar="YYYY-MM-DD",
                         help="one day (default: yesterday in the workbench timezone)")
    process.add_argument("--from", dest="date_from", type=iso_date, default=None,
                         metavar="YYYY-MM-DD", help="first day of a range (with --to)")
    process.add_argument("--to", dest="date_to", type=iso_date, default=None,
                         metavar="YYYY-MM-DD", help="last day of a range (with --from)")
    process.add_argument("--days", dest="last_days", type=whole, default=None, metavar="N",
                         help="the N days up to yesterday (a backfill, as setup runs)")
    scheduler = commands.add(
        "scheduler", cmd_scheduler,
        "run nightly processing and due export runs, forever (or one tick with --once)")
    scheduler.add_argument("--once", action="store_true", help="one tick, then exit (cron)")
    scheduler.add_argument("--interval", type=float, default=30, metavar="SECONDS",
                           help="seconds between ticks (default 30)")


def cmd_process(args) -> int:
    from ..errors import ProcessingFailed

    with open_workbench(args) as wb:
        # Checked here, before a kernel starts; the notebook's run checks them again.
        wb.user.require("processing.run")
        first, last = wb.processing.days(args.as_of, args.date_from, args.date_to,
                                         last_days=args.last_days)
        run = wb.run_processing(first, last)
        text = (f"processing run #{run['id']} {run['status']}: {run['audiences']} active "
                f"audiences, {run['date_from']} to {run['date_to']}\naudit notebook: "
                f"{run['notebook']}")
        emit(args, run, text)
        if run["status"] == "partial":
            raise ProcessingFailed(f"processing run #{run['id']} was partial: {run['error']} "
                                   f"(the other audiences were processed; audit notebook: "
                                   f"{run['notebook']})")
    return 0


def cmd_scheduler(args) -> int:
    from ..scheduler import Scheduler

    # What the scheduler changes (runs it makes, processing it starts) is its own doing.
    with open_workbench(args, via="scheduler") as wb:
        wb.user.require("export.run")
        scheduler = Scheduler(wb, log=lambda line: print(line, flush=True))
        if args.once:
            scheduler.tick()
        else:
            scheduler.forever(max(1.0, args.interval))
    return 0
