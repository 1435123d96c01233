"""workbench destination add|update|list|show|remove|test · encryption add|update|list|show ·
export create|update|list|show|activate|pause|cancel"""

from __future__ import annotations

import argparse
import sys

from ..delivery import location
from . import emit, open_workbench, read_json, warn


def register(commands, shared: argparse.ArgumentParser) -> None:
    _destinations(commands, shared)
    _encryptions(commands, shared)
    _exports(commands, shared)


def _verbs(commands, shared, name: str, help: str):
    group = commands.add_parser(name, help=help)
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(verb_name: str, run, verb_help: str) -> argparse.ArgumentParser:
        parser = verbs.add_parser(verb_name, parents=[shared], help=verb_help)
        parser.set_defaults(run=run)
        return parser

    return verb


# -- destinations ---------------------------------------------------------------------------------

def _destinations(commands, shared) -> None:
    verb = _verbs(commands, shared, "destination", "SFTP destinations of exports (admin)")
    add = verb("add", cmd_destination_add, "add a destination from JSON (SPEC 7)")
    add.add_argument("file", help="destination JSON, or - for standard input")
    add.add_argument("--trust-host-key", action="store_true",
                     help="fetch the server's host key, print it with its SHA256 fingerprint "
                          "and pin it (compare it with what the server's owner tells you)")
    update = verb("update", cmd_destination_update, "update a destination (secrets left out "
                  "are kept)")
    update.add_argument("id", help="id or name")
    update.add_argument("file")
    update.add_argument("--trust-host-key", action="store_true")
    verb("list", cmd_destination_list, "list destinations")
    verb("show", cmd_destination_show, "show a destination (never its secrets)") \
        .add_argument("id", help="id or name")
    verb("remove", cmd_destination_remove, "remove a destination no export uses") \
        .add_argument("id", help="id or name")
    verb("test", cmd_destination_test, "log in, check the path exists and is writable") \
        .add_argument("id", help="id or name")


def _print_host_key(wb, data: dict) -> None:
    key = wb.destinations.fetch_host_key(data.get("host", ""), int(data.get("port") or 22))
    print(f"host key of {data.get('host')}:{data.get('port') or 22}: {key.line}",
          file=sys.stderr)
    print(f"fingerprint: {key.fingerprint}", file=sys.stderr)


def cmd_destination_add(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        if args.trust_host_key and not data.get("host_key"):
            _print_host_key(wb, data)
        destination = wb.destinations.add(data, trust_host_key=args.trust_host_key)
        _show_destination(args, destination)
    return 0


def cmd_destination_update(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        if args.trust_host_key and not data.get("host_key"):
            _print_host_key(wb, data)
        _show_destination(args, wb.destinations.update(args.id, data,
                                                       trust_host_key=args.trust_host_key))
    return 0


def cmd_destination_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.destinations.list()
        lines = [f"{'ID':>4}  {'NAME':<24}  {'HOST':<28}  {'PORT':>5}  {'PATH':<24}  USER"] + [
            f"{d.id:>4}  {d.name[:24]:<24}  {d.host[:28]:<28}  {d.port:>5}  {d.path[:24]:<24}  "
            f"{d.username}" for d in rows]
        emit(args, [d.to_json() for d in rows], "\n".join(lines))
    return 0


def cmd_destination_show(args) -> int:
    with open_workbench(args) as wb:
        _show_destination(args, wb.destinations.get(args.id))
    return 0


def _show_destination(args, d) -> None:
    text = (f"#{d.id} {d.name}: sftp://{d.username}@{location(d.host, d.port, d.path)} "
            f"({d.auth})\n"
            f"host key {d.fingerprint}")
    emit(args, d.to_json(), text)


def cmd_destination_remove(args) -> int:
    with open_workbench(args) as wb:
        destination = wb.destinations.get(args.id)
        wb.destinations.remove(destination.id)
        emit(args, {"removed": destination.id}, f"removed destination #{destination.id} "
             f"{destination.name}")
    return 0


def cmd_destination_test(args) -> int:
    with open_workbench(args) as wb:
        steps = wb.destinations.test(args.id)
        emit(args, {"ok": True, "steps": steps}, "\n".join(f"ok  {s}" for s in steps))
    return 0


# -- encryptions ----------------------------------------------------------------------------------

def _encryptions(commands, shared) -> None:
    verb = _verbs(commands, shared, "encryption", "PGP encryptions of exports (admin)")
    verb("add", cmd_encryption_add, "add an encryption from JSON (SPEC 7)").add_argument("file")
    update = verb("update", cmd_encryption_update, "replace an encryption's keys")
    update.add_argument("id", help="id or name")
    update.add_argument("file")
    verb("list", cmd_encryption_list, "list encryptions")
    verb("show", cmd_encryption_show, "show an encryption's keys").add_argument("id")


def cmd_encryption_add(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        encryption = wb.encryptions.add(data)
        warn(encryption.warnings)
        _show_encryption(args, encryption)
    return 0


def cmd_encryption_update(args) -> int:
    data = read_json(args.file)
    with open_workbench(args) as wb:
        encryption = wb.encryptions.update(args.id, data)
        warn(encryption.warnings)
        _show_encryption(args, encryption)
    return 0


def cmd_encryption_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.encryptions.list()
        lines = [f"{'ID':>4}  {'NAME':<24}  {'KEYS':>4}  EARLIEST EXPIRY"] + [
            f"{e.id:>4}  {e.name[:24]:<24}  {len(e.keys):>4}  {e.earliest_expiry or 'never'}"
            + ("  (expired)" if e.warnings else "") for e in rows]
        emit(args, [e.to_json() for e in rows], "\n".join(lines))
    return 0


def cmd_encryption_show(args) -> int:
    with open_workbench(args) as wb:
        encryption = wb.encryptions.get(args.id)
        warn(encryption.warnings)
        _show_encryption(args, encryption)
    return 0


def _show_encryption(args, e) -> None:
    lines = [f"#{e.id} {e.name} (PGP, {len(e.keys)} key(s))"] + [
        f"  {k['fingerprint']}  {', '.join(k['user_ids'])}  expires {k.get('expires') or 'never'}"
        for k in e.keys]
    emit(args, e.to_json(), "\n".join(lines))


# -- exports --------------------------------------------------------------------------------------

def _exports(commands, shared) -> None:
    verb = _verbs(commands, shared, "export", "export configurations: schedules, files, states")
    verb("create", cmd_export_create, "create an export from JSON (SPEC 7)").add_argument("file")
    update = verb("update", cmd_export_update, "save an edited export")
    update.add_argument("id")
    update.add_argument("file", help="export JSON (or an export from `show --json`)")
    listing = verb("list", cmd_export_list, "list exports")
    listing.add_argument("--audience", type=int, default=None)
    verb("show", cmd_export_show, "show an export and what you may do with it") \
        .add_argument("id")
    run = verb("run", cmd_export_run, "run an export now and wait; prints the run (a "
               "papermill run whose notebook is kept under HOME/runs/exports)")
    run.add_argument("id")
    run.add_argument("--allow-stale", action="store_true",
                     help="deliver even when the audience's last processing is older than "
                          "the export's max_staleness_days (the run records it)")
    history = verb("history", cmd_export_history, "export runs, newest first")
    history.add_argument("--export", type=int, default=None, metavar="ID")
    preview = verb("preview", cmd_export_preview, "the next file name and the first rows, as "
                   "they would be written (nothing is delivered)")
    preview.add_argument("id")
    preview.add_argument("--rows", type=int, default=20)
    for name, help in (("activate", "schedule its next run"), ("pause", "create no runs"),
                       ("cancel", "never run again (admin)")):
        verb(name, cmd_export_state, help).add_argument("id")


def cmd_export_create(args) -> int:
    with open_workbench(args) as wb:
        _show_export(args, wb.exports.create(read_json(args.file)))
    return 0


def cmd_export_update(args) -> int:
    data = read_json(args.file)
    version = data.get("version") if "config" in data else None
    if version is not None:
        from ..ids import parse_id

        version = parse_id(version, "version")
    config = data["config"] if isinstance(data.get("config"), dict) else data
    with open_workbench(args) as wb:
        _show_export(args, wb.exports.update(args.id, config, version=version))
    return 0


def cmd_export_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.exports.list(audience=args.audience)
        lines = [f"{'ID':>4}  {'STATE':<8}  {'NAME':<24}  {'AUDIENCE':<20}  {'TYPE':<9}  "
                 f"{'REPEATS':<14}  {'ENDS':<10}  DESTINATION"] + [
            f"{e.id:>4}  {e.state:<8}  {e.name[:24]:<24}  {e.audience[:20]:<20}  {e.type:<9}  "
            f"{e.repeats[:14]:<14}  {e.ends[:10]:<10}  {e.destination}" for e in rows]
        emit(args, [e.to_json() for e in rows], "\n".join(lines))
    return 0


def cmd_export_show(args) -> int:
    with open_workbench(args) as wb:
        _show_export(args, wb.exports.get(args.id))
    return 0


def cmd_export_run(args) -> int:
    from ..errors import DeliveryError
    from ..exports.notebook import run_export

    with open_workbench(args) as wb:
        run_id = wb.export_runs.create(args.id, allow_stale=args.allow_stale).id
        try:
            run = run_export(wb, run_id)
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: the run as it was left, in one line
            raise DeliveryError("stopped: " + unfinished(wb.export_runs.get(run_id),
                                                         "kept under HOME/runs/exports")) \
                from None
        notebook = run.details.get("notebook")
        _show_run(args, run, notebook)
        if run.state != "complete":
            raise DeliveryError(unfinished(run, notebook))
    return 0


def unfinished(run, notebook) -> str:
    """The one line for a run that did not complete: its state and why, never "None"."""
    if run.state == "in_progress":  # its attempt could not record its end
        return (f"export run #{run.id} is in-progress: its attempt could not record how it "
                "ended (the metadata store stayed busy, or its kernel stopped); once its lease "
                "runs out the scheduler takes it over and records it Complete if its file is "
                f"on the server; do not run it again (audit notebook: {notebook})")
    # A run's error begins with its state ("canceled: …"): said once.
    reason = (run.error or "no reason recorded").removeprefix(f"{run.state}: ")
    return f"export run #{run.id} {run.state}: {reason} (audit notebook: {notebook})"


def cmd_export_history(args) -> int:
    with open_workbench(args) as wb:
        runs = wb.export_runs.history(args.export)
        zone = wb.calendar.zone
        lines = [f"{'RUN':>5}  {'STATE':<11}  {'SCHEDULED (' + zone.key + ')':<16}  "
                 f"{'EXPORT':<22}  {'ROWS':>9}  {'TRIES':>5}  FILE / ERROR"] + [
            f"{r.id:>5}  {r.state.replace('_', '-'):<11}  "
            f"{r.scheduled_for.astimezone(zone):%Y-%m-%d %H:%M}  {r.export[:22]:<22}  "
            f"{'-' if r.rows is None else f'{r.rows:,}':>9}  {r.attempts:>5}  "
            f"{r.error or r.file_name or ''}" for r in runs]
        emit(args, [r.to_json() for r in runs], "\n".join(lines))
    return 0


def _show_run(args, run, notebook) -> None:
    text = (f"export run #{run.id} of #{run.export_id} {run.export}: "
            f"{run.state.replace('_', '-')}\n"
            f"{run.rows if run.rows is not None else '-'} rows, "
            f"{run.bytes if run.bytes is not None else '-'} bytes as of {run.as_of or '-'} -> "
            f"{run.file_name or '-'} on {run.details.get('destination', run.destination)}\n"
            f"audit notebook: {notebook}")
    if run.details.get("allowed_stale"):
        text += f"\ndelivered stale, as allowed: {run.details['allowed_stale']}"
    emit(args, {**run.to_json(), "notebook": str(notebook)}, text)


def cmd_export_preview(args) -> int:
    with open_workbench(args) as wb:
        preview = wb.exports.preview(args.id, limit=max(1, min(args.rows, 1000)))
        when = (f"at {preview.scheduled_for.isoformat()}" if preview.scheduled_for
                else "no next run: named as if it ran now")
        print(f"file name: {preview.file_name} ({when}; members as of {preview.as_of})",
              file=sys.stderr)
        if preview.stale:
            warn([f"stale: {preview.stale}; a run now delivers nothing (run processing)"])
        if args.json:
            emit(args, preview.to_json(), "")
        else:  # the rows as the file will hold them: its delimiters, its line ends
            sys.stdout.write(preview.csv_text())
    return 0


def cmd_export_state(args) -> int:
    with open_workbench(args) as wb:
        _show_export(args, getattr(wb.exports, args.verb)(args.id))
    return 0


def _show_export(args, e) -> None:
    warn(e.warnings)
    lines = [f"#{e.id} {e.name} ({e.state}, version {e.version})",
             f"audience #{e.audience_id} {e.audience} -> {e.destination}"
             + (f" encrypted with {e.encryption}" if e.encryption else ""),
             f"{e.type}, {e.repeats.lower()}, ends {e.ends}; next run: "
             f"{e.next_run.isoformat(timespec='minutes') if e.next_run else '—'}",
             f"you may: {', '.join(e.actions) or 'nothing'}"]
    emit(args, e.to_json(), "\n".join(lines))
