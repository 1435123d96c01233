"""workbench export create | update | list | show | run | history | preview | activate | pause |
cancel: export configurations (their runs: ``runs``)"""

from __future__ import annotations

import sys

from . import Commands, an_id, emit, open_workbench, read_json, runs, warn


def register(commands: Commands) -> None:
    export = commands.noun("export", "export configurations: schedules, files, states")
    export.add("create", cmd_create, "create an export from JSON (SPEC 7)").add_argument("file")
    update = export.add("update", cmd_update, "save an edited export")
    update.add_argument("id")
    update.add_argument("file", help="export JSON (or an export from `show --json`)")
    export.add("list", cmd_list, "list exports") \
        .add_argument("--audience", type=an_id("audience"), default=None)
    export.add("show", cmd_show, "show an export and what you may do with it") \
        .add_argument("id")
    runs.register(export)
    preview = export.add("preview", cmd_preview, "the next file name and the first rows, as "
                         "they would be written (nothing is delivered)")
    preview.add_argument("id")
    preview.add_argument("--rows", type=int, default=20)
    for name, help in (("activate", "schedule its next run"), ("pause", "create no runs"),
                       ("cancel", "never run again (admin)")):
        export.add(name, cmd_state, help).add_argument("id")


def cmd_create(args) -> int:
    with open_workbench(args) as wb:
        _show(args, wb.exports.create(read_json(args.file)))
    return 0


def cmd_update(args) -> int:
    data = read_json(args.file)
    version = data.get("version") if "config" in data else None
    if version is not None:
        from ..ids import parse_id

        version = parse_id(version, "version")
    config = data["config"] if isinstance(data.get("config"), dict) else data
    with open_workbench(args) as wb:
        _show(args, wb.exports.update(args.id, config, version=version))
    return 0


def cmd_list(args) -> int:
    with open_workbench(args) as wb:
        rows = wb.exports.list(audience=args.audience)
        lines = [f"{'ID':>4}  {'STATE':<8}  {'NAME':<24}  {'AUDIENCE':<20}  {'TYPE':<9}  "
                 f"{'REPEATS':<14}  {'ENDS':<10}  DESTINATION"] + [
            f"{e.id:>4}  {e.state:<8}  {e.name[:24]:<24}  {e.audience[:20]:<20}  {e.type:<9}  "
            f"{e.repeats[:14]:<14}  {e.ends[:10]:<10}  {e.destination}" for e in rows]
        emit(args, [e.to_json() for e in rows], "\n".join(lines))
    return 0


def cmd_show(args) -> int:
    with open_workbench(args) as wb:
        _show(args, wb.exports.get(args.id))
    return 0

def cmd_preview(args) -> int:
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


def cmd_state(args) -> int:
    with open_workbench(args) as wb:
        _show(args, getattr(wb.exports, args.verb)(args.id))
    return 0


def _show(args, e) -> None:
    warn(e.warnings)
    lines = [f"#{e.id} {e.name} ({e.state}, version {e.version})",
             f"audience #{e.audience_id} {e.audience}"
             + (" (its holdout group, not the treatment)" if e.config.group == "holdout" else "")
             + f" -> {e.destination}"
             + (f" ({e.location})" if e.location else "")
             + (f" encrypted with {e.encryption}" if e.encryption else ""),
             f"{e.type}, {e.repeats.lower()}, ends {e.ends}; next run: "
             f"{e.next_run.isoformat(timespec='minutes') if e.next_run else '—'}",
             f"you may: {', '.join(e.actions) or 'nothing'}"]
    files = _delivers(e.config)
    if files:
        lines.insert(3, f"delivers: {files}")
    emit(args, e.to_json(), "\n".join(lines))


def _delivers(config) -> str:
    """What each run delivers beyond one full CSV: changes only, compressed, in parts."""
    said = []
    if config.changes != "full":
        said.append({"added": "added members only", "removed": "removed members only",
                     "both": "added and removed members, two files",
                     "column": "changes, one file with a change column"}[config.changes]
                    + " (against its last delivery)")
    if config.compression:
        said.append(config.compression)
    if config.split:
        said.append(f"in parts of at most {config.split.rows:,} rows" if config.split.rows
                    else f"in parts of at most {config.split.bytes:,} bytes")
    if config.split or config.changes == "both":
        said.append("then a manifest")
    return ", ".join(said)
