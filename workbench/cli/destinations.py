"""workbench destination add | update | list | show | remove | test: SFTP and S3 destinations"""

from __future__ import annotations

import sys

from ..delivery import location
from . import Commands, emit, open_workbench, read_json


def register(commands: Commands) -> None:
    destination = commands.noun("destination", "SFTP and S3 destinations of exports (admin)")
    add = destination.add("add", cmd_add, "add a destination from JSON (SPEC 7)")
    add.add_argument("file", help="destination JSON, or - for standard input")
    add.add_argument("--trust-host-key", action="store_true",
                     help="fetch the server's host key, print it with its SHA256 fingerprint "
                          "and pin it (compare it with what the server's owner tells you)")
    update = destination.add("update", cmd_update, "update a destination (secrets left out "
                             "are kept)")
    update.add_argument("id", help="id or name")
    update.add_argument("file")
    update.add_argument("--trust-host-key", action="store_true")
    destination.add("list", cmd_list, "list destinations")
    destination.add("show", cmd_show, "show a destination (never its secrets)") \
        .add_argument("id", help="id or name")
    destination.add("remove", cmd_remove, "remove a destination no export uses") \
        .add_argument("id", help="id or name")
    destination.add("test", cmd_test, "log in, check the path exists and is writable") \
        .add_argument("id", help="id or name")


def _print_host_key(wb, data: dict) -> None:
    key = wb.destinations.fetch_host_key(data.get("host", ""), int(data.get("port") or 22))
    print(f"host key of {data.get('host')}:{data.get('port') or 22}: {key.line}",
          file=sys.stderr)
    print(f"fingerprint: {key.fingerprint}", file=sys.stderr)


def cmd_add(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        if args.trust_host_key and not data.get("host_key") and _sftp(data):
            _print_host_key(wb, data)
        destination = wb.destinations.add(data, trust_host_key=args.trust_host_key)
        _show(args, destination)
    return 0


def cmd_update(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        if args.trust_host_key and not data.get("host_key") and _sftp(data):
            _print_host_key(wb, data)
        _show(args, wb.destinations.update(args.id, data, trust_host_key=args.trust_host_key))
    return 0


def cmd_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.destinations.list()
        lines = [f"{'ID':>4}  {'NAME':<24}  {'TYPE':<4}  {'WHERE':<60}  USER"] + [
            f"{d.id:>4}  {d.name[:24]:<24}  {d.type:<4}  {d.location[:60]:<60}  {d.username}"
            for d in rows]
        emit(args, [d.to_json() for d in rows], "\n".join(lines))
    return 0


def cmd_show(args) -> int:
    with open_workbench(args) as wb:
        _show(args, wb.destinations.get(args.id))
    return 0


def _sftp(data) -> bool:
    return not isinstance(data, dict) or (data.get("type") or "sftp") == "sftp"


def _show(args, d) -> None:
    if d.type != "sftp":
        emit(args, d.to_json(), f"#{d.id} {d.name}: {d.location} (key id {d.username}; "
                                f"{d.auth})")
        return
    text = (f"#{d.id} {d.name}: sftp://{d.username}@{location(d.host, d.port, d.path)} "
            f"({d.auth})\n"
            f"host key {d.fingerprint}")
    emit(args, d.to_json(), text)


def cmd_remove(args) -> int:
    with open_workbench(args) as wb:
        destination = wb.destinations.get(args.id)
        wb.destinations.remove(destination.id)
        emit(args, {"removed": destination.id}, f"removed destination #{destination.id} "
             f"{destination.name}")
    return 0


def cmd_test(args) -> int:
    with open_workbench(args) as wb:
        steps = wb.destinations.test(args.id)
        emit(args, {"ok": True, "steps": steps}, "\n".join(f"ok  {s}" for s in steps))
    return 0
