"""The synthetic customer base: determinism, the column contract and the realism promises."""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from workbench.customers.sample import write_sample

N = 2000
SEED = 7
SAMPLE_UNTIL = datetime.date(2026, 11, 28)  # pinned: the same (seed, until), the same data
KINDS = ("profiles", "transactions", "tags", "appended")
TAG_NAMES = {"purchase", "store_visit", "email_open", "campaign_participation", "app_login",
             "churned", "newsletter_signup"}

SCHEMAS = {
    "profiles": pa.schema([
        ("customer_id", pa.string()), ("first_name", pa.string()), ("last_name", pa.string()),
        ("email", pa.string()), ("gender", pa.string()), ("birth_date", pa.date32()),
        ("home_city", pa.string()), ("home_state", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]),
    "transactions": pa.schema([
        ("transaction_id", pa.string()), ("customer_id", pa.string()),
        ("occurred_at", pa.timestamp("us")), ("amount", pa.decimal128(18, 2)),
        ("store_id", pa.string()), ("channel", pa.string()),
    ]),
    "tags": pa.schema([
        ("customer_id", pa.string()), ("tag", pa.string()), ("occurred_at", pa.timestamp("us")),
    ]),
    "appended": pa.schema([
        ("customer_id", pa.string()), ("loyalty_tier", pa.string()),
        ("preferred_channel", pa.string()), ("marketing_opt_in", pa.bool_()),
        ("lifetime_points", pa.int64()),
    ]),
}

WINDOW_START = datetime.datetime.combine(SAMPLE_UNTIL - datetime.timedelta(days=729),
                                         datetime.time())
LAST_MOMENT = datetime.datetime.combine(SAMPLE_UNTIL, datetime.time(23, 59, 59))


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("sample"), N, seed=SEED, until=SAMPLE_UNTIL)


@pytest.fixture(scope="module")
def tables(paths):
    return {kind: pq.read_table(paths[kind]) for kind in KINDS}


@pytest.fixture(scope="module")
def frames(tables):
    return {kind: table.to_pandas() for kind, table in tables.items()}


def _cents(amount: pa.ChunkedArray) -> np.ndarray:
    return np.array([int(value * 100) for value in amount.to_pylist()], dtype=np.int64)


# --- API and determinism ---------------------------------------------------------------------


def test_returns_the_four_files(paths):
    assert set(paths) == set(KINDS)
    for kind, path in paths.items():
        assert path.name == f"{kind}.parquet"
        assert path.is_file()


def test_same_arguments_give_identical_data(paths, tables, tmp_path):
    again = write_sample(tmp_path, N, seed=SEED, until=SAMPLE_UNTIL)
    for kind in KINDS:
        assert pq.read_table(again[kind]).equals(tables[kind]), kind
        assert again[kind].read_bytes() == paths[kind].read_bytes(), kind


def test_other_seed_gives_other_data(tables, tmp_path):
    other = write_sample(tmp_path, N, seed=SEED + 1, until=SAMPLE_UNTIL)
    for kind in KINDS:
        assert not pq.read_table(other[kind]).equals(tables[kind]), kind


def test_rejects_an_empty_base(tmp_path):
    with pytest.raises(ValueError):
        write_sample(tmp_path, 0, seed=SEED, until=SAMPLE_UNTIL)


@pytest.mark.parametrize("customers", [1, 3])
def test_tiny_bases_work(tmp_path, customers):
    paths = write_sample(tmp_path, customers, seed=3, until=SAMPLE_UNTIL)
    profiles = pq.read_table(paths["profiles"])
    assert profiles["customer_id"].to_pylist()[:1] == ["C0000001"]
    for kind in KINDS:
        assert pq.read_table(paths[kind]).schema.remove_metadata() == SCHEMAS[kind]


# --- contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_exact(tables, kind):
    assert tables[kind].schema.remove_metadata() == SCHEMAS[kind]


def test_customer_ids_are_unique_and_zero_padded(frames):
    ids = frames["profiles"]["customer_id"]
    assert ids.is_unique and len(ids) == N
    assert ids.str.fullmatch(r"C\d{7}").all()
    assert ids.iloc[0] == "C0000001" and ids.iloc[-1] == f"C{N:07d}"


def test_transaction_ids_are_unique_and_in_time_order(frames):
    transactions = frames["transactions"]
    assert transactions["transaction_id"].is_unique
    assert transactions["transaction_id"].str.fullmatch(r"T\d{8}").all()
    assert transactions["occurred_at"].is_monotonic_increasing


def test_every_row_belongs_to_a_known_customer(frames):
    known = set(frames["profiles"]["customer_id"])
    for kind in ("transactions", "tags", "appended"):
        assert set(frames[kind]["customer_id"]) <= known, kind
    assert list(frames["appended"]["customer_id"]) == list(frames["profiles"]["customer_id"])


# --- time ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["transactions", "tags"])
def test_events_stay_inside_the_two_year_window(frames, kind):
    at = frames[kind]["occurred_at"]
    assert at.notna().all()
    assert at.min() >= WINDOW_START
    assert at.max() <= LAST_MOMENT


def test_no_sign_up_after_until(frames):
    created = frames["profiles"]["created_at"]
    assert created.max() <= LAST_MOMENT
    assert created.min() >= LAST_MOMENT - datetime.timedelta(days=5 * 366)


def test_transactions_do_not_precede_sign_up(frames):
    joined = frames["transactions"].merge(frames["profiles"][["customer_id", "created_at"]],
                                          on="customer_id")
    known = joined["created_at"].notna()
    assert known.mean() > 0.95
    assert (joined.loc[known, "occurred_at"] >= joined.loc[known, "created_at"]).all()


def test_until_moves_every_date(tmp_path):
    until = datetime.date(2024, 3, 1)
    paths = write_sample(tmp_path, 300, seed=1, until=until)
    last = datetime.datetime.combine(until, datetime.time(23, 59, 59))
    start = datetime.datetime.combine(until - datetime.timedelta(days=729), datetime.time())
    for kind in ("transactions", "tags"):
        at = pq.read_table(paths[kind])["occurred_at"].to_pandas()
        assert start <= at.min() and at.max() <= last, kind
    assert pq.read_table(paths["profiles"])["created_at"].to_pandas().max() <= last


# --- profiles --------------------------------------------------------------------------------


def test_genders_are_mostly_binary_with_some_unknown(frames):
    gender = frames["profiles"]["gender"]
    assert set(gender.dropna()) == {"female", "male", "nonbinary"}
    assert 0.02 < gender.isna().mean() < 0.09
    assert 0.005 < (gender == "nonbinary").mean() < 0.05


def test_ages_are_16_to_90_at_until_with_some_unknown(frames):
    birth = frames["profiles"]["birth_date"]
    assert 0.01 < birth.isna().mean() < 0.06
    ages = np.array([SAMPLE_UNTIL.year - b.year - ((SAMPLE_UNTIL.month, SAMPLE_UNTIL.day)
                                                   < (b.month, b.day))
                     for b in birth.dropna()])
    assert ages.min() >= 16 and ages.max() <= 90
    assert 0.55 < ((ages >= 25) & (ages <= 55)).mean() < 0.9
    assert (ages < 20).mean() < 0.05


def test_emails_are_unique_lower_case_names(frames):
    profiles = frames["profiles"]
    email = profiles["email"]
    assert email.is_unique
    assert email.str.fullmatch(r"[a-z]+\.[a-z]+\d+@[a-z]+\.[a-z]+").all()
    first = profiles["first_name"].str.lower().str.replace(r"[^a-z]", "", regex=True)
    assert (email.str.split(".").str[0] == first).all()


def test_cities_come_with_their_states(frames):
    profiles = frames["profiles"]
    assert (profiles["home_city"].isna() == profiles["home_state"].isna()).all()
    assert 0 < profiles["home_city"].isna().mean() < 0.05
    assert profiles["home_state"].dropna().str.fullmatch(r"[A-Z]{2}").all()
    assert profiles["home_city"].value_counts().index[0] == "New York"  # population weighted


# --- transactions ----------------------------------------------------------------------------


def test_purchase_counts_are_heavy_tailed_around_ten(frames):
    purchases = frames["transactions"].loc[lambda t: t["amount"] > 0]
    counts = purchases.groupby("customer_id").size().reindex(
        frames["profiles"]["customer_id"], fill_value=0)
    assert 7 < len(frames["transactions"]) / N < 13
    assert 0.12 < (counts == 0).mean() < 0.3
    assert 2 <= counts.median() <= 6
    assert counts.quantile(0.99) > 30


def test_amounts_are_heavy_tailed_cents(tables):
    amount = tables["transactions"]["amount"]
    assert pc.all(pc.equal(pc.round(amount, 2), amount)).as_py()
    cents = _cents(amount)
    positive = cents[cents > 0]
    assert 2500 < np.median(positive) < 4500
    assert positive.max() > 50_000  # some baskets over $500 even in a small base
    assert (cents != 0).all()


def test_refunds_reverse_part_of_an_earlier_purchase(frames, tables):
    transactions = frames["transactions"].assign(cents=_cents(tables["transactions"]["amount"]))
    refunds = transactions[transactions["cents"] < 0]
    assert 0.015 < len(refunds) / len(transactions) < 0.05
    pairs = refunds.reset_index().merge(transactions[transactions["cents"] > 0],
                                        on="customer_id", suffixes=("", "_bought"))
    matching = pairs[(pairs["occurred_at_bought"] <= pairs["occurred_at"])
                     & (pairs["cents_bought"] >= -pairs["cents"])]
    assert matching["index"].nunique() == len(refunds)


def test_store_ids_only_for_store_channel(frames):
    transactions = frames["transactions"]
    assert set(transactions["channel"]) == {"store", "online", "app"}
    in_store = transactions["channel"] == "store"
    assert (transactions["store_id"].notna() == in_store).all()
    numbers = transactions.loc[in_store, "store_id"].str.fullmatch(r"S\d{3}")
    assert numbers.all()
    assert transactions.loc[in_store, "store_id"].str[1:].astype(int).between(1, 120).all()


# --- appended and tags -----------------------------------------------------------------------


def test_appended_attributes(frames, tables):
    appended = frames["appended"]
    assert appended.columns.tolist() == ["customer_id", "loyalty_tier", "preferred_channel",
                                         "marketing_opt_in", "lifetime_points"]
    tiers = appended["loyalty_tier"].value_counts()
    assert set(tiers.index) == {"bronze", "silver", "gold", "platinum"}
    assert tiers["bronze"] > tiers["silver"] > tiers["gold"] > tiers["platinum"]
    assert appended["loyalty_tier"].isna().any()
    assert set(appended["preferred_channel"].dropna()) == {"email", "sms", "push", "mail"}
    assert appended["preferred_channel"].isna().any()
    assert 0.4 < appended["marketing_opt_in"].mean() < 0.8


def test_points_follow_spend(frames, tables):
    cents = _cents(tables["transactions"]["amount"])
    spend = (frames["transactions"].assign(dollars=np.maximum(cents, 0) / 100)
             .groupby("customer_id")["dollars"].sum())
    points = frames["appended"].set_index("customer_id")["lifetime_points"]
    spend = spend.reindex(points.index, fill_value=0.0)
    assert (points >= 0).all()
    assert np.corrcoef(spend, points)[0, 1] > 0.95
    big = spend > 500
    assert ((points[big] / spend[big]).between(7, 14)).all()


def test_tags_have_every_kind_and_no_duplicate_triples(frames):
    tags = frames["tags"]
    assert set(tags["tag"]) == TAG_NAMES
    assert not tags.duplicated(["customer_id", "tag", "occurred_at"]).any()
    assert 4 < len(tags) / N < 10


def test_churned_once_after_half_a_year_without_purchase(frames):
    tags = frames["tags"]
    churned = tags[tags["tag"] == "churned"]
    assert churned["customer_id"].is_unique
    purchases = frames["transactions"].loc[lambda t: t["amount"] > 0]
    last = purchases.groupby("customer_id")["occurred_at"].max()
    expected = last[last + pd.Timedelta(days=180) <= LAST_MOMENT]
    assert set(churned["customer_id"]) == set(expected.index)
    gap = churned.set_index("customer_id")["occurred_at"] - last[churned["customer_id"]]
    assert (gap == pd.Timedelta(days=180)).all()


def test_campaigns_come_in_bursts(frames):
    tags = frames["tags"]
    days = tags.loc[tags["tag"] == "campaign_participation", "occurred_at"].dt.normalize()
    per_day = days.value_counts()
    # A handful of campaigns, each answered within a week: few distinct days, busy ones.
    assert len(per_day) <= 6 * 7
    assert per_day.max() > 20
