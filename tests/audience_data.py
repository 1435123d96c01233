"""A small hand-made customer base for audience tests, as of D = 2026-03-10.

Ages at D: ann 35, bob 26 (birthday on D), cy unknown, dee 66, eve 15, fay 40 (birthday on D+1).
Purchases as of D: ann 3 (300.00, last 2026-03-01), bob 1 (+ a 10.00 refund, on D), dee 1 (20.00,
D-200); eve buys only on D+1 (invisible); fay has only a refund; late is not in the base.
"""

from __future__ import annotations

from datetime import date, timedelta

D = date(2026, 3, 10)
BASE = {"ann", "bob", "cy", "dee", "eve", "fay"}


def day(offset: int) -> str:
    return (D + timedelta(days=offset)).isoformat()


PROFILES = (
    ["customer_id", "first_name", "email", "gender", "birth_date", "home_city", "home_state",
     "created_at"],
    ["ann", "Ann", "ann@example.com", "female", "1990-05-01", "Boston", "MA", "2020-01-01 09:00"],
    ["bob", "Bob", "bob@example.com", "male", "2000-03-10", "Austin", "TX", "2021-06-01"],
    ["cy", "", "", "", "", "", "", ""],
    ["dee", "Dee", "dee@example.com", "nonbinary", "1960-01-01", "New York", "NY", day(-9)],
    ["eve", "Eve", "Eve%_x@Example.com", "female", "2010-06-01", "Salem", "MA",
     "2025-12-31 23:00"],
    ["fay", "O'Brien", "fay@example.com", "FEMALE", "1985-03-11", "Zürich", "", "2019-05-05"],
    ["late", "Late", "late@example.com", "female", "1990-01-01", "Boston", "MA", day(1)],
)

TRANSACTIONS = (
    ["transaction_id", "customer_id", "occurred_at", "amount"],
    ["t1", "ann", "2025-06-01 12:00", "100.00"],
    ["t2", "ann", "2026-01-15", "150.00"],
    ["t3", "ann", day(-9), "50.00"],
    ["t4", "bob", day(0) + " 18:00", "50.00"],
    ["t5", "bob", day(0) + " 19:00", "-10.00"],
    ["t6", "dee", day(-200), "20.00"],
    ["t7", "eve", day(1), "500.00"],
    ["t8", "late", day(-9), "999.00"],
    ["t9", "fay", "2024-01-01", "-5.00"],
)

TAGS = (
    ["customer_id", "tag", "occurred_at"],
    ["ann", "store_visit", day(-9)], ["ann", "store_visit", "2026-02-01"],
    ["ann", "store_visit", "2026-01-01"], ["ann", "email_open", "2025-01-01"],
    ["bob", "store_visit", day(0)], ["bob", "email_open", day(-1)],
    ["dee", "store_visit", day(-90)], ["dee", "store_visit", day(-89)],
    ["eve", "x' OR 1=1 --", day(-9)], ["eve", "store_visit", day(1)],
    ["late", "store_visit", day(-9)],
)

APPENDED = (
    ["customer_id", "loyalty_tier", "points", "opt_in"],
    ["ann", "gold", "1200", "true"],
    ["bob", "bronze", "50", "false"],
    ["dee", "silver", "100", "true"],
    ["eve", "platinum", "0", ""],
    ["fay", "", "10", "false"],
)


def load(wb, write_csv) -> None:
    for kind, rows in (("profiles", PROFILES), ("transactions", TRANSACTIONS), ("tags", TAGS),
                       ("appended", APPENDED)):
        wb.customers.ingest(kind, write_csv(f"{kind}.csv", *rows))
