"""Ingest against a hostile tester: encodings, huge lines, impossible dates and offsets, glob
characters in names, killed ingests, non-finite numbers, huge amounts, appended type changes."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import read_rejects
from tests.test_ingest import stored
from workbench.customers.textfile import MAX_LINE_BYTES, READ_CHUNK
from workbench.errors import IngestError

TRANSACTION_HEADER = ["transaction_id", "customer_id", "occurred_at", "amount"]


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def version_files(wb, kind: str) -> list[str]:
    return sorted(p.name for p in (wb.home.customers_dir / kind).iterdir())


# -- 1. encodings ----------------------------------------------------------------------------------

def test_a_latin1_file_is_refused_with_the_line_of_its_first_bad_byte(wb, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("customer_id,last_name\nC1,Smith\nC2,Müller\n".encode("latin-1"))
    with pytest.raises(IngestError) as refused:
        wb.customers.ingest("profiles", path)
    assert one_line(refused) == (f"{path} is not UTF-8 (first bad byte at line 3); convert it "
                                 "or pass --encoding latin-1")
    assert stored(wb, "profiles") == []
    report = wb.customers.ingest("profiles", path, encoding="latin-1")
    assert (report.accepted, report.rejected) == (2, 0)
    assert {r["customer_id"]: r["last_name"] for r in stored(wb, "profiles")}["C2"] == "Müller"


def test_the_bad_byte_is_found_far_into_a_file_read_in_pieces(wb, tmp_path):
    """The check streams the file: a character split between two pieces is no error, and the
    line of a bad byte several pieces in is exact."""
    head = b"customer_id,last_name\n"
    rows = b"".join(b"C%07d,Smith\n" % i for i in range(300_000))  # > 4 pieces
    # 'ü' (2 bytes in UTF-8) straddles the end of the first piece.
    filler = b"X" * (READ_CHUNK - len(head) - len(b"U1,M") - 1)
    split = b"U1,M" + filler + "ü".encode() + b"ller\n"
    path = tmp_path / "p.csv"
    path.write_bytes(head + split + rows + b"Z1,M\xfcller\n")
    with pytest.raises(IngestError, match=r"first bad byte at line 300003\)"):
        wb.customers.ingest("profiles", path)


def test_utf16_is_read_when_asked_and_recognised_when_not(wb, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes("customer_id,last_name\nC1,Müller\n".encode("utf-16"))  # with its BOM
    with pytest.raises(IngestError, match="starts like UTF-16; pass --encoding utf-16"):
        wb.customers.ingest("profiles", path)
    assert wb.customers.ingest("profiles", path, encoding="utf-16").accepted == 1
    assert stored(wb, "profiles")[0]["last_name"] == "Müller"
    big_endian = tmp_path / "be.csv"
    big_endian.write_bytes(b"\xfe\xff" + "customer_id\nC1\n".encode("utf-16-be"))
    with pytest.raises(IngestError, match="UTF-16 big-endian, which cannot be read"):
        wb.customers.ingest("profiles", big_endian, encoding="utf-16")
    with pytest.raises(IngestError, match="unknown encoding 'cp1252'; use one of utf-8"):
        wb.customers.ingest("profiles", path, encoding="cp1252")


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name(wb, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"\xef\xbb\xbfcustomer_id,first_name\nC1,Ann\n")
    assert wb.customers.ingest("profiles", path).accepted == 1


def test_cli_encoding_option(tmp_path, home):
    from tests.test_cli import run

    path = tmp_path / "p.csv"
    path.write_bytes("customer_id,last_name\nC1,Müller\n".encode("latin-1"))
    refused = run("ingest", "profiles", path, home=home)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "--encoding latin-1" in refused.stderr
    done = run("ingest", "profiles", path, "--encoding", "latin-1", home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "profiles: accepted 1, rejected 0, orphans 0"


# -- 2. huge lines ---------------------------------------------------------------------------------

def test_a_huge_field_rejects_its_row_only(wb, tmp_path):
    path = tmp_path / "p.csv"
    huge = "x" * (3 * MAX_LINE_BYTES)
    path.write_text(f"customer_id,first_name\nC1,Ann\nC2,{huge}\nC3,\"Cy\nquoted {huge}\"\n"
                    "C4,Di\n")
    report = wb.customers.ingest("profiles", path)
    assert (report.accepted, report.rejected) == (2, 2)
    rejects = read_rejects(report.rejects_file)
    reasons = [r["_reason"] for r in rejects]
    assert reasons == [f"line {n}: a field or line longer than 1,048,576 bytes" for n in (3, 4)]
    assert [r["customer_id"] for r in stored(wb, "profiles")] == ["C1", "C4"]
    # The rejects file holds the whole records, not the reader's first 10,000 characters.
    assert [r["_malformed_line"] for r in rejects] == [f"C2,{huge}", f'C3,"Cy\nquoted {huge}"']


def test_a_huge_field_of_a_gzipped_file_is_whole_in_the_rejects_file(wb, tmp_path):
    huge = "y" * (2 * MAX_LINE_BYTES)
    path = tmp_path / "p.csv.gz"
    path.write_bytes(gzip.compress(f"customer_id,first_name\nC1,Ann\nC2,{huge}\n".encode()))
    report = wb.customers.ingest("profiles", path)
    [rejected] = read_rejects(report.rejects_file)
    assert rejected["_malformed_line"] == f"C2,{huge}"
    assert Path(report.rejects_file).name.endswith("-p.csv")  # not p.csv.csv


def test_rejected_records_are_written_as_they_are_in_crlf_and_non_ascii_files(wb, tmp_path):
    huge = "x" * (2 * MAX_LINE_BYTES)
    path = tmp_path / "t.csv"
    path.write_bytes("\r\n".join([
        "customer_id,tag,occurred_at", "C1,a,2026-01-01", "C2,b,2026-01-01,extra",
        f"C3,é€{huge},2026-01-01", f'C4,5" screen {huge},2026-01-01', "C5,c,2026-01-01",
        ""]).encode())
    report = wb.customers.ingest("tags", path)
    texts = [r["_malformed_line"] for r in read_rejects(report.rejects_file)]
    # No line feed left of the line end before; each long record whole, and only itself
    # (its mid-field quote opens nothing).
    assert texts[:3] == ["C2,b,2026-01-01,extra", f"C3,é€{huge},2026-01-01",
                         f'C4,5" screen {huge},2026-01-01']
    assert sorted(r["customer_id"] for r in stored(wb, "tags")) == ["C1", "C5"]


# -- quotes ----------------------------------------------------------------------------------------

def test_a_quoted_header_is_read_with_its_quotes_removed(wb, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('"customer_id",tag,occurred_at\nC1,a,2026-01-01\nC2,"open,2026-01-02\n'
                    "C3,b,2026-01-03\n")
    with pytest.raises(IngestError, match="line 3 opens a quoted field that never closes"):
        wb.customers.ingest("tags", path)

def test_a_quote_that_never_closes_refuses_the_file_and_makes_up_no_row(wb, tmp_path):
    wb.customers.ingest("tags", _tags(tmp_path, "a.csv", "C1,vip,2026-01-01\n"))
    before = stored(wb, "tags")
    # DuckDB's detection reads this file without quotes: the quoted line break would then make
    # up a row (customer 'line', tag 'tag"'), and the quote would be stored as text.
    path = _tags(tmp_path, "t.csv", 'C1,vip,2026-01-02\nC2,"multi\nline, tag",2026-01-02\n'
                 'C3,ok,2026-01-03\nC4,"unterminated,2026-01-04\nC5,ok,2026-01-05\n')
    with pytest.raises(IngestError, match=r"t\.csv: line 6 opens a quoted field that never "
                       r"closes, .*nothing was stored"):
        wb.customers.ingest("tags", path)
    assert stored(wb, "tags") == before


def test_a_runaway_quote_far_into_a_file_refuses_it_rather_than_swallow_the_rest(wb, tmp_path):
    # Past the lines the dialect is detected on: the reader would read every line after it
    # as one rejected value (cut to 10,000 characters in its reject store): all of them lost.
    rows = "".join(f"C{i},t{i},2026-01-01\n" for i in range(30_000))
    path = _tags(tmp_path, "t.csv", rows + 'C9,"runaway,2026-01-02\n' + rows)
    with pytest.raises(IngestError, match="line 30002 opens a quoted field that never closes"):
        wb.customers.ingest("tags", path)


def test_quoted_fields_are_read_as_written(wb, tmp_path):
    path = _tags(tmp_path, "t.csv", 'C1,"a, b",2026-01-01\nC3,"5"" screen",2026-01-01\n'
                 'C4,5" screen,2026-01-01\n')
    report = wb.customers.ingest("tags", path)
    assert (report.accepted, report.rejected) == (3, 0)
    assert sorted(r["tag"] for r in stored(wb, "tags")) == ['5" screen', '5" screen', "a, b"]
    # Appended text may hold a quoted line break; an id or a tag may not.
    path = tmp_path / "a.csv"
    path.write_text('customer_id,note\nC1,"two\nlines"\n')
    assert wb.customers.ingest("appended", path).accepted == 1
    assert [r["note"] for r in stored(wb, "appended")] == ["two\nlines"]


def test_a_stray_pair_of_quotes_rejects_the_joined_row_and_loses_no_line(wb, tmp_path):
    # An RFC 4180 reader takes the lines between two stray quotes for one value: c2 and c3
    # would vanish into c1's tag. A tag is one line, so the joined row is rejected, with
    # every line it swallowed in the rejects file.
    path = _tags(tmp_path, "t.csv", 'c1,"vip,2026-01-01\nc2,b,2026-01-02\nc3,sale",2026-01-03\n'
                 "c4,d,2026-01-04\n")
    report = wb.customers.ingest("tags", path)
    assert (report.accepted, report.rejected) == (1, 1)
    [rejected] = read_rejects(report.rejects_file)
    assert rejected["tag"] == "vip,2026-01-01\nc2,b,2026-01-02\nc3,sale"
    assert "is not one line" in rejected["_reason"]


def test_a_line_too_long_for_the_reader_refuses_the_file(wb, tmp_path):
    # DuckDB drops a line of about 32 MiB without a reject: it is named instead.
    path = tmp_path / "t.csv"
    path.write_bytes(b"customer_id,tag,occurred_at\nC1,a,2026-01-01\nC2," + b"x" * (17 << 20)
                     + b",2026-01-01\nC3,b,2026-01-01\n")
    with pytest.raises(IngestError, match="line 3 is longer than 16 MB with no line end"):
        wb.customers.ingest("tags", path)


@pytest.mark.parametrize("character", ["\x00", "\x1b", "\x07", "\x0b", "\x7f"])
def test_control_characters_in_text_are_rejected_with_their_reason(wb, tmp_path, character):
    path = _tags(tmp_path, "t.csv", f"C1,a{character}b,2026-01-01\nC2,tab\there,2026-01-01\n")
    report = wb.customers.ingest("tags", path)
    assert (report.accepted, report.rejected) == (1, 1)
    [rejected] = read_rejects(report.rejects_file)
    assert rejected["tag"] == f"a{character}b"
    assert "free of control characters" in rejected["_reason"]
    assert [r["tag"] for r in stored(wb, "tags")] == ["tab\there"]


@pytest.mark.parametrize("encoding", ["utf-8", "latin-1", "utf-16", "gzip"])
def test_control_characters_are_found_in_every_encoding_and_in_gzip(wb, tmp_path, encoding):
    # A plain UTF-8 or Latin-1 file is looked at for control bytes first (the per-value check
    # runs only when one is there); UTF-16 and gzip are checked value by value.
    text = "customer_id,tag,occurred_at\nC1,café\x1b[0m,2026-01-01\nC2,é,2026-01-01\n"
    path = tmp_path / ("t.csv.gz" if encoding == "gzip" else "t.csv")
    if encoding == "gzip":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_bytes(text.encode("utf-16-le" if encoding == "utf-16" else encoding))
    report = wb.customers.ingest("tags", path, encoding="utf-8" if encoding == "gzip"
                                 else encoding)
    assert (report.accepted, report.rejected) == (1, 1)
    assert [r["tag"] for r in stored(wb, "tags")] == ["é"]


def test_control_characters_in_parquet_text_are_rejected_too(wb, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"customer_id": ["C1", "C2\x1b[31m"], "tag": ["a", "b"],
                             "occurred_at": ["2026-01-01", "2026-01-01"]}), path)
    report = wb.customers.ingest("tags", path)
    assert (report.accepted, report.rejected) == (1, 1)
    assert "customer_id" in read_rejects(report.rejects_file)[0]["_reason"]


def test_parquet_narrow_and_unsigned_numbers_are_appended_as_numbers(wb, tmp_path):
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({
        "customer_id": ["C1", "C2"],
        "points": pa.array([1, 2], pa.int32()), "visits": pa.array([3, 4], pa.int16()),
        "level": pa.array([5, 255], pa.uint8()), "score": pa.array([0.5, 1.5], pa.float32()),
        "big": pa.array([1, 2**64 - 1], pa.uint64())}), path)
    report = wb.customers.ingest("appended", path)
    assert report.column_types == {"points": "integer", "visits": "integer", "level": "integer",
                                   "score": "double", "big": "integer"}
    # 2**64 - 1 does not fit a whole number of the contract: its row is rejected, not wrapped.
    assert (report.accepted, report.rejected) == (1, 1)
    assert [(r["points"], r["level"], r["score"]) for r in stored(wb, "appended")] == [
        (1, 5, 0.5)]


def test_a_missing_column_names_what_the_header_has(wb, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("customer_id,tagg\nC1,x\n")
    with pytest.raises(IngestError, match="lacks required column.*tag, occurred_at; its header "
                       "has customer_id, tagg; tags columns are customer_id, tag, occurred_at"):
        wb.customers.ingest("tags", path)


def _tags(folder: Path, name: str, rows: str) -> Path:
    path = folder / name
    path.write_bytes(("customer_id,tag,occurred_at\n" + rows).encode())
    return path


def test_a_huge_header_refuses_the_file(wb, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("customer_id," + "x" * (MAX_LINE_BYTES + 1) + "\nC1,a\n")
    with pytest.raises(IngestError, match="the header line is longer than 1,048,576 bytes"):
        wb.customers.ingest("profiles", path)


def test_the_dialect_comes_from_the_lines_before_a_huge_one(wb, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("customer_id;tag;occurred_at\nC1;a;2026-01-01\n"
                    f"C2;{'y' * (2 * MAX_LINE_BYTES)};2026-01-01\nC3;\"b;c\";2026-01-02\n"
                    "#C4;d;2026-01-03\n")
    report = wb.customers.ingest("tags", path)
    assert (report.accepted, report.rejected) == (3, 1)
    # A quoted field after the sample, and a line starting with '#' (no comment lines).
    assert sorted(r["tag"] for r in stored(wb, "tags")) == ["a", "b;c", "d"]


# -- 3. dates, timestamps, offsets -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("created_at", "2026-01-01 10:00+99:00",
         'created_at "2026-01-01 10:00+99:00" is not a timestamp with a UTC offset within ±14:00'),
        ("created_at", "2026-01-01 10:00-1430", "with a UTC offset within ±14:00"),
        ("created_at", "-0001-01-01", 'is not a timestamp from 1900-01-01 to 9999-12-31'),
        ("created_at", "10000-01-01 00:00", "is not a timestamp from 1900-01-01 to 9999-12-31"),
        ("created_at", "0044-03-15 (BC)", "is not a timestamp from 1900-01-01 to 9999-12-31"),
        ("created_at", "infinity", "is not a timestamp from 1900-01-01 to 9999-12-31"),
        ("birth_date", "-0001-01-01", 'birth_date "-0001-01-01" is not a date from 1900-01-01'),
        ("birth_date", "0000-01-01", "is not a date from 1900-01-01 to 9999-12-31"),
        ("birth_date", "1899-12-31", "is not a date from 1900-01-01 to 9999-12-31"),
        ("birth_date", "12026-01-01", "is not a date from 1900-01-01 to 9999-12-31"),
        ("birth_date", "1990-05-01 23:30", 'birth_date "1990-05-01 23:30" is not a date YYYY-MM-DD'),
    ],
)
def test_impossible_dates_and_offsets_are_rejected(wb, write_csv, column, value, reason):
    report = wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id", column],
                                                       ["C1", value]))
    assert (report.accepted, report.rejected) == (0, 1)
    assert reason in read_rejects(report.rejects_file)[0]["_reason"]


def test_real_offsets_bounds_and_far_future_events_are_kept(wb, write_csv):
    report = wb.customers.ingest("tags", write_csv(
        "t.csv", ["customer_id", "tag", "occurred_at"], ["C1", "a", "2026-01-01 10:00+14:00"],
        ["C1", "b", "2026-01-01 10:00-12:00"], ["C1", "c", "9999-12-31 23:59:59"],
        ["C1", "d", "1900-01-01"], ["C1", "e", "2026-01-01 10:00 America/New_York"],
        ["C1", "f", "10000-01-01"]))
    assert (report.accepted, report.rejected) == (5, 1)
    assert [r["tag"] for r in stored(wb, "tags")] == ["a", "b", "c", "d", "e"]
    profiles = wb.customers.ingest("profiles", write_csv(
        "p.csv", ["customer_id", "birth_date"], ["C1", "1900-01-01"], ["C2", "2000-02-29 00:00"]))
    assert profiles.rejected == 0


def test_typed_parquet_dates_are_held_to_the_same_days(wb, tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"customer_id": ["C1", "C2", "C3"],
                             "birth_date": [date(1, 1, 1), date(1950, 1, 1), date(1899, 12, 31)],
                             "created_at": pa.array([0, 0, -2_300_000_000_000_000],
                                                    pa.timestamp("us", tz="UTC"))}), path)
    report = wb.customers.ingest("profiles", path)
    assert (report.accepted, report.rejected) == (1, 2)
    reasons = {r["customer_id"]: r["_reason"] for r in read_rejects(report.rejects_file)}
    assert 'birth_date "0001-01-01" is not a date from 1900-01-01 to 9999-12-31' in reasons["C1"]
    assert "created_at" in reasons["C3"] and "is not a timestamp from 1900" in reasons["C3"]


# -- 4. glob characters ------------------------------------------------------------------------------

def test_a_name_with_glob_characters_is_one_file_read_literally(wb, write_csv, tmp_path):
    write_csv("a1.csv", ["customer_id"], ["FROM-a1"])
    write_csv("a2.csv", ["customer_id"], ["FROM-a2"])
    literal = write_csv("a*.csv", ["customer_id"], ["FROM-literal"])
    report = wb.customers.ingest("profiles", literal)
    assert report.accepted == 1
    assert [r["customer_id"] for r in stored(wb, "profiles")] == ["FROM-literal"]
    brackets = write_csv("a[12]{x,y}?.csv", ["customer_id"], ["FROM-brackets"])
    assert wb.customers.ingest("profiles", brackets).accepted == 1
    with pytest.raises(IngestError, match=r"a\?\.csv: no such file"):
        wb.customers.ingest("profiles", tmp_path / "a?.csv")
    parquet = tmp_path / "b*.parquet"
    pq.write_table(pa.table({"customer_id": ["FROM-parquet"]}), parquet)
    pq.write_table(pa.table({"customer_id": ["FROM-b1"]}), tmp_path / "b1.parquet")
    assert wb.customers.ingest("profiles", parquet).accepted == 1
    assert "FROM-b1" not in {r["customer_id"] for r in stored(wb, "profiles")}
    assert not (wb.home.tmp_dir / "ingest-profiles").exists()  # its link is gone


# -- 5. killed ingests ---------------------------------------------------------------------------------

def test_files_left_by_a_killed_ingest_are_removed_by_the_next(wb, write_csv):
    wb.customers.ingest("profiles", write_csv("a.csv", ["customer_id"], ["C1"]))
    folder = wb.home.customers_dir / "profiles"
    (folder / "v-20260101T000000-deadbeef.parquet").write_bytes(b"half a file")
    (folder / ".x.tmp").write_bytes(b"")
    scratch = wb.home.tmp_dir / "ingest-profiles"
    scratch.mkdir()
    (scratch / "source.csv").symlink_to(folder)
    wb.customers.ingest("profiles", write_csv("b.csv", ["customer_id"], ["C2"]))
    with wb.snapshot() as snapshot:
        assert version_files(wb, "profiles") == [snapshot.file("profiles").name]
    assert not scratch.exists()


def test_files_left_by_a_killed_sample_are_removed_by_the_next(wb):
    stray = wb.home.tmp_dir / "sample" / "profiles.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"half a file")
    reports = wb.customers.sample(20, seed=1)
    assert reports["profiles"].accepted == 20
    assert not (wb.home.tmp_dir / "sample").exists()


def test_an_ingest_killed_before_it_records_its_version_leaves_nothing_behind(wb, write_csv):
    import sqlite3

    wb.customers.ingest("profiles", write_csv("a.csv", ["customer_id"], ["C1"]))
    before = version_files(wb, "profiles")
    path = write_csv("b.csv", ["customer_id"], ["C2"])
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    # Another process holds the store's write lock: the ingest writes its version file, ends
    # its work (its scratch folder removed), waits to record the version, and is killed there.
    # (A scratch folder left by a kill mid-way: the tests above and below.)
    holder = sqlite3.connect(wb.home.store_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ingesting = subprocess.Popen([sys.executable, "-m", "workbench", "ingest", "profiles",
                                  str(path)], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
    try:
        written = wait_for_a_new_version(wb, "profiles", before, ingesting)
    finally:
        os.kill(ingesting.pid, signal.SIGKILL)
        ingesting.communicate(timeout=60)
        holder.rollback()
        holder.close()
    assert written is not None, "the ingest never wrote its version"
    assert ingesting.returncode == -signal.SIGKILL
    assert len(version_files(wb, "profiles")) == len(before) + 1  # an unrecorded version
    assert [r["customer_id"] for r in stored(wb, "profiles")] == ["C1"]
    wb.customers.ingest("profiles", path)
    with wb.snapshot() as snapshot:
        assert version_files(wb, "profiles") == [snapshot.file("profiles").name]
    assert not (wb.home.tmp_dir / "ingest-profiles").exists()
    assert [r["customer_id"] for r in stored(wb, "profiles")] == ["C1", "C2"]


def wait_for_a_new_version(wb, kind: str, before: list[str], ingesting) -> str | None:
    """The name of the version file ``ingesting`` wrote, once it is whole (its Parquet footer
    reads) and the ingest's work is over (its scratch folder removed): it is recording the
    version. None if the process ended first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and ingesting.poll() is None:
        for name in set(version_files(wb, kind)) - set(before):
            try:
                pq.read_metadata(wb.home.customers_dir / kind / name)
            except (OSError, pa.ArrowInvalid):
                continue  # still being written
            if not (wb.home.tmp_dir / f"ingest-{kind}").exists():
                return name
        time.sleep(0.01)
    return None


@pytest.mark.slow
def test_a_cli_ingest_killed_mid_way_on_a_large_file(wb, tmp_path):
    from tests.test_cli import WORKBENCH

    path = tmp_path / "t.csv"
    with open(path, "w") as handle:
        handle.write(",".join(TRANSACTION_HEADER) + "\n")
        handle.writelines(f"T{i},C{i % 5000},2026-01-{i % 28 + 1:02} 10:00,{i % 997}.25\n"
                          for i in range(1_500_000))
    env = {**os.environ, "WORKBENCH_HOME": str(wb.home.root), "WORKBENCH_USER": "ada"}
    cli = subprocess.Popen([WORKBENCH, "ingest", "transactions", str(path)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    folder = wb.home.customers_dir / "transactions"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and cli.poll() is None:
        if folder.exists() and any(folder.iterdir()):  # the version is being written
            break
        time.sleep(0.01)
    os.kill(cli.pid, signal.SIGKILL)
    cli.communicate(timeout=60)
    # Written (the streamed candidate, or the version), never recorded.
    assert [p.suffix for p in folder.iterdir()] in ([".tmp"], [".parquet"])
    assert cli.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert wb.store.ingests() == []  # nothing was recorded
    report = wb.customers.ingest("transactions", path)
    assert report.accepted == 1_500_000
    with wb.snapshot() as snapshot:
        assert version_files(wb, "transactions") == [snapshot.file("transactions").name]
    assert not (wb.home.tmp_dir / "ingest-transactions").exists()


# -- 6. non-finite numbers -----------------------------------------------------------------------------

def test_non_finite_numbers_are_rejected_per_row(wb, write_csv, tmp_path):
    rows = [["C1", "1.5"], ["C2", "NaN"], ["C3", "inf"], ["C4", "-Infinity"], ["C5", "1e999"]]
    report = wb.customers.ingest("appended", write_csv("a.csv", ["customer_id", "points"], *rows),
                                 schema={"points": "double"})
    assert (report.accepted, report.rejected) == (1, 4)
    reasons = {r["customer_id"]: r["_reason"] for r in read_rejects(report.rejects_file)}
    assert reasons["C2"] == 'points "NaN" is not a finite number'
    assert reasons["C4"] == 'points "-Infinity" is not a finite number'
    # Inferred: the column is one of numbers, and its non-finite values are rejected.
    inferred = wb.customers.ingest("appended", write_csv(
        "b.csv", ["customer_id", "score"], ["C1", "2.5"], ["C2", "nan"]))
    assert inferred.column_types["score"] == "double" and inferred.rejected == 1
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"customer_id": ["C6", "C7", "C8"],
                             "ratio": [0.5, float("nan"), float("-inf")]}), path)
    typed = wb.customers.ingest("appended", path)
    assert (typed.accepted, typed.rejected) == (1, 2)
    assert 'ratio "nan" is not a finite number' in read_rejects(typed.rejects_file)[0]["_reason"]
    values = [r["points"] for r in stored(wb, "appended")] + [r["ratio"] for r in
                                                               stored(wb, "appended")]
    assert all(v is None or v == v and abs(v) != float("inf") for v in values)


def test_non_finite_amounts_are_rejected(wb, write_csv, tmp_path):
    report = wb.customers.ingest("transactions", write_csv(
        "t.csv", TRANSACTION_HEADER, ["T1", "C1", "2026-01-01", "NaN"],
        ["T2", "C1", "2026-01-01", "Infinity"], ["T3", "C1", "2026-01-01", "1.00"]))
    assert (report.accepted, report.rejected) == (1, 2)
    assert read_rejects(report.rejects_file)[0]["_reason"] == 'amount "NaN" is not a finite number'
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({
        "transaction_id": ["T4", "T5"], "customer_id": ["C1", "C1"],
        "occurred_at": pa.array([1_767_225_600_000_000] * 2, pa.timestamp("us")),
        "amount": [float("nan"), float("inf")]}), path)
    typed = wb.customers.ingest("transactions", path)
    assert (typed.accepted, typed.rejected) == (0, 2)
    assert "is not a finite number" in read_rejects(typed.rejects_file)[1]["_reason"]


# -- 7. the largest amounts --------------------------------------------------------------------------

def test_three_largest_amounts_of_one_customer_sum_exactly(wb, write_csv):
    wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id", "created_at"],
                                              ["C1", "2020-01-01"], ["C2", "2020-01-01"]))
    largest = "9999999999999999.99"
    report = wb.customers.ingest("transactions", write_csv(
        "t.csv", TRANSACTION_HEADER, *[[f"T{i}", "C1", "2025-06-01", largest] for i in range(3)],
        ["T9", "C2", "2025-06-01", "5.00"]))
    assert report.rejected == 0
    day = wb.today() - timedelta(days=2)
    estimate = wb.audiences.estimate({"name": "x", "rules": [
        {"attribute": "rfm.monetary", "op": "gt", "value": 1}]}, as_of=day)
    assert estimate.size == 2
    features = wb.features(day)
    monetary = dict(features.select('customer_id, "rfm.monetary"').fetchall())
    assert monetary == {"C1": Decimal("29999999999999999.97"), "C2": Decimal("5.00")}


# -- 8. appended type changes ------------------------------------------------------------------------

def active_audience(wb, name: str, rule: dict) -> int:
    return wb.audiences.activate(wb.audiences.create({"name": name, "rules": [rule]}).id).id


def test_a_type_change_that_breaks_active_audiences_is_refused(wb, write_csv):
    header = ["customer_id", "lifetime_points"]
    wb.customers.ingest("appended", write_csv("a.csv", header, ["C1", "12"], ["C2", "40"]))
    gold = active_audience(wb, "Gold", {"attribute": "appended.lifetime_points", "op": "gt",
                                        "value": 10})
    vip = active_audience(wb, "VIP", {"attribute": "appended.lifetime_points", "op": "between",
                                      "value": [20, 50]})
    active_audience(wb, "Other", {"attribute": "customer_id", "op": "eq", "value": "C1"})
    before = version_files(wb, "appended")
    with pytest.raises(IngestError) as refused:
        wb.customers.ingest("appended", write_csv("b.csv", header, ["C3", "lots"]),
                            schema={"lifetime_points": "text"})
    assert one_line(refused) == (
        f"changing appended.lifetime_points from integer to text would break active "
        f"audience(s) {gold} (Gold), {vip} (VIP); archive them first or keep the type")
    assert refused.value.exit_code == 2
    assert version_files(wb, "appended") == before
    assert len(wb.store.ingests()) == 1
    # A change every rule still accepts is no problem: numbers stay numbers.
    report = wb.customers.ingest("appended", write_csv("c.csv", header, ["C3", "7"]),
                                 schema={"lifetime_points": "double"})
    assert report.column_types == {"lifetime_points": "double"}
    assert {r["customer_id"]: r["lifetime_points"] for r in stored(wb, "appended")} == {
        "C1": 12.0, "C2": 40.0, "C3": 7.0}


def test_a_type_change_converts_stored_values_only_without_loss(wb, write_csv):
    header = ["customer_id", "points"]
    wb.customers.ingest("appended", write_csv("a.csv", header, ["C1", "12"], ["C2", "40"]))
    wb.customers.ingest("appended", write_csv("b.csv", header, ["C3", "lots"]),
                        schema={"points": "text"})
    assert {r["customer_id"]: r["points"] for r in stored(wb, "appended")} == {
        "C1": "12", "C2": "40", "C3": "lots"}
    before = version_files(wb, "appended")
    with pytest.raises(IngestError) as refused:
        wb.customers.ingest("appended", write_csv("c.csv", header, ["C4", "5"]),
                            schema={"points": "integer"})
    assert one_line(refused) == (
        'cannot change appended.points from text to integer: stored values do not all convert '
        'to integer without loss, e.g. "lots"; keep the type, or give those customers new '
        "values in the file")
    assert version_files(wb, "appended") == before
    # The file replaces the one value that does not convert: now the change is lossless.
    report = wb.customers.ingest("appended", write_csv("d.csv", header, ["C3", "3"]),
                                 schema={"points": "integer"})
    assert report.column_types == {"points": "integer"}
    assert {r["customer_id"]: r["points"] for r in stored(wb, "appended")} == {
        "C1": 12, "C2": 40, "C3": 3}


def test_lossy_typed_conversions_are_refused_with_examples(wb, write_csv):
    header = ["customer_id", "ratio"]
    wb.customers.ingest("appended", write_csv(
        "a.csv", header, *[[f"C{i}", f"{i}.5"] for i in range(5)], ["C9", "2"]))
    with pytest.raises(IngestError, match=r'from double to integer: .* e\.g\. "0\.5", "1\.5", '
                                          r'"2\.5"; keep'):
        wb.customers.ingest("appended", write_csv("b.csv", header, ["C10", "1"]),
                            schema={"ratio": "integer"})


# -- kinds ---------------------------------------------------------------------------------------

def test_an_unknown_kind_is_refused_before_any_lock_file(wb, write_csv):
    path = write_csv("p.csv", ["customer_id"], ["C1"])
    with pytest.raises(IngestError, match="unknown kind 'orders'; use one of profiles"):
        wb.customers.ingest("orders", path)
    with pytest.raises(IngestError, match="unknown kind"):
        wb.customers.ingest("../../evil", path)
    assert not list(wb.home.customers_dir.glob(".*.lock"))
    assert not (wb.home.root / "evil.lock").exists()


def test_json_report_of_a_latin1_ingest(tmp_path, home):
    from tests.test_cli import run

    path = tmp_path / "p.csv"
    path.write_bytes("customer_id,home_city\nC1,Zürich\n".encode("latin-1"))
    done = run("--json", "ingest", "profiles", path, "--encoding", "latin-1", home=home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["accepted"] == 1
    assert Path(path).exists()
