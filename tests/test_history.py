"""Carried features (processing/history.py): a multi-day run that advances its features from
day to day records exactly what recomputing every day from all the events records, on random
small bases and audiences: every feature column on every day, every membership, size, holdout,
added/removed and composition row. In a timezone with DST, the run spanning the change, with
events on the first and last instants of local days, refunds, customers created mid-run,
windows (within_days, days_ago) entering and leaving, an audience reading another."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import workbench
from tests.conftest import place_version
from tests.test_audience_property import DEFINITIONS, PROPERTY
from workbench.customers.features import Day, everything, features_query
from workbench.home import init_home
from workbench.processing.composition import Buckets
from workbench.processing.history import VARIABLE, Carried, why_not

ZONE = "America/New_York"  # DST ends on 2026-11-01: that day has 25 hours
FIRST, LAST = date(2026, 10, 27), date(2026, 11, 4)
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # the module's clock: the run's days are past
AMOUNTS = [Decimal("-20.00"), Decimal("0.00"), Decimal("5.50"), Decimal("10.00"),
           Decimal("100.00")]
TAGS = ["a", "b", "c"]
# Where in its local day an event falls: its first instant, its last, noon.
WHEN = ["first", "last", "noon"]


def instant(offset: int, when: str) -> datetime:
    """An instant of local day FIRST + offset (DST included)."""
    day = FIRST + timedelta(days=offset)
    zone = ZoneInfo(ZONE)
    if when == "first":
        return datetime.combine(day, time(0), zone).astimezone(UTC)
    if when == "last":
        following = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
        return following - timedelta(microseconds=1)
    return datetime.combine(day, time(12), zone).astimezone(UTC)


moment = st.tuples(st.integers(-420, 10), st.sampled_from(WHEN))
customer = st.fixed_dictionaries({
    "gender": st.sampled_from(["female", "male", None]),
    "birth": st.one_of(st.none(), st.integers(-90 * 366, -10 * 365)),
    "created": st.one_of(st.none(), st.tuples(st.integers(-30, 10), st.sampled_from(WHEN))),
    "city": st.sampled_from(["Boston", "Salem", None]),
    "tier": st.sampled_from(["gold", "bronze", None]),
    "purchases": st.lists(st.tuples(moment, st.sampled_from(AMOUNTS)), max_size=5),
    "tags": st.lists(st.tuples(st.sampled_from(TAGS), moment), max_size=5),
})


def write_base(home, customers: dict[str, dict]) -> None:
    ids = list(customers)
    tz = pa.timestamp("us", tz="UTC")
    place_version(home, pa.table({
        "customer_id": ids, "first_name": [None] * len(ids), "last_name": [None] * len(ids),
        "email": [None] * len(ids), "gender": [c["gender"] for c in customers.values()],
        "birth_date": pa.array([None if c["birth"] is None else FIRST + timedelta(days=c["birth"])
                                for c in customers.values()], pa.date32()),
        "home_city": [c["city"] for c in customers.values()],
        "home_state": [None] * len(ids),
        "created_at": pa.array([None if c["created"] is None else instant(*c["created"])
                                for c in customers.values()], tz)}), "profiles")
    purchases = [(cid, m, a) for cid, c in customers.items() for m, a in c["purchases"]]
    place_version(home, pa.table({
        "transaction_id": [f"t{i}" for i in range(len(purchases))],
        "customer_id": pa.array([p[0] for p in purchases], pa.string()),
        "occurred_at": pa.array([instant(*p[1]) for p in purchases], tz),
        "amount": pa.array([p[2] for p in purchases], pa.decimal128(18, 2)),
        "store_id": pa.array([None] * len(purchases), pa.string()),
        "channel": pa.array([None] * len(purchases), pa.string())}), "transactions")
    tags = [(cid, t, m) for cid, c in customers.items() for t, m in c["tags"]]
    place_version(home, pa.table({
        "customer_id": pa.array([t[0] for t in tags], pa.string()),
        "tag": pa.array([t[1] for t in tags], pa.string()),
        "occurred_at": pa.array([instant(*t[2]) for t in tags], tz)}), "tags")
    place_version(home, pa.table({
        "customer_id": ids, "loyalty_tier": [c["tier"] for c in customers.values()]}),
        "appended")


def recorded(wb, ids: list[int]) -> dict:
    """Everything processing recorded for these audiences: history, composition, members."""
    def records(frame):
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    found = {}
    for audience_id in ids:
        history = records(wb.processing.history(audience_id))
        found[audience_id] = history, [
            (records(wb.processing.composition(audience_id, row["day"])),
             records(wb.processing.stored_members(audience_id, row["day"]).sort_values(
                 "customer_id", ignore_index=True))) for row in history]
    return found


FIXED = [
    # scores, a holdout, tags and spend windows that open and close during the run
    {"name": "champions", "holdout_percent": 50, "rules": [
        {"attribute": "rfm.r_score", "op": "in", "value": [4, 5]},
        {"attribute": "rfm.m_score", "op": "in", "value": [3, 4, 5]}]},
    {"name": "visitors", "rules": [
        {"attribute": "tag", "op": "has", "value": ["a", "b"], "within_days": 3},
        {"attribute": "rfm.monetary", "op": "gt", "value": 0, "days_ago": [2, 5]},
        {"attribute": "appended.loyalty_tier", "op": "in", "value": ["bronze"],
         "exclude": True}]},
]


def run_both_ways(tmp_path_factory, monkeypatch, people, definitions) -> None:
    monkeypatch.delenv(VARIABLE, raising=False)  # an earlier example turned it off
    customers = {f"c{i:02d}": c for i, c in enumerate(people)}
    root = tmp_path_factory.mktemp("history") / "home"
    init_home(root, admin="ada", timezone=ZONE)
    write_base(root, customers)
    with workbench.open(root, user="ada") as wb:
        ids = [wb.audiences.activate(wb.audiences.create(d).id).id for d in
               [*FIXED, *({"name": f"random {i}", "rules": rules}
                          for i, rules in enumerate(definitions))]]
        reader = wb.audiences.create({"name": "reads visitors", "rules": [
            {"attribute": "audience", "op": "in", "value": [ids[1]]},
            {"attribute": "rfm.frequency", "op": "gte", "value": 1, "within_days": 2}]})
        ids.append(wb.audiences.activate(reader.id).id)

        carried = wb.processing.run(date_from=FIRST, date_to=LAST)
        assert "carried" in carried.engine
        got = recorded(wb, ids)
        monkeypatch.setenv(VARIABLE, "off")
        full = wb.processing.run(date_from=FIRST, date_to=LAST)
        assert "carried" not in full.engine
        assert recorded(wb, ids) == got
        assert [(d.base, d.sizes, d.holdouts, d.added, d.removed) for d in carried.days] == \
            [(d.base, d.sizes, d.holdouts, d.added, d.removed) for d in full.days]
        same_features_every_day(wb)


def same_features_every_day(wb) -> None:
    """Every feature column (but the tags list, which the state does not keep), every day."""
    p = wb.processing
    engine = p._engine
    with p._snapshots.pin() as snapshot:
        tables = snapshot.tables()
        needed = everything(tables) - {"tags"}
        carried = Carried.of(engine, tables, p._calendar.zone, [], FIRST, LAST)
        # A day left out: the state starts again from all the events (advance's other path).
        for offset in [0, 1, *range(3, (LAST - FIRST).days + 1)]:
            day = Day(FIRST + timedelta(days=offset), p._calendar.zone)
            carried.advance(day.day)
            engine.materialize("carried_features", carried.features(day, needed))
            engine.materialize("full_features", features_query(tables, day, needed))
            conn = engine.conn
            assert conn.execute("DESCRIBE carried_features").fetchall() == \
                conn.execute("DESCRIBE full_features").fetchall()
            for a, b in (("carried_features", "full_features"),
                         ("full_features", "carried_features")):
                assert conn.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})"
                                    ).fetchone() == (0,), day.day


@settings(max_examples=6, **PROPERTY)
@given(people=st.lists(customer, min_size=1, max_size=14),
       definitions=st.lists(DEFINITIONS, max_size=2))
def test_carried_days_record_what_full_recomputation_records(tmp_path_factory, monkeypatch,
                                                             people, definitions):
    run_both_ways(tmp_path_factory, monkeypatch, people, definitions)


def test_the_edges_of_days_and_windows(tmp_path_factory, monkeypatch):
    """Hand-picked: events on the first and last instants of the days a window opens and
    drops, on the 25-hour day, a refund that nets a window to zero, a customer created on the
    last instant of a run day."""
    people = [
        {"gender": "female", "birth": -9000, "created": (3, "last"), "city": "Boston",
         "tier": "gold", "purchases": [((0, "first"), Decimal("10.00")),
                                       ((0, "last"), Decimal("-10.00")),
                                       ((5, "first"), Decimal("5.50"))],
         "tags": [("a", (2, "first")), ("a", (5, "last")), ("b", (-1, "last"))]},
        {"gender": "male", "birth": None, "created": None, "city": None, "tier": "bronze",
         "purchases": [((-365, "first"), Decimal("100.00")), ((-1, "last"), Decimal("0.00")),
                       ((4, "noon"), Decimal("100.00"))],
         "tags": [("b", (4, "first")), ("c", (-420, "noon"))]},
        {"gender": None, "birth": -4000, "created": (-1, "first"), "city": "Salem",
         "tier": None, "purchases": [((6, "last"), Decimal("-20.00"))], "tags": []},
    ]
    window = [{"attribute": "rfm.frequency", "op": "gte", "value": 1, "days_ago": [1, 3]},
              {"attribute": "tag", "op": "has", "value": ["a"], "within_days": 2}]
    run_both_ways(tmp_path_factory, monkeypatch, people, [window])


def test_what_the_state_cannot_answer_is_recomputed(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("history") / "home"
    init_home(root, admin="ada", timezone=ZONE)
    with workbench.open(root, user="ada") as wb:
        p = wb.processing
        assert why_not(p._engine, [], [], FIRST, FIRST) == "one day: nothing to carry"
        assert why_not(p._engine, [], [], FIRST, LAST) is None
        # No rule reads the tags list today; a column the state does not keep is recomputed.
        assert "tags list" in why_not(p._engine, [], [Buckets("tags", "tags", "top")], FIRST,
                                      LAST)
        monkeypatch.setenv(VARIABLE, "off")
        assert why_not(p._engine, [], [], FIRST, LAST) == f"${VARIABLE} is off"
