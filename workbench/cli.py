"""The ``workbench`` command (SPEC 9).

Exit status: 0 done, 1 the operation failed, 2 bad usage or invalid input, with one line on
stderr. Heavy libraries (DuckDB, pandas, papermill) are imported inside the commands that need
them, so that scripts calling the CLI in loops do not pay for them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date

from .errors import InvalidInput, WorkbenchError


def _common(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--home", default=default, help="workbench home (else $WORKBENCH_HOME)")
    parser.add_argument("--user", default=default, help="act as this user (else "
                        "$WORKBENCH_USER, $JUPYTERHUB_USER, the OS login)")
    parser.add_argument("--json", action="store_true", default=default,
                        help="print data as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=(
        "Audience Workbench: define, track and deliver customer audiences."))
    _common(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = argparse.ArgumentParser(add_help=False)
    _common(shared, argparse.SUPPRESS)  # after the command too, without undoing the global ones

    init = commands.add_parser("init", parents=[shared], help="create a workbench home")
    init.add_argument("--timezone", default="UTC", help="IANA timezone (default UTC)")
    init.set_defaults(run=cmd_init)

    sample = commands.add_parser("sample", parents=[shared],
                                 help="generate and ingest a synthetic customer base")
    sample.add_argument("--customers", type=_positive, default=10_000, metavar="N")
    sample.add_argument("--seed", type=int, default=42, metavar="S")
    sample.add_argument("--until", type=_date, default=None, metavar="YYYY-MM-DD",
                        help="last day of generated events (default: a fixed day, so that the "
                             "same seed gives the same data)")
    sample.set_defaults(run=cmd_sample)

    ingest = commands.add_parser("ingest", parents=[shared],
                                 help="ingest customer data from CSV or Parquet")
    ingest.add_argument("kind", choices=["profiles", "transactions", "tags", "appended"])
    ingest.add_argument("file")
    ingest.add_argument("--strict", action="store_true",
                        help="store nothing and exit 1 if any row is rejected")
    ingest.add_argument("--schema", default=None, metavar="COL=TYPE,...",
                        help="appended: column types (text, integer, double, decimal, boolean, "
                             "date, timestamp); others are inferred")
    ingest.set_defaults(run=cmd_ingest)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except WorkbenchError as exc:
        print(f"workbench: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: say so in one line, keep the traceback for who asks
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error: {exc.__class__.__name__}: {exc} "
              "(set WORKBENCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _open(args):
    from .app import Workbench

    return Workbench(args.home, user=args.user)


def _print(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def cmd_init(args) -> int:
    from .home import init_home, resolve_home
    from .settings import Settings
    from .users import current_user_name

    root = resolve_home(args.home)
    try:
        Settings(timezone=args.timezone)
    except ValueError as exc:
        raise InvalidInput(f"--timezone: {exc.errors()[0]['msg']}") from None
    _, created = init_home(root, admin=current_user_name(args.user), timezone=args.timezone)
    text = (f"created workbench home {root}: {', '.join(created)}" if created else
            f"{root} is already a workbench home; nothing changed")
    _print(args, {"home": str(root), "created": created}, text)
    return 0


def cmd_sample(args) -> int:
    with _open(args) as wb:
        reports = wb.customers.sample(args.customers, args.seed, args.until)
        _print_reports(args, reports.values())
    return 0


def cmd_ingest(args) -> int:
    from .customers.schema import parse_schema_option

    schema = None
    if args.schema:
        if args.kind != "appended":
            raise InvalidInput("--schema is for `ingest appended`; other kinds have fixed types")
        try:
            schema = parse_schema_option(args.schema)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from None
    with _open(args) as wb:
        report = wb.customers.ingest(args.kind, args.file, strict=args.strict, schema=schema)
        _print_reports(args, [report])
    return 0


def _print_reports(args, reports) -> None:
    from dataclasses import asdict

    reports = list(reports)
    lines = []
    for report in reports:
        lines.append(f"{report.kind}: {report.summary()}")
        lines.extend(f"  {line}" for line in report.details())
    _print(args, [asdict(r) for r in reports] if len(reports) > 1 else asdict(reports[0]),
           "\n".join(lines))


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
