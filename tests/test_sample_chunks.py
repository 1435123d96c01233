"""The synthetic base at scale: bigger bases are drawn in chunks of customers (flat memory), and
the sizes the tests, docs and demo use keep exactly the data they had before chunking existed.

Chunks are made small here (ONE_PIECE_CUSTOMERS and CHUNK_CUSTOMERS patched) so that a few
thousand customers are several chunks; 10M customers is a benchmark (benchmarks/bench_sample.py)."""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from workbench.customers import sample
from workbench.customers.sample import write_sample

UNTIL = datetime.date(2026, 11, 28)
KINDS = ("profiles", "transactions", "tags", "appended")
N, CHUNK = 3000, 1000


def _chunked(folder, customers=N, seed=7, chunk=CHUNK):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sample, "ONE_PIECE_CUSTOMERS", chunk)
        patch.setattr(sample, "CHUNK_CUSTOMERS", chunk)
        return write_sample(folder, customers, seed=seed, until=UNTIL)


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    return _chunked(tmp_path_factory.mktemp("chunked"))


@pytest.fixture(scope="module")
def tables(chunked):
    return {kind: pq.read_table(chunked[kind]) for kind in KINDS}


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The same size drawn in one piece, for the shape comparisons."""
    paths = write_sample(tmp_path_factory.mktemp("whole"), N, seed=7, until=UNTIL)
    return {kind: pq.read_table(paths[kind]) for kind in KINDS}


def test_up_to_a_chunk_the_data_are_those_from_before_chunking(tmp_path):
    """Pinned from the generator as it was before chunks (2026-12-06, seed 7, 2000 customers):
    the tests' and demo's numbers hold."""
    paths = write_sample(tmp_path, 2000, seed=7, until=UNTIL)
    t = {kind: pq.read_table(paths[kind]) for kind in KINDS}
    assert {kind: t[kind].num_rows for kind in KINDS} == {
        "profiles": 2000, "transactions": 21176, "tags": 15281, "appended": 2000}
    transactions = t["transactions"]
    assert transactions["transaction_id"][-1].as_py() == "T00021176"
    assert str(pc.sum(transactions["amount"])) == "1167755.56"
    assert transactions["customer_id"][100].as_py() == "C0001109"
    assert str(transactions["occurred_at"][0]) == "2024-11-29 01:58:32"
    tags = pc.value_counts(t["tags"]["tag"]).to_pylist()
    assert {row["values"]: row["counts"] for row in tags} == {
        "app_login": 2459, "campaign_participation": 802, "churned": 477, "email_open": 2202,
        "newsletter_signup": 206, "purchase": 5301, "store_visit": 3834}
    assert pc.sum(t["appended"]["lifetime_points"]).as_py() == 12286020
    assert t["profiles"]["email"][1999].as_py() == "betty.ward2000@gmail.com"


def test_a_chunked_base_is_deterministic(chunked, tmp_path):
    again = _chunked(tmp_path)
    for kind in KINDS:
        assert again[kind].read_bytes() == chunked[kind].read_bytes(), kind


def test_another_seed_gives_other_chunks(tables, tmp_path):
    other = _chunked(tmp_path, seed=8)
    assert not pq.read_table(other["transactions"]).equals(tables["transactions"])


def test_chunks_do_not_depend_on_how_many_follow(tables, tmp_path):
    """Chunk k's draws come from child k of the seed: a bigger base starts with the same
    customers (handy to compare sizes; and no chunk reads another's state)."""
    bigger = pq.read_table(_chunked(tmp_path, customers=N + CHUNK)["profiles"])
    assert bigger.slice(0, N).equals(tables["profiles"])


def test_schemas_are_those_of_one_piece(tables, whole):
    for kind in KINDS:
        assert tables[kind].schema.remove_metadata() == whole[kind].schema.remove_metadata()


def test_each_chunk_is_a_row_group_of_its_own_customers(chunked):
    """Customer ids are contiguous per chunk and unique across chunks, in every kind."""
    for kind in KINDS:
        parquet = pq.ParquetFile(chunked[kind])
        assert parquet.metadata.num_row_groups == N // CHUNK, kind
        for k in range(N // CHUNK):
            ids = parquet.read_row_group(k, columns=["customer_id"])["customer_id"]
            numbers = np.array([int(i[1:]) for i in ids.to_pylist()])
            assert numbers.min() >= k * CHUNK + 1 and numbers.max() <= (k + 1) * CHUNK, kind
            if kind in ("profiles", "appended"):
                assert numbers.tolist() == list(range(k * CHUNK + 1, (k + 1) * CHUNK + 1))


def test_transaction_ids_run_on_across_chunks_in_time_order_within_each(chunked, tables):
    ids = tables["transactions"]["transaction_id"].to_pylist()
    assert ids == [f"T{i:08d}" for i in range(1, len(ids) + 1)]  # unique, no gap between chunks
    parquet = pq.ParquetFile(chunked["transactions"])
    for k in range(parquet.metadata.num_row_groups):
        at = parquet.read_row_group(k, columns=["occurred_at"])["occurred_at"].to_numpy()
        assert (np.diff(at.astype(np.int64)) >= 0).all()


def test_ids_and_emails_are_unique_across_chunks(tables):
    profiles = tables["profiles"]
    assert pc.count_distinct(profiles["customer_id"]).as_py() == N
    assert pc.count_distinct(profiles["email"]).as_py() == N
    assert profiles["customer_id"].to_pylist() == [f"C{i:07d}" for i in range(1, N + 1)]
    number = [email.split("@")[0].lstrip("abcdefghijklmnopqrstuvwxyz.")
              for email in profiles["email"].to_pylist()]
    assert number == [str(i) for i in range(1, N + 1)]


def test_tags_sorted_by_customer_without_duplicate_triples(tables):
    tags = tables["tags"].to_pandas()
    assert not tags.duplicated(["customer_id", "tag", "occurred_at"]).any()
    assert tags["customer_id"].is_monotonic_increasing
    known = set(tables["profiles"]["customer_id"].to_pylist())
    for kind in ("transactions", "tags", "appended"):
        assert set(tables[kind]["customer_id"].to_pylist()) <= known, kind


def _shape(t: dict[str, pa.Table]) -> dict[str, float]:
    transactions = t["transactions"].to_pandas()
    cents = transactions["amount"].astype(float) * 100
    bought = transactions[cents > 0].groupby("customer_id").size()
    tags = t["tags"]["tag"].to_pandas()
    tiers = t["appended"]["loyalty_tier"].to_pandas()
    return {
        "transactions per customer": len(transactions) / N,
        "refund share": (cents < 0).mean(),
        "never bought": 1 - len(bought) / N,
        "median basket $": np.median(cents[cents > 0]) / 100,
        "store share": (transactions["channel"] == "store").mean(),
        "tags per customer": len(tags) / N,
        "churned share": (tags == "churned").sum() / N,
        "bronze share": (tiers == "bronze").mean(),
        "opt-in share": t["appended"]["marketing_opt_in"].to_pandas().mean(),
    }


def test_a_chunked_base_has_the_shape_of_one_piece(tables, whole):
    """The same model per chunk: the base's statistics match one drawn in one piece, within
    what 3000 customers vary by (each figure within 15% of the other)."""
    ours, theirs = _shape(tables), _shape(whole)
    for name, value in theirs.items():
        assert ours[name] == pytest.approx(value, rel=0.15), name


@pytest.mark.parametrize("first, count, width", [(0, 1, 7), (0, 999, 7), (12_345_000, 500, 8)])
def test_ids_gathered_in_numpy_equal_arrows_take(first, count, width):
    """The fast gather of fixed-width ids gives exactly what Arrow's take gives."""
    ids = sample._ids("C", first, count, width)
    index = np.random.default_rng(1).integers(0, count, 5000)
    assert sample._take_ids(ids, index).equals(ids.take(pa.array(index)))
    assert sample._take_ids(ids.slice(1), index[index < count - 1]).equals(
        ids.slice(1).take(pa.array(index[index < count - 1])))


def test_a_sample_too_big_for_the_limit_or_the_disk_is_refused_before_it_starts(wb, monkeypatch):
    import shutil
    from collections import namedtuple

    from workbench.customers.sample import MAX_CUSTOMERS
    from workbench.errors import InvalidInput

    with pytest.raises(InvalidInput, match="at most 100,000,000 customers"):
        wb.customers.sample(MAX_CUSTOMERS + 1)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: usage(10**9, 10**9 - 10**8, 10**8))
    with pytest.raises(InvalidInput, match=r"needs about 3\.0 GB free in .*, which has 0\.1 GB"):
        wb.customers.sample(5_000_000)
    assert not any((wb.home.customers_dir).glob("*/*.parquet"))  # nothing was ingested
