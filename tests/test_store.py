"""The metadata store is usable from several processes at once (SQLite in WAL mode)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from workbench.home import Home
from workbench.store import open_store
from workbench.store.schema import MIGRATIONS

WRITES = 150


def _write_many(root: str, worker: int) -> None:
    store = open_store(Home(Path(root)).store_url())
    for i in range(WRITES):
        store.record_ingest(kind="profiles", source=f"w{worker}-{i}", accepted=i, rejected=0,
                            orphans=0, ingested_by=f"worker{worker}")
        if i % 25 == 0:
            store.ingests()  # readers interleave with writers
    store.dispose()


def test_wal_mode_is_on(home, store):
    if store:
        pytest.skip("SQLite's journal mode")
    store = open_store(Home(home).store_url())
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.dispose()


def _two_writers(root) -> list[int | None]:
    """Run _write_many in two processes at once; their exit codes."""
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(str(root), n)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return [w.exitcode for w in workers]


def test_two_processes_write_at_once_without_losing_a_row(home):
    assert _two_writers(home) == [0, 0]
    rows = open_store(Home(home).store_url()).ingests()
    assert len(rows) == 2 * WRITES
    assert {r["ingested_by"] for r in rows} == {"worker0", "worker1"}


def test_opening_a_new_store_from_two_processes_at_once_migrates_once(tmp_path):
    (tmp_path / "workbench.toml").write_text('timezone = "UTC"\n')
    assert _two_writers(tmp_path) == [0, 0]
    store = open_store(Home(tmp_path).store_url())
    with store.read() as conn:
        versions = conn.exec_driver_sql("SELECT version FROM schema_version").scalars().all()
    assert sorted(versions) == [v for v, *_ in MIGRATIONS]


def test_a_held_write_lock_is_reported_as_busy_not_frozen(wb, monkeypatch, store):
    if store:
        pytest.skip("SQLite's file lock (PostgreSQL locks rows)")
    """Another process holding the store's write lock past the busy timeout: the save says the
    store is busy, in one line (not that the audience is frozen)."""
    import sqlite3

    import workbench.store as store_module
    from workbench.errors import Busy

    draft = wb.audiences.create({"name": "Draft", "rules": []})
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 200)
    wb.store.dispose()  # new connections take the short timeout
    holder = sqlite3.connect(wb.home.store_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Busy, match="the metadata store is busy"):
            wb.audiences.update(draft.id, {"name": "Edited", "rules": []}, version=1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert wb.audiences.update(draft.id, {"name": "Edited", "rules": []}, version=1).version == 2


def test_a_missing_database_driver_is_one_plain_line(home):
    from workbench.errors import StoreError

    with pytest.raises(StoreError) as raised:
        open_store("postgresql+nosuchdriver://ana:s3cret@db.example/wb")
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message
    assert "metadata store" in message
