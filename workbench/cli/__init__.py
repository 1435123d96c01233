"""The ``workbench`` command (SPEC 9).

Exit status: 0 done, 1 the operation failed, 2 bad usage or invalid input, with one line on
stderr. Heavy libraries (DuckDB, pandas, papermill) are imported inside the commands that need
them, so that scripts calling the CLI in loops do not pay for them. Each noun has a module
(``audiences``, ``destinations``, ``encryptions``, ``exports`` and their ``runs``), as has each
other group of commands (``data``, ``processing``, ``audit``, ``serve``); all add theirs through
``Commands``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import date

from ..days import parse_day
from ..errors import InvalidInput, WorkbenchError


def _common(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("--home", default=default, help="workbench home (else $WORKBENCH_HOME)")
    parser.add_argument("--user", default=default, help="act as this user (else "
                        "$WORKBENCH_USER, $JUPYTERHUB_USER, the OS login)")
    parser.add_argument("--json", action="store_true", default=default,
                        help="print data as JSON")
    parser.add_argument("--url", default=default, help="a team's workbench service (else "
                        "$WORKBENCH_URL), as the user of $WORKBENCH_TOKEN (docs/team.md)")


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line, like every other error (SPEC 9), pointing at the help."""

    def error(self, message: str):
        self.exit(2, f"workbench: {first_line(message)} (see `{self.prog} --help`)\n")


class Commands:
    """Where the command modules add theirs: each command, or verb of a noun, takes the options
    that every command takes and names the function that runs it (``args.run``)."""

    def __init__(self, subparsers, shared: argparse.ArgumentParser):
        self._subparsers = subparsers
        self._shared = shared

    def add(self, name: str, run: Callable[[argparse.Namespace], int],
            help: str) -> argparse.ArgumentParser:
        parser = self._subparsers.add_parser(name, parents=[self._shared], help=help)
        parser.set_defaults(run=run)
        return parser

    def noun(self, name: str, help: str) -> Commands:
        """A command of verbs (``workbench export list``): its verbs are added to the result,
        and the one given is ``args.verb``."""
        group = self._subparsers.add_parser(name, help=help)
        return Commands(group.add_subparsers(dest="verb", required=True, metavar="VERB"),
                        self._shared)


def build_parser() -> argparse.ArgumentParser:
    from . import audiences, audit, data, destinations, encryptions, exports, notices, processing, serve, team

    parser = _Parser(prog="workbench", description=(
        "Audience Workbench: define, track and deliver customer audiences."))
    _common(parser, None)
    shared = argparse.ArgumentParser(add_help=False)
    _common(shared, argparse.SUPPRESS)  # after the command too, without undoing the global ones
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
                        shared)
    # In the order `workbench --help` lists them.
    for module in (data, audiences, processing, destinations, encryptions, notices, exports, audit,
                   serve, team):
        module.register(commands)
    return parser


def _stop(signum, _frame) -> None:
    # cron, systemd and Kubernetes stop jobs with SIGTERM: let it unwind like Ctrl-C, so that a
    # run in progress is recorded as interrupted and its files are removed.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal

    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _stop)
    except ValueError:  # not the main thread (called from a library): leave signals alone
        pass
    # Owner-only files from their creation, in this process and every one it starts (papermill
    # kernels, Voilà and its kernels, gpg): customer rows, run notebooks, logs.
    os.umask(0o077)
    try:
        args = build_parser().parse_args(argv)
        return args.run(args) or 0
    except WorkbenchError as exc:
        print(f"workbench: {first_line(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `workbench audience members 3 | head`
        return 0
    except OSError as exc:  # disk full, read-only file system, permission denied, ...
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: {os_error(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: say so in one line, keep the traceback for who asks
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        print(f"workbench: internal error: {exc.__class__.__name__}: {first_line(str(exc))} "
              "(set WORKBENCH_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def first_line(message: str) -> str:
    """The first non-blank line of a message. Database errors go on with the SQL and its
    parameters (DuckDB's "LINE 1: SELECT ...", SQLAlchemy's "[SQL: ...]"): a person needs the
    reason, and the SQL may hold customer data."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"


def os_error(exc: OSError) -> str:
    """``No space left on device: /home/wb/data/x.parquet``: the reason and the file."""
    reason = exc.strerror or first_line(str(exc))
    if exc.filename is None:
        return reason
    # A file name may hold a newline or ESC; the message stays one line that rewrites nothing.
    name = os.fsdecode(exc.filename) if isinstance(exc.filename, bytes) else str(exc.filename)
    name = re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], name)
    return f"{reason}: {name}"


def open_workbench(args, via: str = "cli"):
    """The home of ``--home``, or the team's service of ``--url`` (docs/team.md)."""
    from ..service import service_url

    url = getattr(args, "url", None) or (None if args.home else service_url())
    if url:
        from ..service.client import RemoteWorkbench

        if args.user:
            raise InvalidInput("--user: a team's workbench knows you by your hub token; "
                               "there is no acting as another user")
        return RemoteWorkbench(url, via=via)
    from ..app import Workbench

    return Workbench(args.home, user=args.user, via=via)


def emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


def warn(lines: list) -> None:  # text, or Problems (printed as "field: message")
    for line in lines:
        print(f"workbench: warning: {line}", file=sys.stderr)


def read_json(path: str) -> dict:
    """A JSON document from a file, or standard input for ``-``: UTF-8, at most 1 MB and 20
    levels deep (``load_json``), else one line saying why."""
    from ..audiences.definition import MAX_JSON_BYTES, load_json

    try:
        if path == "-":
            raw = getattr(sys.stdin, "buffer", sys.stdin).read(MAX_JSON_BYTES + 1)
        else:
            with open(path, "rb") as handle:  # a bounded read: the path may be /dev/zero
                raw = handle.read(MAX_JSON_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror or first_line(str(exc))}") from None
    try:
        data = load_json(raw)
    except ValueError as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a JSON object")
    return data


def whole(text: str) -> int:
    """A whole number as digits (int() would also take ' 3', '+3', '1_0' and other scripts'
    digits)."""
    if not re.fullmatch(r"[0-9]{1,18}", text):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number")
    return int(text)


def positive(text: str) -> int:
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def an_id(what: str) -> Callable[[str], int]:
    """An option naming a stored object by id, checked as every id is (``ids.parse_id``)."""
    def parse(text: str) -> int:
        from ..ids import parse_id

        try:
            return parse_id(text, what)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def iso_date(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
