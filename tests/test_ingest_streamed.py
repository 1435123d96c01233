"""The streamed ingest gives what the staged ingest gives: the same report, the same stored rows,
the same rejects file, on files with every kind of defect, first ingest and merge alike; a bad
row in the middle of a large file is one rejected row; a bad byte far into the file still
refuses it (DuckDB checks UTF-8 now, not a Python pass)."""

from __future__ import annotations

import csv
import dataclasses
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import workbench
from tests.conftest import ADMIN, read_rejects
from workbench.customers import ingest as ingest_module
from workbench.customers.textfile import READ_CHUNK
from workbench.errors import IngestError, RejectedRows
from workbench.home import init_home

TRANSACTIONS = ["transaction_id", "customer_id", "occurred_at", "amount", "store_id", "channel"]
PROFILES = ["customer_id", "first_name", "gender", "birth_date", "created_at"]
TAGS = ["customer_id", "tag", "occurred_at"]


def open_home(root: Path):
    init_home(root, admin=ADMIN, timezone="UTC")
    return workbench.open(root, user=ADMIN)


def staged_only(monkeypatch) -> None:
    """The ingest as it was before it streamed: every file through the staged tables."""
    monkeypatch.setattr(ingest_module, "_streamed", lambda *args, **kwargs: None)


def outcome(wb, kind: str, path: Path, **options) -> dict:
    """Everything an ingest leaves that a user sees: its report, the stored rows, the rejects."""
    try:
        report = wb.customers.ingest(kind, path, **options)
    except (IngestError, RejectedRows) as refused:
        said = str(refused).replace(str(wb.home.root), "HOME")
        return {"refused": said[:said.find(" reasons in ")] if " reasons in " in said else said}
    shown = dataclasses.asdict(report)
    shown.pop("rejects_file")
    shown["rejects"] = read_rejects(report.rejects_file) if report.rejects_file else []
    with wb.snapshot() as snapshot:
        rel = wb.duck.sql(f"SELECT * FROM read_parquet('{snapshot.file(kind)}') ORDER BY ALL")
        shown["stored"] = (rel.columns, rel.fetchall())
    return shown


def write(path: Path, header: list[str], rows: list[list[str]], malformed: str = "") -> Path:
    """A CSV file; ``malformed``: a line put among the rows (DuckDB's dialect detection fails on
    a ragged last line)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")  # one line end throughout
        writer.writerows([header, *rows[:50]])
        handle.write(malformed)
        writer.writerows(rows[50:])
    return path


def transactions(rng: random.Random, n: int, *, bad: bool, dupes: bool, start: int = 0):
    rows = []
    for i in range(start, start + n):
        row = [f"T{i}", f"C{rng.randrange(50)}", f"2026-0{rng.randrange(1, 4)}-1{rng.randrange(10)}"
               f" 1{rng.randrange(10)}:00", f"{rng.randrange(1000)}.{rng.randrange(100):02}",
               rng.choice(["S1", "", "S2"]), rng.choice(["online", "store", ""])]
        if bad and rng.random() < 0.08:
            column, value = rng.choice([(3, "ten"), (3, "1.234"), (2, "2026-13-01"), (0, ""),
                                        (1, " "), (2, "yesterday"), (3, "inf")])
            row[column] = value
        rows.append(row)
    if dupes:
        rows += [list(r) for r in rng.sample(rows, 5)]  # exact duplicates: counted once
        contradiction = list(rows[3])
        contradiction[3] = "999.99" if contradiction[3] != "999.99" else "1.00"
        rows.append(contradiction)  # the same key, another amount: both rejected
    rng.shuffle(rows)
    return rows


def profiles(rng: random.Random, n: int, *, bad: bool, dupes: bool, start: int = 0):
    rows = []
    for i in range(start, start + n):
        row = [f"C{i}", rng.choice(["Ann", "Bo", ""]), rng.choice(["F", "m", ""]),
               f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(9)}",
               "2025-01-02 03:04"]
        if bad and rng.random() < 0.1:
            column, value = rng.choice([(3, "2999-01-01"), (3, "1990-02-30"), (0, ""),
                                        (4, "soon")])
            row[column] = value
        rows.append(row)
    if dupes:
        rows += [list(rows[0]), list(rows[1])]
        rows.append([rows[2][0], "Other", *rows[2][2:]])
    return rows


def tags(rng: random.Random, n: int, *, bad: bool, dupes: bool, start: int = 0):
    rows = [[f"C{rng.randrange(start, start + n)}", rng.choice(["vip", "churn", "new"]),
             f"2026-02-{rng.randrange(10, 28)} 10:00"] for _ in range(n)]
    rows = [list(r) for r in {tuple(r): None for r in rows}]  # tags repeat by chance: not here
    if bad:
        rows[5][2], rows[7][1] = "2026-02-30", ""
    if dupes:
        rows += [list(rows[0])]
    return rows


MAKERS = {"transactions": (TRANSACTIONS, transactions), "profiles": (PROFILES, profiles),
          "tags": (TAGS, tags)}
MALFORMED = {"transactions": "T-x,C1,2026-01-01 10:00,1.00,,app,extra\n",
             "profiles": "C-x,Ann,f,1990-01-01,,extra\n", "tags": "C1,vip,2026-01-01,extra\n"}


@pytest.mark.parametrize(("kind", "seed"), [(kind, seed) for kind in MAKERS for seed in (1, 2)]
                         + [("transactions", 3)])
def test_streamed_and_staged_ingests_store_and_reject_the_same(tmp_path, monkeypatch, kind, seed):
    header, make = MAKERS[kind]
    rng = random.Random(seed)
    files = []
    for step, (bad, dupes, malformed) in enumerate([(False, False, False), (True, False, True),
                                                    (True, True, False), (False, True, True)]):
        rows = make(rng, 120, bad=bad, dupes=dupes, start=step * 60)  # half the keys are known
        if seed == 3 and kind == "transactions":
            header_used, rows = header[:4], [r[:4] for r in rows]  # optional columns absent
        else:
            header_used = header
        files.append(write(tmp_path / f"{kind}-{step}.csv", header_used, rows,
                           MALFORMED[kind] if malformed else ""))
    parquet = tmp_path / f"{kind}.parquet"  # the Parquet path: text columns, one bad value
    rows = make(rng, 80, bad=True, dupes=False, start=500)
    pq.write_table(pa.table({name: [r[i] for r in rows] for i, name in enumerate(header)}),
                   parquet)
    files.append(parquet)

    with open_home(tmp_path / "streamed") as wb:
        streamed = [outcome(wb, kind, path) for path in files]
        strict = outcome(wb, kind, files[1], strict=True)
    staged_only(monkeypatch)
    with open_home(tmp_path / "staged") as wb:
        staged = [outcome(wb, kind, path) for path in files]
        assert outcome(wb, kind, files[1], strict=True) == strict
    assert streamed == staged
    assert streamed[1]["rejected"] > 0 and "refused" in strict


def test_a_first_ingest_is_the_candidate_renamed_and_leaves_nothing_else(wb, tmp_path):
    rows = transactions(random.Random(4), 200, bad=False, dupes=False)
    report = wb.customers.ingest("transactions", write(tmp_path / "t.csv", TRANSACTIONS, rows))
    assert (report.accepted, report.rejected, report.new, report.updated) == (200, 0, 200, 0)
    with wb.snapshot() as snapshot:
        current = snapshot.file("transactions")
    folder = wb.home.customers_dir / "transactions"
    assert [p.name for p in folder.iterdir()] == [current.name]
    assert not (wb.home.tmp_dir / "ingest-transactions").exists()


@pytest.mark.parametrize("bad", ["malformed", "value"])
def test_one_bad_row_in_the_middle_of_200k_is_the_one_rejected_row(wb, tmp_path, bad):
    """The fault of issue 23 at test size (100M: benchmarks/results/ingest.md)."""
    path, count, middle = tmp_path / "t.csv", 200_000, 100_000
    with open(path, "w") as handle:
        handle.write(",".join(TRANSACTIONS) + "\n")
        for i in range(count):
            if i != middle:
                handle.write(f"T{i:07},C{i % 9973},2026-01-{i % 28 + 1:02} 10:00:00,{i % 997}.25,,app\n")
            elif bad == "malformed":
                handle.write(f"T{i:07},C{i % 9973},2026-01-01 10:00:00\n")  # its last fields cut
            else:
                handle.write(f"T{i:07},C{i % 9973},2026-01-01 10:00:00,ten,,app\n")
    report = wb.customers.ingest("transactions", path)
    assert (report.accepted, report.rejected) == (count - 1, 1)
    [rejected] = read_rejects(report.rejects_file)
    if bad == "malformed":
        assert rejected["_reason"].startswith(f"line {middle + 2}: malformed CSV: ")
        assert rejected["_malformed_line"] == f"T{middle:07},C{middle % 9973},2026-01-01 10:00:00"
    else:
        assert rejected["_reason"] == 'amount "ten" is not a decimal number with at most 2 ' \
            "decimal places (and 16 digits before the point)"
        assert rejected["transaction_id"] == f"T{middle:07}"
    with wb.snapshot() as snapshot:
        stored = wb.duck.sql(f"SELECT count(*), count(DISTINCT transaction_id), "
                             f"bool_or(transaction_id = 'T{middle:07}') "
                             f"FROM read_parquet('{snapshot.file('transactions')}')").fetchall()[0]
    assert stored == (count - 1, count - 1, False)


def test_a_bad_byte_far_into_the_file_refuses_it_and_stores_nothing(wb, tmp_path):
    """Beyond the lines read for the dialect (SNIFF_LINES): only DuckDB's read sees it."""
    path, count, bad = tmp_path / "t.csv", 100_000, 90_000  # 4 MB: past the pieces decoded
    lines = [f"T{i},C{i},2026-01-01 10:00,1.00,,app\n".encode() for i in range(count)]
    lines[bad] = f"T{bad},C\xe9{bad},2026-01-01 10:00,1.00,,app\n".encode("latin-1")
    path.write_bytes(",".join(TRANSACTIONS).encode() + b"\n" + b"".join(lines))
    assert path.stat().st_size > 3 * READ_CHUNK
    with pytest.raises(IngestError) as refused:
        wb.customers.ingest("transactions", path)
    assert str(refused.value) == (f"{path} is not UTF-8 (first bad byte at line {bad + 2}); "
                                  "convert it or pass --encoding latin-1")
    assert wb.customers.counts()["transactions"] == 0
    assert list((wb.home.customers_dir / "transactions").iterdir()) == []  # no candidate left
    report = wb.customers.ingest("transactions", path, encoding="latin-1")
    assert (report.accepted, report.rejected) == (count, 0)


@pytest.mark.parametrize("staged", [False, True], ids=["streamed", "staged"])
def test_tags_are_stored_in_time_order_so_a_window_skips_row_groups(tmp_path, monkeypatch, staged):
    # A tag window (visited in the last 90 days) then reads the row groups whose min/max
    # touch it, not the whole file (docs/scale.md, "Processing and estimates at 10M").
    if staged:
        staged_only(monkeypatch)
    wb = open_home(tmp_path / "home")
    rng = random.Random(5)
    days = [f"2026-{m:02}-{d:02} 12:00" for m in range(1, 13) for d in range(1, 29)]

    def tags(n: int, start: int) -> list[list[str]]:
        return [[f"C{start + i}", rng.choice(["store_visit", "newsletter"]), rng.choice(days)]
                for i in range(n)]

    first = tags(3000, 0)
    wb.customers.ingest("tags", write(tmp_path / "t1.csv", TAGS, first))
    wb.customers.ingest("tags", write(tmp_path / "t2.csv", TAGS, tags(500, 3000)))
    with wb.snapshot() as snapshot:
        times = pq.read_table(snapshot.file("tags"), columns=["occurred_at"]).column(0).to_pylist()
    assert len(times) == 3500 and times == sorted(times)
