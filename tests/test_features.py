"""Point-in-time features as of day D (SPEC 4), at their boundaries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

D = date(2026, 3, 10)
TX = ["transaction_id", "customer_id", "occurred_at", "amount"]


@pytest.fixture
def features(wb, write_csv):
    """features(profiles=[...], transactions=[...], tags=[...], appended=...) -> {id: row}."""

    def build(profiles, transactions=(), tags=(), appended=None, as_of=D):
        wb.customers.ingest("profiles", write_csv(
            "p.csv", ["customer_id", "birth_date", "created_at"], *profiles))
        if transactions:
            wb.customers.ingest("transactions", write_csv("t.csv", TX, *transactions))
        if tags:
            wb.customers.ingest("tags", write_csv(
                "g.csv", ["customer_id", "tag", "occurred_at"], *tags))
        if appended:
            wb.customers.ingest("appended", write_csv("a.csv", *appended))
        rel = wb.features(as_of)
        return {row[0]: dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()}

    return build


def test_age_counts_full_years_and_the_birthday_is_on_d(features):
    rows = features([["born_on_d", "2000-03-10", ""], ["day_after", "2000-03-11", ""],
                     ["leap", "2004-02-29", ""], ["unborn", "2026-03-11", ""],
                     ["unknown", "", ""]])
    assert rows["born_on_d"]["age"] == 26
    assert rows["day_after"]["age"] == 25
    assert rows["leap"]["age"] == 22
    assert rows["unborn"]["age"] is None and rows["unknown"]["age"] is None


def test_leap_day_birthday_counts_from_march_first_in_common_years(features):
    rows = features([["leap", "2004-02-29", ""]], as_of=date(2025, 2, 28))
    assert rows["leap"]["age"] == 20


def test_purchase_on_d_counts_and_on_d_plus_one_does_not_exist(features):
    rows = features([["c", "", ""]], [["t1", "c", "2026-03-01 09:00", "10.00"],
                                      ["t2", "c", "2026-03-10 23:59:59", "5.25"],
                                      ["t3", "c", "2026-03-11 00:00", "1000.00"]])
    c = rows["c"]
    assert (c["rfm.recency_days"], c["rfm.frequency"], c["rfm.monetary"]) == (0, 2, Decimal("15.25"))


def test_refunds_count_in_monetary_only(features):
    rows = features([["buyer", "", ""], ["refund_only", "", ""]],
                    [["t1", "buyer", "2026-03-01", "100.00"], ["t2", "buyer", "2026-03-05", "-40.00"],
                     ["t3", "refund_only", "2026-03-05", "-15.50"],
                     ["t4", "buyer", "2026-02-01", "0.00"]])
    buyer, refund_only = rows["buyer"], rows["refund_only"]
    assert (buyer["rfm.recency_days"], buyer["rfm.frequency"]) == (9, 2)  # 0.00 is a purchase
    assert buyer["rfm.monetary"] == Decimal("60.00")
    assert refund_only["rfm.recency_days"] is None
    assert (refund_only["rfm.frequency"], refund_only["rfm.monetary"]) == (0, Decimal("-15.50"))
    assert refund_only["rfm.r_score"] is None and refund_only["rfm.m_score"] is None


def test_customer_without_purchases(features):
    rows = features([["none", "", ""]])
    none = rows["none"]
    assert (none["rfm.recency_days"], none["rfm.frequency"], none["rfm.monetary"]) == (
        None, 0, Decimal("0.00"))
    assert (none["rfm.r_score"], none["rfm.f_score"], none["rfm.m_score"]) == (None, None, None)


def test_scores_are_quintiles_with_ties_broken_by_customer_id(features):
    # Ten purchasers with identical behaviour: only customer_id orders them.
    profiles = [[f"c{i}", "", ""] for i in range(10)] + [["z_never", "", ""]]
    txs = [[f"t{i}", f"c{i}", "2026-03-01", "20.00"] for i in range(10)]
    rows = features(profiles, txs)
    assert [rows[f"c{i}"]["rfm.f_score"] for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [rows[f"c{i}"]["rfm.m_score"] for i in range(10)] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    # r_score: 6 - NTILE over recency ascending, so the first (by id) tie ranks as most recent.
    assert [rows[f"c{i}"]["rfm.r_score"] for i in range(10)] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    assert rows["z_never"]["rfm.f_score"] is None


def test_most_recent_fifth_scores_five(features):
    profiles = [[f"c{i}", "", ""] for i in range(5)]
    txs = [[f"t{i}", f"c{i}", f"2026-03-0{i + 1}", "1.00"] for i in range(5)]
    rows = features(profiles, txs)
    assert rows["c4"]["rfm.r_score"] == 5 and rows["c0"]["rfm.r_score"] == 1


def test_base_is_profiles_created_on_or_before_d_or_unknown(features):
    rows = features([["old", "", "2020-01-01"], ["on_d", "", "2026-03-10 23:00"],
                     ["later", "", "2026-03-11 00:00"], ["unknown", "", ""]],
                    [["t1", "later", "2026-03-01", "999.00"], ["t2", "old", "2026-03-01", "1.00"]])
    assert set(rows) == {"old", "on_d", "unknown"}
    # The customer outside the base is not in the score population either.
    assert rows["old"]["rfm.m_score"] == 1 and rows["old"]["rfm.f_score"] == 1


def test_tags_and_appended_columns_as_of_d(features):
    rows = features([["c", "", ""], ["d", "", ""]], [],
                    [["c", "vip", "2026-03-10"], ["c", "app_login", "2026-01-01"],
                     ["c", "late", "2026-03-11"]],
                    (["customer_id", "tier"], ["c", "gold"]))
    assert rows["c"]["tags"] == ["app_login", "vip"]
    assert rows["d"]["tags"] == []
    assert (rows["c"]["appended.tier"], rows["d"]["appended.tier"]) == ("gold", None)


def test_event_dates_are_local_to_the_workbench_timezone(home, write_csv):
    import workbench

    settings = home / "workbench.toml"
    settings.write_text(settings.read_text().replace('"UTC"', '"America/Los_Angeles"'))
    with workbench.open(home, user="ada") as wb:
        wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id"], ["c"]))
        # 2026-03-11 05:00 UTC is 2026-03-10 22:00 in Los Angeles: a purchase on D.
        wb.customers.ingest("transactions", write_csv(
            "t.csv", TX, ["t1", "c", "2026-03-11T05:00:00Z", "7.00"]))
        [row] = wb.features(D).fetchall()
        columns = wb.features(D).columns
    assert dict(zip(columns, row, strict=True))["rfm.frequency"] == 1


def test_feature_table_is_rebuilt_after_a_new_ingest(wb, write_csv):
    wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id"], ["a"]))
    assert len(wb.features(D).fetchall()) == 1
    wb.customers.ingest("profiles", write_csv("q.csv", ["customer_id"], ["b"]))
    assert len(wb.features(D).fetchall()) == 2
