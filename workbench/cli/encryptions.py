"""workbench encryption add | update | list | show: PGP encryptions of exports"""

from __future__ import annotations

from . import Commands, emit, open_workbench, read_json, warn


def register(commands: Commands) -> None:
    encryption = commands.noun("encryption", "PGP encryptions of exports (admin)")
    encryption.add("add", cmd_add, "add an encryption from JSON (SPEC 7)").add_argument("file")
    update = encryption.add("update", cmd_update, "replace an encryption's keys")
    update.add_argument("id", help="id or name")
    update.add_argument("file")
    encryption.add("list", cmd_list, "list encryptions")
    encryption.add("show", cmd_show, "show an encryption's keys").add_argument("id")


def cmd_add(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        encryption = wb.encryptions.add(data)
        warn(encryption.warnings)
        _show(args, encryption)
    return 0


def cmd_update(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        encryption = wb.encryptions.update(args.id, data)
        warn(encryption.warnings)
        _show(args, encryption)
    return 0


def cmd_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.encryptions.list()
        lines = [f"{'ID':>4}  {'NAME':<24}  {'KEYS':>4}  EARLIEST EXPIRY"] + [
            f"{e.id:>4}  {e.name[:24]:<24}  {len(e.keys):>4}  {e.earliest_expiry or 'never'}"
            + ("  (expired)" if e.warnings else "") for e in rows]
        emit(args, [e.to_json() for e in rows], "\n".join(lines))
    return 0


def cmd_show(args) -> int:
    with open_workbench(args) as wb:
        encryption = wb.encryptions.get(args.id)
        warn(encryption.warnings)
        _show(args, encryption)
    return 0


def _show(args, e) -> None:
    lines = [f"#{e.id} {e.name} (PGP, {len(e.keys)} key(s))"] + [
        f"  {k['fingerprint']}  {', '.join(k['user_ids'])}  expires {k.get('expires') or 'never'}"
        for k in e.keys]
    emit(args, e.to_json(), "\n".join(lines))
