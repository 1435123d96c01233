"""Changes-only files, compression and splitting with a manifest (SPEC 7 wave 3, issue 22),
delivered by real runs to a real OpenSSH server (tests/sshd.py), encrypted with real gpg.

The audience "Young women" (female, at most 40) is {ann, eve, fay} as of D and {ann, eve,
late} as of D+1: fay turns 41 and leaves, late's profile starts and she joins."""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.audience_data import D
from tests.conftest import add_partner
from tests.sshd import skip_reason
from tests.test_delivery_pgp import _decrypt_with_only, keys  # noqa: F401 - real gpg keys
from workbench.errors import InvalidExport
from workbench.exports.fileset import manifest_name, part_name, split_csv, suggested_name

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
NOW = datetime(2026, 3, 11, 1, tzinfo=UTC)  # the night after D
LATER = datetime(2026, 3, 12, 10, tzinfo=UTC)  # D+1 is processed by then


@pytest.fixture
def wb(wb, write_csv, server):
    from tests.audience_data import load

    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create({"name": "Young women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]},
        {"attribute": "age", "op": "lte", "value": 40}]}).id)
    wb.processing.run(D)
    add_partner(wb, server)
    yield wb
    for leftover in server.writable.iterdir():
        leftover.unlink()


def export(wb, **changes) -> int:
    config = {"name": "Young daily", "audience": 1, "file_name": "young_{change}_{run}.csv",
              "schedule": {"start": "2026-03-12T06:00", "timezone": "UTC",
                           "repeat": {"every": 1, "unit": "days"}},
              "destination": "partner",
              "columns": [{"attribute": "customer_id"}, {"attribute": "first_name"}]}
    return wb.exports.create({**config, **changes}).id


def run_now(wb, export_id: int):
    run = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert run.state == "complete", run.error
    return run


def next_day(wb, clock) -> None:
    clock.set(LATER)
    wb.processing.run(D + timedelta(days=1))


def rows_of(server, name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((server.writable / name).read_text())))


def names(run) -> list[str]:
    return [f["file_name"] for f in run.details["files"]]


# -- changes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["added", "removed", "both", "column"])
def test_each_changes_mode_over_two_processed_days(wb, server, clock, mode):
    export_id = export(wb, changes=mode)
    first = run_now(wb, export_id)
    # The first run has no baseline: the full list ("column": every row marked added).
    if mode == "column":
        assert first.file_name == f"young_changes_{first.id}.csv"
        assert rows_of(server, first.file_name) == [
            ["customer_id", "first_name", "change"], ["ann", "Ann", "added"],
            ["eve", "Eve", "added"], ["fay", "O'Brien", "added"]]
    else:
        full = f"young_full_{first.id}.csv"
        assert rows_of(server, full) == [["customer_id", "first_name"], ["ann", "Ann"],
                                         ["eve", "Eve"], ["fay", "O'Brien"]]
    next_day(wb, clock)
    second = run_now(wb, export_id)
    assert second.as_of == D + timedelta(days=1)
    assert (first.details["baseline"], second.details["baseline"]) == (None, first.id)
    added, removed = f"young_added_{second.id}.csv", f"young_removed_{second.id}.csv"
    if mode in ("added", "both"):
        assert rows_of(server, added) == [["customer_id", "first_name"], ["late", "Late"]]
    if mode in ("removed", "both"):  # a removed member's row: the customer id alone
        assert rows_of(server, removed) == [["customer_id", "first_name"], ["fay", ""]]
    if mode == "column":
        assert rows_of(server, second.file_name) == [
            ["customer_id", "first_name", "change"], ["fay", "", "removed"],
            ["late", "Late", "added"]]
    expected = {"added": [added], "removed": [removed], "column": [second.file_name],
                "both": [added, removed, f"young_changes_{second.id}.manifest.json"]}[mode]
    assert names(second) == expected and second.rows == (2 if mode in ("both", "column")
                                                         else 1)
    # Only the baseline of the last complete run is kept in the home.
    kept = sorted(p.name for p in (wb.home.root / "data" / "exports" /
                                   f"export-{export_id}").iterdir())
    assert kept == [f"run-{second.id}.parquet"]


def test_a_failed_night_then_a_success_delivers_the_changes_of_both(wb, server, clock):
    export_id = export(wb, changes="both")
    run_now(wb, export_id)  # as of D: the baseline
    next_day(wb, clock)
    good = wb.destinations.get("partner")
    wb.destinations.update("partner", {"name": "partner", "host": server.host, "port": 1,
                                       "path": str(server.writable), "username": server.user,
                                       "host_key": server.host_key_line()},
                           version=good.version)
    failed = wb.export_runs.execute(wb.export_runs.create(export_id).id)
    assert failed.state == "failed"  # the night of D+1 delivered nothing
    add_partner_again(wb, server)
    clock.set(LATER + timedelta(days=1))
    wb.processing.run(D + timedelta(days=2))
    run = run_now(wb, export_id)  # measured against D (the last delivery), not D+1
    assert run.as_of == D + timedelta(days=2)
    assert rows_of(server, f"young_added_{run.id}.csv")[1:] == [["late", "Late"]]
    assert rows_of(server, f"young_removed_{run.id}.csv")[1:] == [["fay", ""]]


def add_partner_again(wb, server) -> None:
    destination = wb.destinations.get("partner")
    wb.destinations.update("partner", {"name": "partner", "host": server.host,
                                       "port": server.port, "path": str(server.writable),
                                       "username": server.user, "password": server.password,
                                       "host_key": server.host_key_line()},
                           version=destination.version)


def test_both_needs_change_in_the_name_and_removed_needs_the_customer_id(wb):
    with pytest.raises(InvalidExport, match=r"put \{change\} in the file name"):
        export(wb, changes="both", file_name="young_{run}.csv")
    with pytest.raises(InvalidExport, match="add the column customer_id"):
        export(wb, changes="removed", columns=[{"attribute": "first_name"}])
    with pytest.raises(InvalidExport, match="Rows per part: must be a whole number of rows, at "
                                            "least 1"):
        export(wb, split={"rows": 0})
    with pytest.raises(InvalidExport, match="at least 1,024"):
        export(wb, split={"bytes": 0})


# -- compression ------------------------------------------------------------------------------

def test_gzip_and_zstd_decompress_to_the_csv_and_a_plain_csv_name_warns(wb, server, tmp_path):
    import zstandard

    plain = tmp_path / "plain.csv"
    export_id = export(wb, compression="gzip")
    warned = wb.exports.get(export_id).warnings
    assert warned == ["file_name: young_{change}_{run}.csv is compressed with gzip but its "
                      "name does not say so; suggested: young_{change}_{run}.csv.gz"]
    wb.exports.write_csv(export_id, plain)
    run = run_now(wb, export_id)
    assert run.file_name == f"young_full_{run.id}.csv"  # never renamed behind one's back
    assert gzip.decompress((server.writable / run.file_name).read_bytes()) == \
        plain.read_bytes()
    zstd = export(wb, name="Z", compression="zstd", file_name="young_{run}.csv.zst")
    assert wb.exports.get(zstd).warnings == []
    run = run_now(wb, zstd)
    with zstandard.ZstdDecompressor().stream_reader(
            (server.writable / run.file_name).open("rb")) as reader:
        assert reader.read() == plain.read_bytes()
    assert run.bytes == (server.writable / run.file_name).stat().st_size
    assert run.details["csv_bytes"] == plain.stat().st_size


def test_compressed_before_encrypted(wb, server, tmp_path, keys):  # noqa: F811
    wb.encryptions.add({"name": "pgp", "keys": [keys.alice.armored]})
    export_id = export(wb, compression="gzip", encryption="pgp",
                       file_name="young_{run}.csv.gz")
    plain = tmp_path / "plain.csv"
    wb.exports.write_csv(export_id, plain)
    run = run_now(wb, export_id)
    assert run.file_name == f"young_{run.id}.csv.gz.pgp"
    opened = _decrypt_with_only(keys, keys.alice, server.writable / run.file_name,
                                tmp_path / "out.gz")
    assert gzip.decompress(opened) == plain.read_bytes()
    assert suggested_name("x.csv.pgp", "zstd") == "x.csv.zst.pgp"


# -- splitting --------------------------------------------------------------------------------

def delivered_set(server, run) -> tuple[dict, list[str]]:
    """The run's manifest, checked against what is on the server; its part names."""
    manifest = json.loads((server.writable / run.file_name).read_text())
    for part in manifest["parts"]:
        data = (server.writable / part["file_name"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (part["bytes"],
                                                                 part["sha256"])
    assert manifest["total_rows"] == sum(p["rows"] for p in manifest["parts"]) == run.rows
    assert {"export", "run", "scheduled_for", "as_of", "parts"} <= set(manifest)
    # The manifest is the last file to arrive.
    times = {p.name: p.stat().st_mtime_ns for p in server.writable.iterdir()}
    assert times[run.file_name] == max(times.values())
    return manifest, [p["file_name"] for p in manifest["parts"]]


def rejoined(server, parts: list[str]) -> bytes:
    texts = [(server.writable / name).read_bytes() for name in parts]
    header = texts[0].split(b"\n", 1)[0] + b"\n"
    assert all(t.startswith(header) for t in texts)  # each part has the header
    return header + b"".join(t[len(header):] for t in texts)


def test_split_by_rows_and_by_bytes_rejoin_to_the_csv(wb, server, tmp_path):
    export_id = export(wb, file_name="young_{run}.csv", split={"rows": 2})
    plain = tmp_path / "plain.csv"
    wb.exports.write_csv(export_id, plain)
    run = run_now(wb, export_id)
    assert run.file_name == f"young_{run.id}.manifest.json"
    manifest, parts = delivered_set(server, run)
    assert parts == [f"young_{run.id}_part001.csv", f"young_{run.id}_part002.csv"]
    assert [p["rows"] for p in manifest["parts"]] == [2, 1]
    assert rejoined(server, parts) == plain.read_bytes()
    assert names(run) == [*parts, run.file_name] and manifest["as_of"] == str(D)
    # By bytes: 25 e-mail columns make rows of ~450 bytes, two to a part of 1,024.
    wide = export(wb, name="Wide", file_name="wide_{run}.csv", split={"bytes": 1024},
                  columns=[{"attribute": "customer_id"}] +
                  [{"attribute": "email", "label": f"e{i}"} for i in range(25)])
    wb.exports.write_csv(wide, plain)
    run = run_now(wb, wide)
    manifest, parts = delivered_set(server, run)
    assert [p["rows"] for p in manifest["parts"]] == [2, 1]
    assert all((server.writable / p).stat().st_size <= 1024 for p in parts)
    assert rejoined(server, parts) == plain.read_bytes()


def test_a_split_never_cuts_a_record_with_a_line_break_inside(tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b'id,note\r\na,"one\r\ntwo"\r\nb,"say ""hi""\nok"\r\nc,x\r\n')
    opened = []

    def open_part(number):
        path = tmp_path / f"p{number}"
        opened.append(path)
        return path, path.open("wb")

    parts = split_csv(source, rows=1, header=True, open_part=open_part)
    assert [p.rows for p in parts] == [1, 1, 1]
    assert [p.read_bytes() for p in opened] == [
        b'id,note\r\na,"one\r\ntwo"\r\n', b'id,note\r\nb,"say ""hi""\nok"\r\n',
        b"id,note\r\nc,x\r\n"]
    assert part_name("w_1.csv.gz.pgp", 3, 12) == "w_1_part003.csv.gz.pgp"
    assert part_name("w.2026.03.csv", 12, 1200) == "w.2026.03_part0012.csv"
    assert manifest_name("w_1.csv.gz.pgp") == "w_1.manifest.json"


def test_a_take_over_after_a_death_between_parts_delivers_the_rest_once(wb, server, clock,
                                                                       monkeypatch):
    """The process dies after part 1 is on the server (a stop the run cannot record): the
    attempt that takes the scheduled run over sends parts 2 and 3 and the manifest, never
    part 1 again, with the rows of the day the first attempt pinned."""
    from workbench.exports import runs

    export(wb, file_name="young_{run}.csv", split={"rows": 1}, max_staleness_days=2)
    at = datetime(2026, 3, 12, 6, tzinfo=UTC)
    clock.set(at)
    wb.export_runs.plan(at)
    [run_id] = wb.export_runs.due(at)
    uploaded = runs.upload
    calls = []

    def dies_before_the_second(*args):
        calls.append(args[2])
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a kill between two uploads
        return uploaded(*args)

    monkeypatch.setattr(runs, "upload", dies_before_the_second)
    with pytest.raises(KeyboardInterrupt):
        wb.export_runs.execute(run_id)
    monkeypatch.setattr(runs, "upload", uploaded)
    first = f"young_{run_id}_part001.csv"
    assert sorted(p.name for p in server.writable.iterdir()) == [first]
    sent = (server.writable / first).stat().st_mtime_ns
    # A night is processed meanwhile: the take-over still delivers the members as of D.
    clock.set(at + timedelta(minutes=4))
    wb.processing.run(D + timedelta(days=1))
    run = wb.export_runs.execute(run_id)
    assert run.state == "complete" and run.attempts == 2 and run.as_of == D
    manifest, parts = delivered_set(server, run)
    assert parts == [first, f"young_{run_id}_part002.csv", f"young_{run_id}_part003.csv"]
    assert (server.writable / first).stat().st_mtime_ns == sent  # not sent twice
    assert [rows_of(server, p)[1][0] for p in parts] == ["ann", "eve", "fay"]
    assert run.details["files"][-1]["file_name"] == run.file_name


def test_the_cli_shows_what_an_export_delivers_and_the_files_of_a_run(wb, server):
    from tests.test_cli import run as cli

    export_id = export(wb, file_name="young_{run}.csv", compression="gzip", split={"rows": 2})
    shown = cli("export", "show", export_id, home=wb.home.root)
    assert "delivers: gzip, in parts of at most 2 rows, then a manifest" in shown.stdout
    assert "suggested: young_{run}.csv.gz" in shown.stderr
    run = run_now(wb, export_id)
    history = cli("export", "history", home=wb.home.root).stdout
    assert f"young_{run.id}.manifest.json (3 files)" in history
    from argparse import Namespace

    from workbench.cli.runs import _show

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # what `export run` prints of the run
        _show(Namespace(json=False), run, "n.ipynb")
    assert f"files: young_{run.id}_part001.csv, young_{run.id}_part002.csv, " \
           f"young_{run.id}.manifest.json" in printed.getvalue()


def test_a_run_a_take_over_records_complete_is_the_next_baseline(wb, server, clock,
                                                                  monkeypatch):
    """The answer to the rename is lost: the attempt that takes the run over finds the file
    and records the run Complete; its ids are the baseline of the next run."""
    import paramiko

    renamed = paramiko.SFTPClient.rename

    def rename_then_drop(self, old, new):
        renamed(self, old, new)
        raise EOFError()

    export_id = export(wb, changes="added")
    monkeypatch.setattr(paramiko.SFTPClient, "rename", rename_then_drop)
    run_id = wb.export_runs.create(export_id).id
    assert wb.export_runs.execute(run_id).state == "in_progress"
    monkeypatch.setattr(paramiko.SFTPClient, "rename", renamed)
    clock.advance(minutes=4)
    first = wb.export_runs.execute(run_id)
    assert first.state == "complete" and "found the file" in first.details["recorded_by"]
    assert first.details["files"][0]["rows"] == 3 and first.details["members"]
    next_day(wb, clock)
    second = run_now(wb, export_id)
    assert second.details["baseline"] == run_id
    assert rows_of(server, second.file_name)[1:] == [["late", "Late"]]


@pytest.mark.parametrize("columns", [
    ["customer_id", "rfm.monetary", "age", "tags", "appended.loyalty_tier"],  # changed ids' data
    ["customer_id", "rfm.r_score", "rfm.frequency"]])  # a score ranks against the whole base
def test_an_added_members_row_is_the_row_a_full_file_has(wb, clock, tmp_path, columns):
    export_id = export(wb, changes="added", columns=[{"attribute": c} for c in columns])
    wb.exports.write_member_ids(export_id, tmp_path / "d0.parquet")
    next_day(wb, clock)
    wb.exports.write_member_ids(export_id, tmp_path / "d1.parquet")
    day = D + timedelta(days=1)
    wb.exports.write_csv(export_id, tmp_path / "full.csv", day=day)
    wb.exports.write_changes(export_id, tmp_path / "added.csv", day=day, kind="added",
                             now=tmp_path / "d1.parquet", baseline=tmp_path / "d0.parquet")
    full = list(csv.reader((tmp_path / "full.csv").open()))
    added = list(csv.reader((tmp_path / "added.csv").open()))
    assert added == [full[0]] + [row for row in full if row[0] == "late"]
