"""workbench audit [--audience N] [--export N] [--since D]: the audit trail, newest first"""

from __future__ import annotations

from . import Commands, an_id, emit, iso_date, open_workbench, positive


def register(commands: Commands) -> None:
    audit = commands.add("audit", cmd_audit, "every change, newest first: who, when, through "
                         "what (cli, page, api, scheduler, python), what before -> after")
    audit.add_argument("--audience", type=an_id("audience"), default=None, metavar="ID",
                       help="changes to this audience, its exports and their runs")
    audit.add_argument("--export", type=an_id("export"), default=None, metavar="ID",
                       help="changes to this export and its runs")
    audit.add_argument("--since", type=iso_date, default=None, metavar="YYYY-MM-DD",
                       help="from the start of this day (the workbench timezone)")
    audit.add_argument("--limit", type=positive, default=200, help="at most this many "
                       "(default 200)")


def cmd_audit(args) -> int:
    with open_workbench(args) as wb:
        entries = wb.audit_trail.entries(audience=args.audience, export=args.export,
                                         since=args.since, limit=args.limit)
        zone = wb.calendar.zone
        lines = [f"{'AT (' + zone.key + ')':<16}  {'USER':<12}  {'VIA':<9}  "
                 f"{'ACTION':<18}  {'SUBJECT':<16}  CHANGES"] + [
            f"{e.at.astimezone(zone):%Y-%m-%d %H:%M}  {e.user[:12]:<12}  {e.via:<9}  "
            f"{e.action:<18}  {_subject(e):<16}  {_one_line(e.text)}" for e in entries]
        emit(args, [e.to_json() for e in entries], "\n".join(lines))
    return 0


def _subject(entry) -> str:
    return entry.subject if entry.subject_id is None else f"{entry.subject} #{entry.subject_id}"


def _one_line(text: str) -> str:
    # A description may hold a newline (an audience's description): one entry, one line.
    return " ".join(text.split())
