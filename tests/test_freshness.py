"""Stale data said out loud: the demo follows the calendar (the sample ends yesterday, `process
--days`), results older than yesterday are said in the API, its reprs and the CLI, estimates
say which day they are as of, and bad days are refused naming the option."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.audience_data import D, load
from tests.test_cli import run
from workbench.errors import InvalidInput
from workbench.freshness import behind, days_behind, stale_reason

WOMEN = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}


def test_days_behind_and_what_is_said():
    assert days_behind(None, D) is None and days_behind(D, D) == 0
    assert days_behind(D, D + timedelta(days=7)) == 7
    assert days_behind(D + timedelta(days=1), D) == -1  # processed under a clock set ahead
    assert behind(D, 0) is None and behind(None, None) is None
    assert behind(D, -2) == ("processed through 2026-03-10, 2 days after yesterday "
                             "(2026-03-08): processed with the clock set ahead")
    assert stale_reason(D, D - timedelta(days=1), 365) == (
        "processed through 2026-03-10, after 2026-03-09 (processed with the clock set "
        "ahead): not the members as of that day")
    assert behind(D, 1) == "processed through 2026-03-10, 1 day behind"
    assert behind(D, 1200) == "processed through 2026-03-10, 1,200 days behind"
    assert stale_reason(D, D + timedelta(days=1), 1) is None
    assert stale_reason(D, D + timedelta(days=3), 1) == (
        "processed through 2026-03-10, 3 days before 2026-03-13 (max_staleness_days is 1)")
    assert stale_reason(D, D, 0) is None and stale_reason(D, D + timedelta(days=1), 0)


@pytest.fixture
def processed(wb, write_csv):
    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create(WOMEN).id)
    wb.processing.run(D)
    return wb


def test_a_current_audience_says_nothing_more(processed):
    audience = processed.audiences.get(1)
    assert audience.days_behind == 0 and audience.behind is None
    assert "behind" not in repr(audience) and "behind" not in audience._repr_html_()
    assert processed.audiences.behind() is None


def test_an_audience_a_week_behind_says_so_everywhere(processed, clock):
    clock.advance(days=7)  # a week without nightly processing
    audience = processed.audiences.get(1)
    assert audience.days_behind == 7 and audience.to_json()["days_behind"] == 7
    said = "processed through 2026-03-10, 7 days behind"
    assert audience.behind == said and said in repr(audience)
    assert "Processed through 2026-03-10, 7 days behind" in audience._repr_html_()
    assert processed.audiences.behind() == said
    home = processed.home.root
    listing = run("audience", "list", home=home).stdout
    assert ("Processed through 2026-03-10, 7 days behind (audience 1): "
            "`workbench process --from 2026-03-11 --to 2026-03-17` catches up") in listing
    shown = run("audience", "show", "1", home=home).stdout
    assert "last processed: 2026-03-10 (7 days behind; `workbench process --from 2026-03-11 " \
           "--to 2026-03-17` catches up)" in shown
    assert json.loads(run("audience", "show", "1", "--json", home=home).stdout)[
        "days_behind"] == 7
    # Drafts and archived audiences are not processed: nothing lags.
    draft = processed.audiences.create({**WOMEN, "name": "Draft"})
    assert draft.days_behind is None and draft.behind is None


def test_an_estimate_says_its_day_and_where_processing_is(processed, clock):
    estimate = processed.audiences.estimate(WOMEN)
    assert estimate.as_of == D and estimate.processed_through == D
    assert estimate.as_of_text == "as of 2026-03-10"  # the same day: said once
    clock.advance(days=3)
    estimate = processed.audiences.estimate(WOMEN)
    assert estimate.as_of == D + timedelta(days=3)
    assert estimate.as_of_text == "as of 2026-03-13 (processing is through 2026-03-10)"
    assert estimate.to_json()["processed_through"] == "2026-03-10"
    assert "processing is through 2026-03-10" in estimate._repr_html_()


def test_the_sample_ends_yesterday_by_default(wb):
    wb.customers.sample(300, seed=3)
    assert last_event_day(wb) == date(2026, 3, 10)  # the clock's yesterday (conftest.NOW)


def last_event_day(wb) -> date:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    with wb.snapshots.pin() as snapshot:
        table = pq.read_table(snapshot.file("transactions"), columns=["occurred_at"])
    return pc.max(table["occurred_at"]).as_py().date()  # a UTC home: UTC dates


@pytest.mark.parametrize(("until", "said"), [
    ("2026-03-12", "--until 2026-03-12 is after today (2026-03-11 in UTC)"),
    ("1899-12-31", "--until 1899-12-31 is before 1900-01-01"),
    ("20261128", "'20261128' is not a date YYYY-MM-DD"),
])
def test_a_sample_until_in_the_future_or_before_1900_is_refused(home, until, said):
    done = run("sample", "--customers", "10", "--until", until, home=home)
    assert done.returncode == 2 and said in done.stderr and done.stderr.count("\n") == 1


def test_a_day_processed_under_a_clock_set_ahead_is_said_and_not_exported(processed, clock,
                                                                          server):
    """A home processed with WORKBENCH_NOW in the future, then run on the real day (the hostile
    pass): its results are not "current", and no export delivers them as of an earlier day."""
    from tests.conftest import add_partner
    from workbench.errors import Stale

    clock.advance(days=30)
    processed.processing.run()  # the night of 2026-04-09, under a clock set ahead
    clock.advance(days=-30)
    audience = processed.audiences.get(1)
    assert audience.days_behind == -30
    assert audience.behind == ("processed through 2026-04-09, 30 days after yesterday "
                               "(2026-03-10): processed with the clock set ahead")
    shown = run("audience", "show", "1", home=processed.home.root).stdout
    assert "30 days after yesterday (2026-03-10): processed with the clock set ahead; its " \
           "results after yesterday stay until those days are processed again" in shown
    add_partner(processed, server)
    export_id = processed.exports.create({
        "name": "W", "audience": 1, "file_name": "w_{run}.csv", "destination": "partner",
        "schedule": {"start": "2027-01-04T06:00"}, "max_staleness_days": 365,
        "columns": [{"attribute": "customer_id"}]}).id
    with pytest.raises(Stale, match="after 2026-03-11 .processed with the clock set ahead."):
        processed.export_runs.create(export_id)


def test_process_days_is_the_days_up_to_yesterday(wb):
    assert wb.processing.days(last_days=14) == (date(2026, 2, 25), date(2026, 3, 10))
    assert wb.processing.days(last_days=1) == (date(2026, 3, 10), date(2026, 3, 10))
    for bad in (0, -3, 3661, True, 2.5):
        with pytest.raises(InvalidInput, match="--days"):
            wb.processing.days(last_days=bad)
    with pytest.raises(InvalidInput, match="not several"):
        wb.processing.days("2026-03-01", last_days=3)
    with pytest.raises(InvalidInput, match="is 46,090 days; a run processes at most 3,660"):
        wb.processing.days(date_from="1900-01-01", date_to="2026-03-10")
    for typed in ("x", " 3", "+3", "1_0", "３", "1e3"):
        done = run("process", "--days", typed, home=wb.home.root)
        assert done.returncode == 2 and "--days" in done.stderr, typed


def test_a_sample_before_1991_is_refused_saying_why(home):
    done = run("sample", "--customers", "10", "--until", "1950-06-01", home=home)
    assert done.returncode == 2 and done.stderr.strip() == (
        "workbench: --until 1950-06-01: the sample needs 1991-01-01 or later (its customers "
        "are born up to 90 years before it, and birth dates before 1900 are refused)")
