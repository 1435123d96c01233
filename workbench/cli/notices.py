"""workbench notice add | update | list | show | remove | test: webhook and Slack notice targets
that an export's ``notify`` names (docs/exports.md, "Webhook and Slack notices"). Their URLs and
signing secrets are write-only: read from the JSON file, never printed."""

from __future__ import annotations

from . import Commands, emit, open_workbench, read_json


def register(commands: Commands) -> None:
    notice = commands.noun("notice", "webhook and Slack notice targets of exports (admin)")
    notice.add("add", cmd_add, "add a notice target from JSON: {\"name\", \"type\": "
               "\"webhook\", \"url\", \"secret\"} or {\"name\", \"type\": \"slack\", \"url\"}") \
        .add_argument("file", help="notice target JSON, or - for standard input")
    update = notice.add("update", cmd_update, "update a notice target (a URL or secret left "
                        "out is kept)")
    update.add_argument("id", help="id or name")
    update.add_argument("file")
    notice.add("list", cmd_list, "list notice targets (never their URLs or secrets)")
    notice.add("show", cmd_show, "show a notice target (its host, never its URL or secret)") \
        .add_argument("id", help="id or name")
    notice.add("remove", cmd_remove, "remove a notice target no export names") \
        .add_argument("id", help="id or name")
    notice.add("test", cmd_test, "send a test notice and say how it was answered") \
        .add_argument("id", help="id or name")


def _text(t) -> str:
    return f"#{t.id} {t.name}: {t.type} to {t.host}" + (" (signed)" if t.signed else "")


def cmd_add(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        target = wb.notices.add(data)
        emit(args, target.to_json(), _text(target))
    return 0


def cmd_update(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        target = wb.notices.update(args.id, data)
        emit(args, target.to_json(), _text(target))
    return 0


def cmd_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.notices.list()
        lines = [f"{'ID':>4}  {'NAME':<24}  {'TYPE':<7}  HOST"] + [
            f"{t.id:>4}  {t.name[:24]:<24}  {t.type:<7}  {t.host}" for t in rows]
        emit(args, [t.to_json() for t in rows], "\n".join(lines))
    return 0


def cmd_show(args) -> int:
    with open_workbench(args) as wb:
        target = wb.notices.get(args.id)
        emit(args, target.to_json(), _text(target))
    return 0


def cmd_remove(args) -> int:
    with open_workbench(args) as wb:
        target = wb.notices.get(args.id)
        wb.notices.remove(target.id)
        emit(args, {"removed": target.id}, f"removed notice target #{target.id} {target.name}")
    return 0


def cmd_test(args) -> int:
    with open_workbench(args) as wb:
        answer = wb.notices.test(args.id)
        emit(args, {"answer": answer}, answer)
    return 0
