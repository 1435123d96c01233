"""Ingest: each rejection reason, idempotent re-ingest, upserts, orphans, appended types."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import read_rejects
from workbench.errors import IngestError, RejectedRows

PROFILE_HEADER = ["customer_id", "first_name", "gender", "birth_date", "created_at"]


def stored(wb, kind: str) -> list[dict]:
    """The rows of the current version of a kind."""
    with wb.snapshot() as snapshot:
        if snapshot.file(kind) is None:
            return []
        rel = wb.duck.sql(f"SELECT * FROM read_parquet('{snapshot.file(kind)}') ORDER BY ALL")
        return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.parametrize(
    ("kind", "header", "row", "reason"),
    [
        ("profiles", PROFILE_HEADER, ["", "Ann", "f", "", ""], "customer_id is empty (required)"),
        ("profiles", PROFILE_HEADER, ["C1", "Ann", "f", "1990-02-30", ""],
         'birth_date "1990-02-30" is not a date YYYY-MM-DD'),
        ("profiles", PROFILE_HEADER, ["C1", "Ann", "f", "", "yesterday"],
         'created_at "yesterday" is not a timestamp'),
        ("transactions", ["transaction_id", "customer_id", "occurred_at", "amount"],
         ["T1", "C1", "2026-01-01", "12.345"],
         'amount "12.345" is not a decimal number with at most 2 decimal places'),
        ("transactions", ["transaction_id", "customer_id", "occurred_at", "amount"],
         ["T1", "C1", "2026-01-01", "ten"], 'amount "ten" is not a decimal number'),
        ("transactions", ["transaction_id", "customer_id", "occurred_at", "amount"],
         ["T1", "C1", "", "1.00"], "occurred_at is empty (required)"),
        ("transactions", ["transaction_id", "customer_id", "occurred_at", "amount"],
         ["T1", "", "2026-01-01", ""], "customer_id is empty (required); amount is empty"),
        ("tags", ["customer_id", "tag", "occurred_at"], ["C1", "", "2026-01-01"],
         "tag is empty (required)"),
        ("tags", ["customer_id", "tag", "occurred_at"], ["C1", "vip", "2026-13-01"],
         'occurred_at "2026-13-01" is not a timestamp'),
    ],
)
def test_each_rejection_reason_is_written_with_the_row(wb, write_csv, kind, header, row, reason):
    path = write_csv(f"{kind}.csv", header, row)
    report = wb.customers.ingest(kind, path)
    assert (report.accepted, report.rejected) == (0, 1)
    [rejected] = read_rejects(report.rejects_file)
    assert reason in rejected["_reason"]
    assert [rejected[name] for name in header] == row  # the original text, untouched


def test_malformed_csv_line_goes_to_rejects_with_its_line(wb, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("customer_id,first_name\nC1,Ann\nC2,Bob,extra\nC3,Cy\n")
    report = wb.customers.ingest("profiles", path)
    assert (report.accepted, report.rejected) == (2, 1)
    [rejected] = read_rejects(report.rejects_file)
    assert rejected["_reason"].startswith("line 3: malformed CSV")
    assert rejected["_malformed_line"] == "C2,Bob,extra"


def test_same_key_with_different_values_rejects_every_such_row(wb, write_csv):
    path = write_csv("p.csv", ["customer_id", "first_name", "created_at"],
                     ["C1", "Ann", "2026-01-01"], ["C1", "Anne", " 2026-01-01"],
                     ["C2", "Bo", ""], ["C2", "Bo", ""])
    report = wb.customers.ingest("profiles", path)
    assert (report.accepted, report.rejected, report.duplicates) == (1, 2, 1)
    rejected = {r["first_name"]: r for r in read_rejects(report.rejects_file)}
    assert set(rejected) == {"Ann", "Anne"}
    assert "customer_id C1 appears in more than one row" in rejected["Ann"]["_reason"]
    # The file's own text, not the parsed value.
    assert [rejected[n]["created_at"] for n in ("Ann", "Anne")] == ["2026-01-01", " 2026-01-01"]


def test_unknown_and_missing_columns_refuse_the_file(wb, write_csv):
    with pytest.raises(IngestError, match="unknown column.*loyalty.*ingest appended"):
        wb.customers.ingest("profiles", write_csv("a.csv", ["customer_id", "loyalty"], ["C1", "x"]))
    with pytest.raises(IngestError, match="lacks required column.*amount"):
        wb.customers.ingest("transactions", write_csv(
            "b.csv", ["transaction_id", "customer_id", "occurred_at"], ["T1", "C1", "2026-01-01"]))


def test_strict_stores_nothing_when_a_row_is_rejected(wb, write_csv):
    path = write_csv("p.csv", PROFILE_HEADER, ["C1", "Ann", "", "", ""], ["", "x", "", "", ""])
    with pytest.raises(RejectedRows, match="accepted 1, rejected 1"):
        wb.customers.ingest("profiles", path, strict=True)
    assert stored(wb, "profiles") == []


def test_reingesting_the_same_file_changes_nothing(wb, write_csv):
    path = write_csv("t.csv", ["transaction_id", "customer_id", "occurred_at", "amount"],
                     ["T1", "C1", "2026-01-01 10:00", "10.50"], ["T2", "C1", "2026-01-02", "-3"])
    first = wb.customers.ingest("transactions", path)
    before = stored(wb, "transactions")
    second = wb.customers.ingest("transactions", path)
    assert (first.new, second.new, second.updated) == (2, 0, 2)
    assert stored(wb, "transactions") == before
    assert [row["amount"] for row in before] == [Decimal("10.50"), Decimal("-3.00")]


def test_profiles_upsert_and_columns_absent_from_the_file_are_kept(wb, write_csv):
    wb.customers.ingest("profiles", write_csv(
        "a.csv", ["customer_id", "first_name", "gender"], ["C1", "Ann", "FEMALE"],
        ["C2", "Bob", "Male"]))
    report = wb.customers.ingest("profiles", write_csv(
        "b.csv", ["customer_id", "first_name"], ["C1", "Anne"], ["C3", "Cy"]))
    assert (report.new, report.updated) == (1, 1)
    rows = {r["customer_id"]: r for r in stored(wb, "profiles")}
    assert rows["C1"]["first_name"] == "Anne" and rows["C1"]["gender"] == "female"
    assert rows["C2"]["gender"] == "male"
    assert rows["C3"]["gender"] is None


def test_transactions_and_tags_of_unknown_customers_are_accepted_as_orphans(wb, write_csv):
    wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id"], ["C1"]))
    report = wb.customers.ingest("tags", write_csv(
        "t.csv", ["customer_id", "tag", "occurred_at"], ["C1", "vip", "2026-01-01"],
        ["C9", "vip", "2026-01-01"], ["C9", "vip", "2026-01-01"]))
    assert (report.accepted, report.orphans, report.duplicates) == (2, 1, 1)
    assert report.summary() == "accepted 2, rejected 0, orphans 1"


def test_tags_dedupe_on_customer_tag_and_time(wb, write_csv):
    header = ["customer_id", "tag", "occurred_at"]
    wb.customers.ingest("tags", write_csv("a.csv", header, ["C1", "vip", "2026-01-01 10:00"]))
    report = wb.customers.ingest("tags", write_csv(
        "b.csv", header, ["C1", "vip", "2026-01-01T10:00:00"], ["C1", "vip", "2026-01-02"]))
    assert (report.new, report.updated) == (1, 1)
    assert len(stored(wb, "tags")) == 2


def test_naive_timestamps_are_in_the_workbench_timezone(home, write_csv):
    import workbench

    text = (home / "workbench.toml").read_text().replace('timezone = "UTC"',
                                                          'timezone = "America/New_York"')
    (home / "workbench.toml").write_text(text)
    with workbench.open(home, user="ada") as wb:
        wb.customers.ingest("tags", write_csv(
            "t.csv", ["customer_id", "tag", "occurred_at"], ["C1", "a", "2026-01-01 23:30"],
            ["C1", "b", "2026-01-02T03:30:00Z"]))
        days = [(row["tag"], row["occurred_at"].astimezone(wb.settings.zone).date())
                for row in stored(wb, "tags")]
    assert [str(d) for _, d in days] == ["2026-01-01", "2026-01-01"]


def test_appended_types_are_inferred_from_every_row(wb, write_csv):
    rows = [[f"C{i}", str(i), "gold", "yes", "2026-01-0" + str(i % 9 + 1), "1.5"]
            for i in range(30)]
    rows.append(["C99", "", "", "", "", "x"])
    report = wb.customers.ingest("appended", write_csv(
        "a.csv", ["customer_id", "Lifetime Points", "tier", "opt_in", "joined", "score"], *rows))
    assert report.column_types == {"lifetime_points": "integer", "tier": "text",
                                   "opt_in": "boolean", "joined": "date", "score": "text"}
    assert report.rejected == 0


def test_appended_schema_option_and_stored_types_win(wb, write_csv):
    header = ["customer_id", "points"]
    report = wb.customers.ingest("appended", write_csv("a.csv", header, ["C1", "10"]),
                                 schema={"points": "decimal"})
    assert report.column_types == {"points": "decimal"}
    # A later file of the same column is checked against the stored type.
    later = wb.customers.ingest("appended", write_csv("b.csv", header, ["C2", "lots"]))
    assert later.rejected == 1
    assert 'points "lots" is not a decimal' in read_rejects(later.rejects_file)[0]["_reason"]


def test_appended_upsert_keeps_other_columns(wb, write_csv):
    wb.customers.ingest("appended", write_csv("a.csv", ["customer_id", "tier", "points"],
                                              ["C1", "gold", "5"], ["C2", "silver", "7"]))
    wb.customers.ingest("appended", write_csv("b.csv", ["customer_id", "tier", "channel"],
                                              ["C1", "platinum", "sms"]))
    rows = {r["customer_id"]: r for r in stored(wb, "appended")}
    assert rows["C1"] == {"customer_id": "C1", "tier": "platinum", "points": 5, "channel": "sms"}
    assert rows["C2"] == {"customer_id": "C2", "tier": "silver", "points": 7, "channel": None}


def test_parquet_input_is_checked_like_csv(wb, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({
        "transaction_id": ["T1", "T2"], "customer_id": ["C1", None],
        "occurred_at": pa.array([1_767_225_600_000_000] * 2, pa.timestamp("us")),
        "amount": [10.5, 3.125]}), path)
    report = wb.customers.ingest("transactions", path)
    assert (report.accepted, report.rejected) == (1, 1)
    reason = read_rejects(report.rejects_file)[0]["_reason"]
    assert "customer_id is empty" in reason and 'amount "3.125"' in reason


def test_ingest_needs_the_analyst_role(home, write_csv):
    import workbench
    from workbench.errors import PermissionDenied

    with workbench.open(home, user="victor") as wb:
        with pytest.raises(PermissionDenied, match="victor is a viewer; data.ingest needs"):
            wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id"], ["C1"]))


def test_ingest_is_logged_in_the_store(wb, write_csv):
    wb.customers.ingest("profiles", write_csv("p.csv", ["customer_id"], ["C1"], [""]))
    [logged] = wb.store.ingests()
    assert (logged["kind"], logged["accepted"], logged["rejected"]) == ("profiles", 1, 1)
    assert logged["ingested_by"] == "ada"


def test_an_empty_file_is_refused_as_such(wb, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(IngestError, match="is empty; expected a header row"):
        wb.customers.ingest("profiles", path)


def test_malformed_lines_of_one_file_do_not_count_for_the_next(wb, tmp_path):
    bad, good = tmp_path / "bad.csv", tmp_path / "good.csv"
    bad.write_text("customer_id,tag,occurred_at\nC1,a,2026-01-01,extra\nC1,b,2026-01-01\n")
    good.write_text("customer_id,tag,occurred_at\nC2,a,2026-01-01\n")
    assert wb.customers.ingest("tags", bad).rejected == 1
    assert wb.customers.ingest("tags", good, strict=True).rejected == 0


def test_nothing_is_rounded_or_cut_on_the_way_in(wb, write_csv, tmp_path):
    report = wb.customers.ingest("appended", write_csv(
        "a.csv", ["customer_id", "ratio", "visit", "count"],
        ["C1", "1.5", "2026-03-05 23:30", "7"], ["C2", "2.4", "2026-03-06", "8"]))
    assert report.column_types == {"ratio": "double", "visit": "timestamp", "count": "integer"}
    later = wb.customers.ingest("appended", write_csv("b.csv", ["customer_id", "count"],
                                                      ["C3", "1.5"]))
    assert 'count "1.5" is not a whole number' in read_rejects(later.rejects_file)[0]["_reason"]
    huge = wb.customers.ingest("transactions", write_csv(
        "t.csv", ["transaction_id", "customer_id", "occurred_at", "amount"],
        ["T1", "C1", "2026-01-01", "100000000000000000"]))
    assert huge.rejected == 1
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({
        "transaction_id": ["T2", "T3"], "customer_id": ["C1", "C1"],
        "occurred_at": pa.array([1_767_225_600_000_000] * 2, pa.timestamp("us")),
        "amount": pa.array([Decimal("1.2345"), Decimal("2.5000")], pa.decimal128(10, 4))}), path)
    typed = wb.customers.ingest("transactions", path)
    assert (typed.accepted, typed.rejected) == (1, 1)
    assert 'amount "1.2345"' in read_rejects(typed.rejects_file)[0]["_reason"]


def test_rejects_of_two_files_with_one_name_do_not_overwrite_each_other(wb, tmp_path):
    paths = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "x.csv"
        path.write_text(f"customer_id,birth_date\n{folder},not-a-date\n")
        paths.append(wb.customers.ingest("profiles", path).rejects_file)
    assert paths[0] != paths[1]
    assert [read_rejects(p)[0]["customer_id"] for p in paths] == ["a", "b"]
