"""The ``workbench`` command (SPEC 9).

Exit status: 0 done, 1 the operation failed, 2 bad usage or invalid input, with one line on
stderr. Heavy libraries (DuckDB, pandas, papermill) are imported inside the commands that need
them, so that scripts calling the CLI in loops do not pay for them. One module per group of
commands registers its subcommands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from ..errors import InvalidInput, WorkbenchError


def _common(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--home", default=default, help="workbench home (else $WORKBENCH_HOME)")
    parser.add_argument("--user", default=default, help="act as this user (else "
                        "$WORKBENCH_USER, $JUPYTERHUB_USER, the OS login)")
    parser.add_argument("--json", action="store_true", default=default,
                        help="print data as JSON")


def build_parser() -> argparse.ArgumentParser:
    from . import audiences, data, processing

    parser = argparse.ArgumentParser(prog="workbench", description=(
        "Audience Workbench: define, track and deliver customer audiences."))
    _common(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = argparse.ArgumentParser(add_help=False)
    _common(shared, argparse.SUPPRESS)  # after the command too, without undoing the global ones
    data.register(commands, shared)
    audiences.register(commands, shared)
    processing.register(commands, shared)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args) or 0
    except WorkbenchError as exc:
        print(f"workbench: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `workbench audience members 3 | head`
        return 0
    except Exception as exc:  # a bug: say so in one line, keep the traceback for who asks
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error: {exc.__class__.__name__}: {exc} "
              "(set WORKBENCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def open_workbench(args):
    from ..app import Workbench

    return Workbench(args.home, user=args.user)


def emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def warn(lines: list[str]) -> None:
    for line in lines:
        print(f"workbench: warning: {line}", file=sys.stderr)


def read_json(path: str) -> dict:
    """A JSON document from a file, or standard input for ``-``."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} "
                           f"column {exc.colno}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a JSON object")
    return data


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
