"""workbench init | sample | ingest"""

from __future__ import annotations

from pathlib import Path

from ..customers.schema import ENCODINGS
from ..errors import InvalidInput
from . import Commands, emit, iso_date, open_workbench, positive

DEMO_AUDIENCES = Path(__file__).resolve().parents[2] / "data" / "demo_audiences.json"


def register(commands: Commands) -> None:
    commands.add("init", cmd_init, "create a workbench home") \
        .add_argument("--timezone", default="UTC", help="IANA timezone (default UTC)")
    sample = commands.add("sample", cmd_sample, "generate and ingest a synthetic customer base")
    sample.add_argument("--customers", type=positive, default=10_000, metavar="N")
    sample.add_argument("--seed", type=int, default=42, metavar="S")
    sample.add_argument("--until", type=iso_date, default=None, metavar="YYYY-MM-DD",
                        help="last day of generated events (default: yesterday in the "
                             "workbench timezone; the same seed and --until give the same "
                             "data)")
    ingest = commands.add("ingest", cmd_ingest, "ingest customer data from CSV or Parquet")
    ingest.add_argument("kind", choices=["profiles", "transactions", "tags", "appended"])
    ingest.add_argument("file")
    ingest.add_argument("--strict", action="store_true",
                        help="store nothing and exit 1 if any row is rejected")
    ingest.add_argument("--schema", default=None, metavar="COL=TYPE,...",
                        help="appended: column types (text, integer, double, decimal, boolean, "
                             "date, timestamp); others are inferred")
    ingest.add_argument("--encoding", choices=list(ENCODINGS), default="utf-8",
                        help="text encoding of a CSV file (default utf-8)")
    commands.add("demo", cmd_demo, "create and activate the demo audiences of "
                 "data/demo_audiences.json (once)") \
        .add_argument("--file", default=None, help="another JSON list of definitions")


def cmd_init(args) -> int:
    from ..clock import Clock
    from ..home import init_home, resolve_home
    from ..settings import Settings
    from ..users import current_user_name

    Clock()  # a bad WORKBENCH_NOW refuses before anything is made
    root = resolve_home(args.home)
    try:
        Settings(timezone=args.timezone)
    except ValueError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"--timezone: {reason}") from None
    _, created = init_home(root, admin=current_user_name(args.user), timezone=args.timezone)
    text = (f"created workbench home {root}: {', '.join(created)}" if created else
            f"{root} is already a workbench home; nothing changed")
    emit(args, {"home": str(root), "created": created}, text)
    return 0


def cmd_sample(args) -> int:
    with open_workbench(args) as wb:
        reports = wb.customers.sample(args.customers, args.seed, args.until)
        _print_reports(args, reports.values())
    return 0


def cmd_ingest(args) -> int:
    from ..customers.schema import parse_schema_option

    schema = None
    if args.schema:
        if args.kind != "appended":
            raise InvalidInput("--schema is for `ingest appended`; other kinds have fixed types")
        try:
            schema = parse_schema_option(args.schema)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    with open_workbench(args) as wb:
        report = wb.customers.ingest(args.kind, args.file, strict=args.strict, schema=schema,
                                     encoding=args.encoding)
        _print_reports(args, [report])
    return 0


def _print_reports(args, reports) -> None:
    from dataclasses import asdict

    reports = list(reports)
    lines = []
    for report in reports:
        lines.append(f"{report.kind}: {report.summary()}")
        lines.extend(f"  {line}" for line in report.details())
    emit(args, [asdict(r) for r in reports] if len(reports) > 1 else asdict(reports[0]),
         "\n".join(lines))


def cmd_demo(args) -> int:
    import json

    path = Path(args.file) if args.file else DEMO_AUDIENCES
    definitions = json.loads(path.read_text(encoding="utf-8"))
    with open_workbench(args) as wb:
        existing = {a.name for a in wb.audiences.list()}
        created = []
        for definition in definitions:
            if definition["name"] not in existing:
                # No backfill: setup processes the demo's days itself, once for all three.
                audience = wb.audiences.activate(wb.audiences.create(definition).id,
                                                 backfill=False)
                created.append(f"#{audience.id} {audience.name}")
        emit(args, created, "created and activated: " + ", ".join(created) if created
             else "the demo audiences exist already; nothing changed")
    return 0
