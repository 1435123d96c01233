"""workbench audience create | update | activate | archive | duplicate | list | show | estimate |
members | explain | overlap"""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from pathlib import Path

from ..audiences.sorts import SORTS
from ..errors import InvalidInput
from . import Commands, emit, iso_date, open_workbench, read_json, warn


def register(commands: Commands) -> None:
    audience = commands.noun("audience", "define, activate and inspect audiences")
    audience.add("create", cmd_create, "save a definition as a new draft (prints it as JSON)") \
        .add_argument("file", help="definition JSON, or - for standard input")
    update = audience.add("update", cmd_update, "save an edited definition of a draft")
    update.add_argument("id")
    update.add_argument("file", help="definition JSON (or an audience from `show --json`)")
    update.add_argument("--version", type=int, default=None,
                        help="the version you edited (else the file's, else the current one)")
    audience.add("activate", cmd_activate, "freeze a draft and start tracking it") \
        .add_argument("id")
    audience.add("archive", cmd_archive, "retire an active audience: no longer processed, "
                 "history kept, read-only").add_argument("id")
    duplicate = audience.add("duplicate", cmd_duplicate, "copy an audience as a new draft")
    duplicate.add_argument("id")
    duplicate.add_argument("--name", default=None)
    listing = audience.add("list", cmd_list, "list audiences")
    listing.add_argument("--search", default="", metavar="WORDS",
                         help="keywords matched against name and created-by")
    listing.add_argument("--sort", default="-created", choices=list(SORTS))
    listing.add_argument("--status", default=None, choices=["draft", "active", "archived"],
                         help="only the audiences in that status")
    audience.add("show", cmd_show, "status, size, %% of base, last processed, summary") \
        .add_argument("id")
    estimate = audience.add("estimate", cmd_estimate, "size and base of a definition, without "
                            "saving")
    estimate.add_argument("file")
    estimate.add_argument("--as-of", type=iso_date, default=None, metavar="YYYY-MM-DD",
                          help="default: yesterday in the workbench timezone")
    members = audience.add("members", cmd_members, "member customer ids as CSV")
    members.add_argument("id")
    members.add_argument("--as-of", type=iso_date, default=None, metavar="YYYY-MM-DD",
                         help="default: the last processed day")
    members.add_argument("--out", default=None, metavar="FILE", help="default: standard output")
    members.add_argument("--group", choices=("treatment", "holdout"), default=None,
                         help="only the treatment (what exports deliver) or the holdout; "
                              "default: every member")
    explain = audience.add("explain", cmd_explain, "which rules hold for one customer")
    explain.add_argument("id")
    explain.add_argument("customer_id")
    explain.add_argument("--as-of", type=iso_date, default=None, metavar="YYYY-MM-DD")
    overlap = audience.add("overlap", cmd_overlap, "customers in both of each pair of 2 to 10 "
                           "audiences, as a share of each")
    overlap.add_argument("ids", nargs="+", metavar="ID")
    overlap.add_argument("--as-of", type=iso_date, default=None, metavar="YYYY-MM-DD",
                         help="default: the last processed day")


def cmd_create(args) -> int:
    with open_workbench(args) as wb:
        audience = wb.audiences.create(read_json(args.file))
        warn(audience.warnings)
        print(json.dumps(audience.to_json(), indent=2))
    return 0


def cmd_update(args) -> int:
    data = read_json(args.file)
    # An audience printed by `show --json` carries its definition and the version it was.
    version = args.version or data.get("version")
    definition = data["definition"] if "definition" in data else data
    with open_workbench(args) as wb:
        version = version or wb.audiences.get(args.id).version
        audience = wb.audiences.update(args.id, definition, version=version)
        warn(audience.warnings)
        _show(args, audience)
    return 0


def cmd_activate(args) -> int:
    with open_workbench(args) as wb:
        audience = wb.audiences.activate(args.id)
        warn(audience.warnings)  # whether its backfill started
        _show(args, audience)
    return 0


def cmd_archive(args) -> int:
    with open_workbench(args) as wb:
        _show(args, wb.audiences.archive(args.id))
    return 0


def cmd_duplicate(args) -> int:
    with open_workbench(args) as wb:
        _show(args, wb.audiences.duplicate(args.id, args.name))
    return 0


def cmd_list(args) -> int:
    with open_workbench(args) as wb:
        audiences = wb.audiences.list(args.search, args.sort, args.status)
        header = f"{'ID':>4}  {'STATUS':<9}  {'NAME':<36}  {'CREATED BY':<12}  " \
                 f"{'CREATED':<10}  {'PROCESSED':<10}  {'SIZE':>10}"
        lines = [header] + [
            f"{a.id:>4}  {a.status + ('!' if a.processing_error else ''):<9}  "
            f"{_cut(a.name, 36):<36}  {_cut(a.created_by, 12):<12}  "
            f"{a.created_on}  {str(a.last_processed_on or '-'):<10}  "
            f"{'-' if a.size is None else f'{a.size:,}':>10}" for a in audiences]
        if any(a.processing_error for a in audiences):
            lines.append("! its last processing failed: `workbench audience show ID` says why")
        lines += _lagging(audiences)
        emit(args, [a.to_json() for a in audiences], "\n".join(lines))
    return 0


def _lagging(audiences) -> list[str]:
    """One line per lag: which audiences are behind the calendar, and how to catch up."""
    groups: dict[tuple, list] = {}
    for a in audiences:
        if a.behind:
            groups.setdefault((a.last_processed_on, a.days_behind), []).append(a)
    from ..freshness import sentence

    return [f"{sentence(group[0].behind)} (audience "
            f"{', '.join(str(a.id) for a in group)}): {_catch_up(group[0])}"
            for group in groups.values()]


def _catch_up(audience) -> str:
    """What to do about an audience whose results are not through yesterday."""
    from ..processing import MAX_DAYS

    if audience.days_behind < 0:
        return ("its results after yesterday stay until those days are processed again "
                "(`workbench process --from D1 --to D2` once the clock has reached them)")
    if audience.days_behind > MAX_DAYS:
        return f"process the days you need (`workbench process --from D1 --to D2`, at most " \
               f"{MAX_DAYS:,} days a run)"
    first = audience.last_processed_on + timedelta(days=1)
    last = audience.last_processed_on + timedelta(days=audience.days_behind)
    days = f"--as-of {last}" if first == last else f"--from {first} --to {last}"
    return f"`workbench process {days}` catches up"


def _cut(text: str, width: int) -> str:
    # Names are free text: no control characters (refused on save), but keep even old rows
    # from steering the terminal.
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= width else text[:width - 1] + "…"


def cmd_show(args) -> int:
    with open_workbench(args) as wb:
        _show(args, wb.audiences.get(args.id))
    return 0


def _show(args, audience) -> None:
    size = ("not processed yet" if audience.size is None else
            f"{audience.size:,} of {audience.base:,} ({audience.percent_of_base}% of base)")
    lines = [f"#{audience.id} {audience.name} ({audience.status}, version {audience.version})",
             f"created on {audience.created_on} by {audience.created_by}",
             f"last processed: {audience.last_processed_on or 'never'}" + (
                 f" ({audience.behind.split(', ', 1)[1]}; {_catch_up(audience)})"
                 if audience.behind else ""),
             *([f"WARNING: {audience.processing_error}"] if audience.processing_error else []),
             f"size: {size}", *_groups(audience), "targeting:"]
    lines += [f"  {line}" for line in audience.summary] or ["  everyone in the customer base"]
    emit(args, audience.to_json(), "\n".join(lines))


def _groups(audience) -> list[str]:
    """Both groups' sizes, for an audience with a holdout."""
    percent = audience.definition.holdout_percent
    if not percent:
        return []
    if audience.size is None:
        return [f"holdout: {percent}% of members, kept out of exports"]
    return [f"treatment: {audience.treatment_size:,} (exports deliver these)",
            f"holdout: {audience.holdout_size or 0:,} ({percent}% of members, kept out of "
            "exports)"]


def cmd_estimate(args) -> int:
    with open_workbench(args) as wb:
        estimate = wb.audiences.estimate(read_json(args.file), args.as_of)
        warn(estimate.warnings)
        text = (f"{estimate.size:,} of {estimate.base:,} customers "
                f"({estimate.percent_of_base}% of base) {estimate.as_of_text}")
        emit(args, estimate.to_json(), text)
    return 0


def cmd_members(args) -> int:
    out = _out_file(args.out) if args.out else None  # before any work: a typo fails at once
    with open_workbench(args) as wb:
        frame = wb.audiences.members(args.id, args.as_of, group=args.group)
        if args.group == "holdout" and not wb.audiences.get(args.id).definition.holdout_percent:
            print(f"workbench: audience {args.id} keeps no holdout (holdout_percent 0): "
                  "no members in it", file=sys.stderr)
        if out:
            _write_csv(frame, out)
            print(f"{len(frame):,} members written to {args.out}", file=sys.stderr)
        else:
            frame.to_csv(sys.stdout, index=False)
    return 0


def _out_file(text: str) -> Path:
    path = Path(text)
    if not path.parent.is_dir():
        reason = "no such directory" if not path.parent.exists() else \
            f"{path.parent} is not a directory"
        raise InvalidInput(f"--out {text}: {reason}")
    if path.is_dir():
        raise InvalidInput(f"--out {text}: is a directory; give a file name")
    if path.suffix.lower() in UNSUPPORTED_COMPRESSION:
        raise InvalidInput(f"--out {text}: {path.suffix} compression is not available; write "
                           "plain .csv or .csv.gz")
    return path


# pandas infers these from the suffix but needs packages the workbench does not install.
UNSUPPORTED_COMPRESSION = {".zst", ".zstd", ".tar"}


def _write_csv(frame, path: Path) -> None:
    """Write a regular file under a temporary name, then rename it: a full disk or a killed
    process leaves no half-written file under the name that a downstream job reads."""
    if path.exists() and not path.is_file():  # /dev/stdout, a named pipe: straight to it
        frame.to_csv(path, index=False)
        return
    # The name keeps its suffix, from which pandas infers compression (members.csv.gz).
    temporary = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def cmd_explain(args) -> int:
    with open_workbench(args) as wb:
        explanation = wb.audiences.explain(args.id, args.customer_id, args.as_of)
        emit(args, explanation.to_json(), "\n".join(explanation.lines()))
    return 0


def cmd_overlap(args) -> int:
    with open_workbench(args) as wb:
        overlap = wb.audiences.overlap_of(args.ids, args.as_of)
        emit(args, overlap.to_json(), "\n".join(overlap.lines()))
    return 0
