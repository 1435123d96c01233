"""A deterministic synthetic customer base: profiles, transactions, tags and appended attributes.

``write_sample(out_dir, customers, seed, until)`` writes four Parquet files with the column
contract of ``schema.KINDS``. Every draw comes from one ``numpy.random.default_rng(seed)`` in a
fixed order, so the same (customers, seed, until) always gives the same rows in the same order.

The model, in the order it is drawn:

* Profiles. Gender (female/male, a few percent nonbinary, ~5% unknown) picks the first-name list;
  names have Zipf-like popularity. Ages at ``until`` are a 25-55-heavy mixture with a tail to 90.
  Home cities are drawn by population. Sign-ups spread over five years with growth (recent years
  busier), but only ~0.5% fall in the last 30 days. A few fields are null, as in real CRM data.
* Behaviour (never written, drives everything else). Each customer has a gamma purchase
  propensity (mixed with Poisson counts this is a negative binomial: ~20% never buy, the top 1%
  buy dozens of times), an active period inside the two-year window (from sign-up, ending at
  ``until`` or, for ~30% who lapse, on a random earlier day), a Dirichlet channel mix, a home
  store in their city, a spend level and a marketing opt-in.
* Transactions: ~10 per customer over the two years ending at ``until``, at channel-specific
  hours, lognormal amounts (median ~$35); ~3% of rows refund all or part of an earlier purchase.
* Appended: loyalty tier by blurred spend rank, preferred contact channel (push for app users),
  opt-in, and lifetime points of ~10 per dollar spent.
* Tags: events derived from the above: purchase and store_visit from transactions, email_open for
  opted-in customers, app_login for app users, campaign_participation bursts on fixed dates,
  newsletter_signup shortly after sign-up, churned 180 days after a customer's last purchase.

Everything is vectorized: per-customer parameters are arrays of length ``customers`` and event rows
are made with ``np.repeat`` of customer indices. Until they become Arrow arrays, timestamps are
int64 microseconds since the epoch (naive, whole seconds) and amounts are int64 cents.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .sample_names import CITIES, EMAIL_DOMAINS, FEMALE_FIRST_NAMES, LAST_NAMES, MALE_FIRST_NAMES

EPOCH = datetime.date(1970, 1, 1)
# Customers are born up to 90 years before ``until``; ingest refuses birth dates before 1900.
EARLIEST_UNTIL = datetime.date(1991, 1, 1)
SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US

WINDOW_DAYS = 730  # transactions and tags fall on days in (until - 730 days, until]
SIGNUP_DAYS = 5 * 365
RECENT_SIGNUP_DAYS, RECENT_SIGNUP_SHARE = 30, 0.005
TRANSACTIONS_PER_CUSTOMER = 10.0
PROPENSITY_SHAPE = 0.7  # gamma shape: smaller means more non-buyers and a heavier top tail
LAPSE_SHARE = 0.3
REFUND_RATE = 0.031  # refunds per purchase, i.e. ~3% of all transaction rows
CHURN_DAYS = 180
# Timestamps inside the window, in whole seconds from its start, fit in this many bits
# (730 days < 2**26 s); sort keys pack them with row, customer and tag numbers into one int64.
SECOND_BITS = 26
TAG_BITS = 3
N_STORES = 120
HOME_STORE_SHARE = 0.8
ROW_GROUP_SIZE = 1_000_000
# Bases up to ONE_PIECE_CUSTOMERS are drawn in one piece (the same data as ever: ~1.5 GB at 1M);
# bigger ones in chunks of CHUNK_CUSTOMERS, CHUNKS_AT_ONCE at a time (~0.9 GB each while drawn).
ONE_PIECE_CUSTOMERS = 1_000_000
CHUNK_CUSTOMERS = 500_000
# The largest sample asked for: 10x what was measured (10M in about 3 minutes); beyond it a
# typo (one zero too many) would run for hours before the disk filled.
MAX_CUSTOMERS = 100_000_000
# Disk a sample needs per customer while it runs: its generated files and the versions ingest
# writes from them (about 180 bytes each at 10M), with room to spare for DuckDB's spilling.
BYTES_PER_CUSTOMER = 600
CHUNKS_AT_ONCE = 2
KIND_ORDER = ("profiles", "transactions", "appended", "tags")  # the order a chunk draws them in
DICTIONARY_COLUMNS = {"first_name", "last_name", "gender", "home_city", "home_state", "store_id",
                      "channel", "tag", "loyalty_tier", "preferred_channel"}

GENDERS = ("female", "male", "nonbinary")
GENDER_WEIGHTS = (0.485, 0.445, 0.02, 0.05)  # the last one is unknown (null)
CHANNELS = ("store", "online", "app")
CHANNEL_ALPHA = (1.1, 0.6, 0.3)  # Dirichlet: on average 55/30/15%, individual mixes vary widely
TIERS = ("bronze", "silver", "gold", "platinum")
TIER_QUANTILES = (0.60, 0.85, 0.96)  # spend-score cut points between consecutive tiers
CONTACTS = ("email", "sms", "push", "mail")
CONTACT_WEIGHTS = (0.50, 0.22, 0.06, 0.07, 0.15)  # the last one is unknown (null)
APP_USER_CONTACT_WEIGHTS = (0.36, 0.20, 0.28, 0.02, 0.14)
STORE_IDS = tuple(f"S{i:03d}" for i in range(1, N_STORES + 1))
TAGS = ("purchase", "store_visit", "email_open", "campaign_participation", "app_login", "churned",
        "newsletter_signup")
CAMPAIGN_DAYS_BEFORE_UNTIL = (680, 540, 365, 250, 120, 30)

# Relative likelihood of each hour of the day (0..23) for in-store and for online/app activity.
STORE_HOURS = (0, 0, 0, 0, 0, 0, 0, 0, .5, 2, 4, 6, 8, 7, 6, 6, 7, 8, 8, 6, 4, 2, .5, 0)
DIGITAL_HOURS = (1.5, .8, .5, .3, .3, .5, 1, 2, 3, 4, 4.5, 5, 6, 5.5, 5, 5, 5, 5.5, 6, 7, 8, 8,
                 6, 3.5)


def write_sample(out_dir: Path, customers: int, seed: int, until: datetime.date
                 ) -> dict[str, Path]:
    """Write profiles, transactions, tags and appended Parquet files into ``out_dir``, with
    events up to ``until`` (its last day: the caller decides, this module reads no clock).

    Returns {"profiles": path, "transactions": path, "tags": path, "appended": path}. The same
    (customers, seed, until) gives byte-identical data.

    Up to ONE_PIECE_CUSTOMERS customers are one chunk drawn from ``default_rng(seed)`` (the data
    the tests, docs and demo know). A bigger base is drawn in chunks of CHUNK_CUSTOMERS consecutive
    customers, chunk k from the k-th child of ``SeedSequence(seed)``: memory stays that of one or
    two chunks whatever the size, and two chunks are drawn at once (numpy and Arrow release the
    GIL for the bulk of the work), each appended to the files as row groups, in chunk order.
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, not {customers}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = _Clock((until - EPOCH).days)
    id_width = max(7, len(str(customers)))
    paths = {kind: out_dir / f"{kind}.parquet" for kind in KIND_ORDER}
    with _Files(paths) as files, _small_pages():
        if customers <= ONE_PIECE_CUSTOMERS:
            _write_one_chunk(files, np.random.default_rng(seed), customers, clock, id_width)
        else:
            _write_chunks(files, seed, customers, clock, id_width)
    # Arrow's allocator keeps freed memory for reuse; what follows (an ingest) needs it more.
    pa.default_memory_pool().release_unused()
    return {kind: paths[kind] for kind in ("profiles", "transactions", "tags", "appended")}


def _write_one_chunk(files: _Files, rng: np.random.Generator, customers: int, clock: _Clock,
                     id_width: int) -> None:
    """Parquet encoding releases the GIL, so one background thread writes each table while the
    next is simulated; the draws stay in one thread and order, so the data stay deterministic."""
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = []
        for kind, table in _simulate_chunk(rng, 0, customers, clock, id_width):
            if kind == "transactions":  # numbered here, in time order, as wide as they need
                table = _numbered(table, 0, max(8, len(str(table.num_rows))))
            pending.append(writer.submit(files.write, kind, table))
            del table
        for done in pending:
            done.result()


def _write_chunks(files: _Files, seed: int, customers: int, clock: _Clock,
                  id_width: int) -> None:
    """Chunks drawn two at a time in threads, written in chunk order by this thread.
    Transactions are numbered when written (a chunk does not know how many came before it),
    in time order within each chunk, with room for twice the expected number of rows."""
    firsts = range(0, customers, CHUNK_CUSTOMERS)
    seeds = np.random.SeedSequence(seed).spawn(len(firsts))
    tx_width = max(8, len(str(int(2 * TRANSACTIONS_PER_CUSTOMER * customers))))
    numbered = 0

    def simulate(k: int) -> dict[str, pa.Table]:
        n = min(CHUNK_CUSTOMERS, customers - firsts[k])
        return dict(_simulate_chunk(np.random.default_rng(seeds[k]), firsts[k], n, clock,
                                    id_width))

    with ThreadPoolExecutor(max_workers=CHUNKS_AT_ONCE) as pool:
        drawing = [pool.submit(simulate, k) for k in range(min(CHUNKS_AT_ONCE, len(firsts)))]
        for k in range(len(firsts)):
            tables = drawing[k].result()
            drawing[k] = None  # its tables go as soon as they are written
            if k + CHUNKS_AT_ONCE < len(firsts):
                drawing.append(pool.submit(simulate, k + CHUNKS_AT_ONCE))
            tables["transactions"] = _numbered(tables["transactions"], numbered, tx_width)
            numbered += tables["transactions"].num_rows
            for kind in KIND_ORDER:
                files.write(kind, tables.pop(kind))


@contextmanager
def _small_pages() -> Iterator[None]:
    """Without numpy's madvise(MADV_HUGEPAGE) on big arrays while drawing. The draws allocate
    and free many arrays of 10M elements; where the kernel compacts memory for huge pages on a
    fault (transparent_hugepage/defrag = madvise, as on the benchmark machine) that took a third
    of the time in the kernel: 2M customers 20.3 s -> 15.9 s wall, 15.3 s -> 8.1 s system time.
    The previous setting comes back afterwards (numpy's own switch, process wide)."""
    switch = getattr(getattr(np, "_core", None), "multiarray", None)
    switch = getattr(switch, "_set_madvise_hugepage", None)
    if switch is None:  # another numpy: leave it be
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)


class _Files:
    """One Parquet writer per kind, opened with the first table written to it; each table is
    appended as row groups. Closed (footers written) when the ``with`` block ends."""

    def __init__(self, paths: dict[str, Path]):
        self._paths = paths
        self._writers: dict[str, pq.ParquetWriter] = {}

    def __enter__(self) -> _Files:
        return self

    def __exit__(self, *exc) -> None:
        for writer in self._writers.values():
            writer.close()

    def write(self, kind: str, table: pa.Table) -> None:
        writer = self._writers.get(kind)
        if writer is None:
            # Dictionary-encode only the low-cardinality columns: trying it on ids and
            # timestamps costs time and, with zstd, even makes the files bigger.
            low_cardinality = [name for name in table.column_names if name in DICTIONARY_COLUMNS]
            writer = self._writers[kind] = pq.ParquetWriter(
                self._paths[kind], table.schema, compression="zstd",
                use_dictionary=low_cardinality, store_decimal_as_integer=True)
        writer.write_table(table, row_group_size=ROW_GROUP_SIZE)


def _simulate_chunk(rng: np.random.Generator, first: int, n: int, clock: _Clock,
                    id_width: int) -> Iterator[tuple[str, pa.Table]]:
    """Customers ``first + 1 .. first + n``: their tables in KIND_ORDER, each as soon as it is
    drawn (the draws are in this fixed order). Transactions come without their ids."""
    profiles, people = _simulate_profiles(rng, first, n, clock, id_width)
    yield "profiles", profiles
    del profiles
    purchases = _simulate_purchases(rng, people)
    refunds = _simulate_refunds(rng, purchases, clock)
    yield "transactions", _transactions_table(people.ids, purchases, refunds, clock)
    del refunds
    yield "appended", _appended_table(rng, people, purchases)
    yield "tags", _tags_table(rng, people, purchases, clock)


@dataclass(frozen=True)
class _Clock:
    until_day: int  # days since the epoch

    @property
    def window_start_day(self) -> int:
        return self.until_day - WINDOW_DAYS + 1

    @property
    def window_start_us(self) -> int:
        return self.window_start_day * DAY_US

    @property
    def last_us(self) -> int:
        """``until`` 23:59:59, the latest timestamp anything may have."""
        return (self.until_day + 1) * DAY_US - SECOND_US


@dataclass
class _People:
    """Per-customer arrays (index i is customer number i + 1)."""

    ids: pa.Array
    created_us: np.ndarray  # sign-up time; known here even where the profile shows null
    start_day: np.ndarray  # first day the customer can act inside the window
    end_day: np.ndarray  # last active day: until, or earlier for customers who lapse
    propensity: np.ndarray  # mean-1 purchase intensity
    channel_mix: np.ndarray  # (n, 3) probabilities of store, online, app
    home_store: np.ndarray
    spend_level: np.ndarray  # log-scale shift of this customer's basket sizes
    opt_in: np.ndarray


@dataclass
class _Events:
    """Transaction rows: customer index, time, cents, channel code and store code (-1 = none)."""

    cust: np.ndarray
    at: np.ndarray
    cents: np.ndarray
    channel: np.ndarray
    store: np.ndarray


# ---------------------------------------------------------------------------------------------
# Profiles and behaviour


def _simulate_profiles(rng: np.random.Generator, first: int, n: int, clock: _Clock,
                       id_width: int) -> tuple[pa.Table, _People]:
    ids = _ids("C", first, n, id_width)
    gender = _choose(rng, n, GENDER_WEIGHTS)
    first_name, last_name, email = _names(rng, first, gender)
    birth_day = _birth_days(rng, n, clock)
    city = _choose(rng, n, [population for _, _, population in CITIES])
    city[rng.random(n) < 0.02] = -1
    created_us = _signups(rng, clock, birth_day)
    table = pa.table({
        "customer_id": ids,
        "first_name": first_name,
        "last_name": last_name,
        "email": email,
        "gender": _labels(GENDERS, np.where(gender < len(GENDERS), gender, -1)),
        "birth_date": pa.array(birth_day.astype("datetime64[D]"), mask=rng.random(n) < 0.03),
        "home_city": _labels([name for name, _, _ in CITIES], city),
        "home_state": _labels([state for _, state, _ in CITIES], city),
        "created_at": _timestamps(created_us, null=rng.random(n) < 0.01),
    })
    return table, _simulate_behaviour(rng, ids, created_us, city, clock)


def _names(rng: np.random.Generator, first: int,
           gender: np.ndarray) -> tuple[pa.Array, pa.Array, pa.Array]:
    """First and last names and unique emails ``first.last<customer number>@domain`` (the
    customers are numbers ``first + 1 ..``)."""
    n = gender.size
    female = _choose(rng, n, _zipf(len(FEMALE_FIRST_NAMES)))
    male = _choose(rng, n, _zipf(len(MALE_FIRST_NAMES))) + len(FEMALE_FIRST_NAMES)
    # Nonbinary and unknown-gender customers get a name from either list.
    use_female = (gender == 0) | ((gender >= 2) & (rng.random(n) < 0.5))
    first_idx = pa.array(np.where(use_female, female, male))
    last_idx = pa.array(_choose(rng, n, _zipf(len(LAST_NAMES))))
    domain_idx = pa.array(_choose(rng, n, [share for _, share in EMAIL_DOMAINS]))

    first_names = FEMALE_FIRST_NAMES + MALE_FIRST_NAMES
    email = pc.binary_join_element_wise(
        pa.array([_email_word(name) for name in first_names]).take(first_idx), ".",
        pa.array([_email_word(name) for name in LAST_NAMES]).take(last_idx),
        pc.cast(pa.array(np.arange(first + 1, first + n + 1)), pa.string()), "@",
        pa.array([domain for domain, _ in EMAIL_DOMAINS]).take(domain_idx), "")
    return pa.array(first_names).take(first_idx), pa.array(LAST_NAMES).take(last_idx), email


def _email_word(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())  # O'Brien -> obrien


def _birth_days(rng: np.random.Generator, n: int, clock: _Clock) -> np.ndarray:
    """Birth dates (days since epoch): ages 16-90 at ``until``, mostly 25-55, few teens."""
    age = np.where(rng.random(n) < 0.8, rng.normal(40, 11, n), rng.normal(63, 12, n))
    # Redraw out-of-range ages uniformly. Keeping them a little inside [16, 91) years makes the
    # completed age at `until` land in [16, 90] whatever the leap days.
    bad = (age < 16.05) | (age > 90.95)
    age[bad] = rng.uniform(16.05, 90.95, int(bad.sum()))
    return clock.until_day - np.floor(age * 365.2425).astype(np.int64)


def _signups(rng: np.random.Generator, clock: _Clock, birth_day: np.ndarray) -> np.ndarray:
    """Sign-up times: growing over five years, ~0.5% in the last 30 days, never before age 16."""
    n = birth_day.size
    # Beta(1, 1.6) puts most mass near 0 days ago: the business grew, recent years are busier.
    days_ago = RECENT_SIGNUP_DAYS + np.floor(
        rng.beta(1.0, 1.6, n) * (SIGNUP_DAYS - RECENT_SIGNUP_DAYS)).astype(np.int64)
    recent = rng.random(n) < RECENT_SIGNUP_SHARE
    days_ago[recent] = rng.integers(0, RECENT_SIGNUP_DAYS, int(recent.sum()))
    day = np.maximum(clock.until_day - days_ago, birth_day + 16 * 366)
    return day * DAY_US + _time_of_day_us(rng, n, DIGITAL_HOURS)


def _simulate_behaviour(rng: np.random.Generator, ids: pa.Array, created_us: np.ndarray,
                        city: np.ndarray, clock: _Clock) -> _People:
    n = created_us.size
    start_day = np.maximum(created_us // DAY_US, clock.window_start_day)
    lapsed = rng.random(n) < LAPSE_SHARE
    lapse_day = start_day + _uniform_int(rng, clock.until_day - start_day + 1)
    return _People(
        ids=ids,
        created_us=created_us,
        start_day=start_day,
        end_day=np.where(lapsed, lapse_day, clock.until_day),
        propensity=rng.gamma(PROPENSITY_SHAPE, 1 / PROPENSITY_SHAPE, n),
        channel_mix=rng.dirichlet(CHANNEL_ALPHA, n),
        home_store=_home_stores(rng, city),
        spend_level=rng.normal(0.0, 0.5, n),
        opt_in=rng.random(n) < 0.62,
    )


def _home_stores(rng: np.random.Generator, city: np.ndarray) -> np.ndarray:
    """A store in the customer's city (store s stands in city s mod len(CITIES))."""
    stores_in_city = (N_STORES - 1 - np.arange(len(CITIES))) // len(CITIES) + 1
    known = city >= 0
    nth = _uniform_int(rng, stores_in_city[np.where(known, city, 0)])
    return np.where(known, city + nth * len(CITIES), rng.integers(0, N_STORES, city.size))


# ---------------------------------------------------------------------------------------------
# Transactions


def _simulate_purchases(rng: np.random.Generator, people: _People) -> _Events:
    """Positive transactions, grouped by customer (ascending), in random order within one."""
    active_days = people.end_day - people.start_day + 1
    # Scaled so the expected count averages TRANSACTIONS_PER_CUSTOMER (propensity has mean 1).
    expected = TRANSACTIONS_PER_CUSTOMER * people.propensity * active_days / active_days.mean()
    cust, day = _event_days(rng, rng.poisson(expected), people.start_day, people.end_day)
    mix = np.cumsum(people.channel_mix, axis=1)
    u = rng.random(cust.size)
    channel = (u >= mix[:, 0][cust]).astype(np.int8) + (u >= mix[:, 1][cust])
    in_store = channel == 0

    time_of_day = np.empty(cust.size, np.int64)
    time_of_day[in_store] = _time_of_day_us(rng, int(in_store.sum()), STORE_HOURS)
    time_of_day[~in_store] = _time_of_day_us(rng, int((~in_store).sum()), DIGITAL_HOURS)
    at = _not_before(rng, day * DAY_US + time_of_day, people.created_us[cust])

    store = np.full(cust.size, -1, np.int16)
    shop = np.flatnonzero(in_store)
    elsewhere = rng.random(shop.size) >= HOME_STORE_SHARE
    store[shop] = np.where(elsewhere, rng.integers(0, N_STORES, shop.size),
                           people.home_store[cust[shop]])
    cents = _amount_cents(rng, people.spend_level[cust])
    return _Events(cust, at, cents, channel, store)


def _amount_cents(rng: np.random.Generator, spend_level: np.ndarray) -> np.ndarray:
    """Lognormal basket sizes, median $35 overall; the customer's level shifts them."""
    dollars = np.exp(np.log(35.0) + spend_level + rng.normal(0.0, 0.85, spend_level.size))
    return np.maximum(np.rint(dollars * 100), 99).astype(np.int64)  # nothing sells below $0.99


def _simulate_refunds(rng: np.random.Generator, purchases: _Events, clock: _Clock) -> _Events:
    """Refunds of whole (70%) or part of earlier purchases, usually a few days later."""
    picked = np.flatnonzero(rng.random(purchases.cust.size) < REFUND_RATE)
    original = purchases.cents[picked]
    share = np.where(rng.random(picked.size) < 0.7, 1.0, rng.uniform(0.1, 0.9, picked.size))
    cents = -np.clip(np.rint(original * share).astype(np.int64), 1, original)
    # Whole days later at the purchase's time of day, which suits the channel's opening hours.
    # Capping the delay at `until` keeps a refund on or after its purchase, never after `until`.
    bought = purchases.at[picked]
    delay_days = np.minimum(rng.geometric(0.2, picked.size), clock.until_day - bought // DAY_US)
    at = bought + delay_days * DAY_US
    return _Events(purchases.cust[picked], at, cents, purchases.channel[picked],
                   purchases.store[picked])


def _transactions_table(ids: pa.Array, purchases: _Events, refunds: _Events,
                        clock: _Clock) -> pa.Table:
    """All transactions in time order (as a till log is), still without their ids."""
    at = np.concatenate([purchases.at, refunds.at])
    # A stable argsort by time, done as a plain sort of (seconds, row) packed into one int64,
    # which is twice as fast. Stable: a refund at its purchase's very second comes after it.
    row_bits = max(1, int(at.size).bit_length())
    key = (_window_seconds(at, clock) << row_bits) | np.arange(at.size)
    order = np.sort(key) & ((1 << row_bits) - 1)
    at = at[order]

    def column(field: str) -> np.ndarray:
        return np.concatenate([getattr(purchases, field), getattr(refunds, field)])[order]

    return pa.table({
        "customer_id": _take_ids(ids, column("cust")),
        "occurred_at": _timestamps(at),
        "amount": _decimals(column("cents")),
        "store_id": _labels(STORE_IDS, column("store")),
        "channel": _labels(CHANNELS, column("channel")),
    })


# ---------------------------------------------------------------------------------------------
# Appended attributes


def _appended_table(rng: np.random.Generator, people: _People, purchases: _Events) -> pa.Table:
    n = people.created_us.size
    spend = np.bincount(purchases.cust, weights=purchases.cents, minlength=n) / 100.0
    # Points: ~10 per dollar, plus noise and a few hundred from sign-up bonuses and promotions.
    points = np.rint(10 * spend * rng.lognormal(0.0, 0.1, n)).astype(np.int64)
    points += rng.integers(0, 300, n)
    app_user = people.channel_mix[:, 2] > 0.25
    contact = np.where(app_user, _choose(rng, n, APP_USER_CONTACT_WEIGHTS),
                       _choose(rng, n, CONTACT_WEIGHTS))
    return pa.table({
        "customer_id": people.ids,
        "loyalty_tier": _labels(TIERS, _loyalty_tiers(rng, spend)),
        "preferred_channel": _labels(CONTACTS, np.where(contact < len(CONTACTS), contact, -1)),
        "marketing_opt_in": pa.array(people.opt_in),
        "lifetime_points": pa.array(points),
    })


def _loyalty_tiers(rng: np.random.Generator, spend: np.ndarray) -> np.ndarray:
    """Tier codes from spend rank, blurred because tiers also reflect history before the window;
    ~8% unknown (-1): not enrolled, or not matched by the data vendor."""
    score = np.log1p(spend) + rng.normal(0.0, 0.6, spend.size)
    tier = np.searchsorted(np.quantile(score, TIER_QUANTILES), score, side="right")
    tier[rng.random(spend.size) < 0.08] = -1
    return tier


# ---------------------------------------------------------------------------------------------
# Tags


def _tags_table(rng: np.random.Generator, people: _People, purchases: _Events,
                clock: _Clock) -> pa.Table:
    """All tag events, sorted by customer, time and tag, without duplicate triples."""
    # Listed in drawing order, which is part of the determinism contract.
    events = {
        "purchase": _purchase_tags(rng, purchases),
        "store_visit": _store_visit_tags(rng, people, purchases, clock),
        "email_open": _email_open_tags(rng, people, clock),
        "campaign_participation": _campaign_tags(rng, people, clock),
        "app_login": _app_login_tags(rng, people),
        "churned": _churn_tags(people, purchases, clock),
        "newsletter_signup": _newsletter_tags(rng, people, clock),
    }
    # Pack (customer, seconds, tag) into one int64: sorting it sorts by all three, and equal
    # neighbours are duplicate triples. Much faster than a three-key lexsort.
    keys = _sorted_distinct(np.concatenate([
        (cust.astype(np.int64) << (SECOND_BITS + TAG_BITS))
        | (_window_seconds(at, clock) << TAG_BITS) | TAGS.index(name)
        for name, (cust, at) in events.items()]))
    seconds = (keys >> TAG_BITS) & ((1 << SECOND_BITS) - 1)
    return pa.table({
        "customer_id": _take_ids(people.ids, keys >> (SECOND_BITS + TAG_BITS)),
        "tag": _labels(TAGS, keys & ((1 << TAG_BITS) - 1)),
        "occurred_at": _timestamps(clock.window_start_us + seconds * SECOND_US),
    })


def _purchase_tags(rng: np.random.Generator, purchases: _Events) -> tuple[np.ndarray, np.ndarray]:
    """Purchases the customer was identified at: logged in online, or scanned a loyalty card."""
    identified = np.where(purchases.channel == 0, 0.15, 0.4)
    picked = np.flatnonzero(rng.random(purchases.cust.size) < identified)
    return purchases.cust[picked], purchases.at[picked]


def _store_visit_tags(rng: np.random.Generator, people: _People, purchases: _Events,
                      clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """Visits seen by in-store Wi-Fi: they start a few minutes before a store purchase."""
    picked = np.flatnonzero((purchases.channel == 0) & (rng.random(purchases.cust.size) < 0.35))
    cust = purchases.cust[picked]
    at = purchases.at[picked] - rng.integers(3, 60, picked.size) * 60 * SECOND_US
    return cust, np.maximum(at, np.maximum(people.created_us[cust], clock.window_start_us))


def _email_open_tags(rng: np.random.Generator, people: _People,
                     clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """Opted-in customers open emails at their own (heavy-tailed) rate until ``until``."""
    days = clock.until_day - people.start_day + 1
    engagement = rng.gamma(0.7, 1 / 0.7, days.size) * people.opt_in
    counts = rng.poisson(1.8 * engagement * days / days.mean())
    end_day = np.full(days.size, clock.until_day)
    cust, day = _event_days(rng, counts, people.start_day, end_day)
    at = day * DAY_US + _time_of_day_us(rng, cust.size, DIGITAL_HOURS)
    return cust, _not_before(rng, at, people.created_us[cust])


def _campaign_tags(rng: np.random.Generator, people: _People,
                   clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """Bursts: each campaign reaches customers signed up before it, most responding at once."""
    n = people.created_us.size
    custs, ats = [], []
    for days_before in CAMPAIGN_DAYS_BEFORE_UNTIL:
        launch_day = clock.until_day - days_before
        response = np.where(people.opt_in, 0.12, 0.03)
        who = np.flatnonzero((people.created_us < launch_day * DAY_US)
                             & (rng.random(n) < response))
        lag_days = np.minimum(rng.geometric(0.55, who.size) - 1, 6)
        at = (launch_day + lag_days) * DAY_US + _time_of_day_us(rng, who.size, DIGITAL_HOURS)
        custs.append(who.astype(np.int32))
        ats.append(np.minimum(at, clock.last_us))
    return np.concatenate(custs), np.concatenate(ats)


def _app_login_tags(rng: np.random.Generator, people: _People) -> tuple[np.ndarray, np.ndarray]:
    """App logins while active, in proportion to app use and purchase propensity."""
    days = people.end_day - people.start_day + 1
    app_share = people.channel_mix[:, 2]
    counts = rng.poisson(8.0 * app_share * people.propensity * days / days.mean())
    cust, day = _event_days(rng, counts, people.start_day, people.end_day)
    at = day * DAY_US + _time_of_day_us(rng, cust.size, DIGITAL_HOURS)
    return cust, _not_before(rng, at, people.created_us[cust])


def _churn_tags(people: _People, purchases: _Events,
                clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """One event CHURN_DAYS after the last purchase, for buyers quiet that long by ``until``."""
    last = _last_purchase_us(purchases, people.created_us.size)
    churned_at = last + CHURN_DAYS * DAY_US
    who = np.flatnonzero((last >= 0) & (churned_at <= clock.last_us))
    return who.astype(np.int32), churned_at[who]


def _newsletter_tags(rng: np.random.Generator, people: _People,
                     clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """Some opted-in customers subscribe within days of signing up (if that is in the window)."""
    n = people.created_us.size
    delay_s = rng.exponential(2 * 86_400, n).astype(np.int64)
    at = people.created_us + delay_s * SECOND_US
    who = np.flatnonzero(people.opt_in & (rng.random(n) < 0.3)
                         & (at >= clock.window_start_us) & (at <= clock.last_us))
    return who.astype(np.int32), at[who]


def _last_purchase_us(purchases: _Events, n: int) -> np.ndarray:
    """Latest purchase time per customer, -1 if none (purchase rows are grouped by customer)."""
    counts = np.bincount(purchases.cust, minlength=n)
    last = np.full(n, -1, np.int64)
    buyers = counts > 0
    if buyers.any():
        starts = (np.cumsum(counts) - counts)[buyers]
        last[buyers] = np.maximum.reduceat(purchases.at, starts)
    return last


# ---------------------------------------------------------------------------------------------
# Drawing helpers


def _choose(rng: np.random.Generator, size: int, weights) -> np.ndarray:
    """Codes 0..len(weights)-1 drawn with probability proportional to ``weights``."""
    p = np.asarray(weights, dtype=np.float64)
    return rng.choice(p.size, size=size, p=p / p.sum())


def _zipf(k: int) -> np.ndarray:
    """Popularity weights for a list ordered from most to least common."""
    return 1.0 / (np.arange(k) + 8.0)


def _uniform_int(rng: np.random.Generator, upper: np.ndarray) -> np.ndarray:
    """One integer in [0, upper[i]) per element."""
    return np.floor(rng.random(upper.size) * upper).astype(np.int64)


def _event_days(rng: np.random.Generator, counts: np.ndarray, start_day: np.ndarray,
                end_day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``counts[i]`` events for customer i on uniform days in [start_day[i], end_day[i]]."""
    cust = np.repeat(np.arange(counts.size, dtype=np.int32), counts)
    return cust, start_day[cust] + _uniform_int(rng, (end_day - start_day + 1)[cust])


def _time_of_day_us(rng: np.random.Generator, size: int, hour_weights) -> np.ndarray:
    seconds = _choose(rng, size, hour_weights) * 3600 + rng.integers(0, 3600, size)
    return seconds * SECOND_US


def _not_before(rng: np.random.Generator, at: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Move events earlier than ``floor`` (the sign-up, on the same day) to a random second
    between it and the end of that day, rather than piling them up on the sign-up second."""
    early = np.flatnonzero(at < floor)
    start = floor[early]
    seconds_left = (DAY_US - SECOND_US - start % DAY_US) // SECOND_US
    at[early] = start + _uniform_int(rng, seconds_left + 1) * SECOND_US
    return at


# ---------------------------------------------------------------------------------------------
# Arrow and Parquet


def _numbered(transactions: pa.Table, first: int, width: int) -> pa.Table:
    """The transactions with their ids ``T`` + first + 1.. in front (in the rows' order)."""
    return transactions.add_column(0, "transaction_id",
                                   _ids("T", first, transactions.num_rows, width))


def _ids(prefix: str, first: int, count: int, width: int) -> pa.Array:
    """``prefix`` + first + 1 .. first + count, zero padded to ``width`` digits (more if the
    number needs them).

    Built as a fixed-width byte matrix plus offsets, several times faster than Arrow's string
    kernels (cast, pad, join)."""
    width = max(width, len(str(first + count)))
    row = len(prefix) + width
    chars = np.empty((count, row), np.uint8)
    chars[:, :len(prefix)] = np.frombuffer(prefix.encode("ascii"), np.uint8)
    rest = np.arange(first + 1, first + count + 1, dtype=np.int64)
    for column in range(row - 1, len(prefix) - 1, -1):  # last digit first
        chars[:, column] = ord("0") + rest % 10
        rest //= 10
    offsets = np.arange(0, (count + 1) * row, row, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), count,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _take_ids(ids: pa.Array, index: np.ndarray) -> pa.Array:
    """``ids.take(index)`` for ids of one width (as ``_ids`` makes them): a gather of fixed-size
    rows in numpy, ~5x faster than Arrow's take of strings (10M rows per 1M customers)."""
    if not len(ids):
        return ids.take(pa.array(index, pa.int64()))
    _, offsets, data = ids.buffers()
    offsets = np.frombuffer(offsets, np.int32, count=len(ids) + 1, offset=ids.offset * 4)
    row = int(offsets[1] - offsets[0])
    assert ids.null_count == 0 and (np.diff(offsets) == row).all()
    chars = np.frombuffer(data, np.dtype((np.void, row)), count=len(ids),
                          offset=int(offsets[0]))[index]
    offsets = np.arange(0, (index.size + 1) * row, row, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), index.size,
                                 [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _labels(values, codes: np.ndarray) -> pa.Array:
    """Strings ``values[code]``; negative codes are null."""
    return pa.array(list(values), pa.string()).take(pa.array(codes, mask=codes < 0))


def _timestamps(us: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.ascontiguousarray(us, dtype=np.int64).view("datetime64[us]"), mask=null)


def _decimals(cents: np.ndarray) -> pa.Array:
    """decimal128(18, 2) straight from int64 cents: each value is 16 little-endian bytes of two's
    complement, i.e. the cents then their sign extension (much faster than going via Python)."""
    words = np.empty((cents.size, 2), np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), cents.size, [None, pa.py_buffer(words)])


def _sorted_distinct(values: np.ndarray) -> np.ndarray:
    """np.unique for int64, minus its overhead (numpy 2.4's np.unique is ~15x slower here)."""
    values = np.sort(values)
    keep = np.ones(values.size, bool)
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def _window_seconds(at: np.ndarray, clock: _Clock) -> np.ndarray:
    """Whole seconds since the window start, checked to fit SECOND_BITS."""
    seconds = (at - clock.window_start_us) // SECOND_US
    assert seconds.size == 0 or (seconds.min() >= 0 and seconds.max() < 1 << SECOND_BITS)
    return seconds
