"""A full disk during an ingest, on a real small tmpfs (root only; skipped elsewhere): nothing
half-written, the current version unchanged, no stray files, one line naming the folder."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import duckdb
import pytest

import workbench
from tests.conftest import ADMIN
from workbench.errors import EngineError
from workbench.home import init_home

HEADER = "transaction_id,customer_id,occurred_at,amount,store_id,channel\n"


@contextlib.contextmanager
def tmpfs(folder: Path, size: str):
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True)
    if done.returncode:
        pytest.skip("cannot mount a tmpfs here (root only)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


def small_file(folder: Path) -> Path:
    path = folder / "small.csv"
    path.write_text(HEADER + "".join(f"T{i},C{i},2026-01-01 10:00,{i}.50,S1,app\n"
                                     for i in range(1000)))
    return path


def big_file(folder: Path) -> Path:
    """~70 MB of CSV whose version (hashes do not compress) needs well over 20 MB."""
    path = folder / "big.csv"
    duckdb.connect().execute(f"""COPY (SELECT 'T' || i AS transaction_id, 'C' || i AS customer_id,
        '2026-01-01 10:00' AS occurred_at, '1.00' AS amount,
        md5(CAST(i AS VARCHAR)) || md5(CAST(i * 7 AS VARCHAR)) AS store_id,
        md5(CAST(i * 3 AS VARCHAR)) AS channel FROM range(500000) t(i)) TO '{path}' (HEADER)""")
    return path


def state(wb) -> tuple:
    """What a full disk must leave alone: the current version, the files beside it, the ingest
    log, and no work folders in HOME/tmp."""
    with wb.snapshot() as snapshot:
        current = snapshot.file("transactions")
    folder = wb.home.customers_dir / "transactions"
    scratch = sorted(p.name for p in wb.home.tmp_dir.iterdir() if p.name.startswith("ingest-"))
    return (current, sorted(p.name for p in folder.iterdir()), wb.customers.counts(),
            len(wb.store.ingests()), scratch)


def test_the_disk_filling_while_the_version_is_written_stores_nothing(tmp_path):
    small, big = small_file(tmp_path), big_file(tmp_path)
    with tmpfs(tmp_path / "disk", "20m") as disk:
        init_home(disk / "home", admin=ADMIN, timezone="UTC")
        with workbench.open(disk / "home", user=ADMIN) as wb:
            assert wb.customers.ingest("transactions", small).accepted == 1000
            before = state(wb)
            with pytest.raises(EngineError) as full:
                wb.customers.ingest("transactions", big)
            folder = wb.home.customers_dir / "transactions"
            assert str(full.value) == (
                f"the disk is full (No space left on device) in {folder}: nothing was stored, "
                "the current transactions are unchanged; free space there and run the ingest "
                "again")
            assert state(wb) == before
            assert wb.customers.ingest("transactions", small).updated == 1000  # it still works


def test_a_full_tmp_folder_of_the_home_stores_nothing_and_says_where(wb, tmp_path):
    small = small_file(tmp_path)
    wb.customers.ingest("transactions", small)
    before = state(wb)
    with tmpfs(wb.home.tmp_dir, "1m") as tmp:
        (tmp / "filler").write_bytes(b"\0" * (1 << 20))  # nothing more fits
        with pytest.raises(EngineError) as full:
            wb.customers.ingest("transactions", small)
        assert str(full.value) == (
            f"the disk is full (No space left on device) in {wb.home.tmp_dir}: nothing was "
            "stored, the current transactions are unchanged; free space there and run the "
            "ingest again")
        (tmp / "filler").unlink()
        assert state(wb) == before

