"""Backfill on activation: the N days before the activation day, for that audience alone,
recorded exactly as processing those days records them; started in the background."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest

from tests.audience_data import D, load
from workbench.errors import Conflict, SettingsError
from workbench.processing.backfill import backfill, backfill_days
from workbench.settings import BACKFILL_VARIABLE, load_settings

WOMEN = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}],
         "holdout_percent": 50}
BUYERS = {"name": "Recent buyers", "rules": [
    {"attribute": "rfm.frequency", "op": "gte", "value": 1, "within_days": 30}]}
TODAY = D + timedelta(days=1)  # tests' NOW is 01:00 UTC the night after D


def recorded(wb, audience_id) -> tuple[list[dict], list[dict]]:
    """What processing recorded of an audience: each day's history and composition."""
    def records(frame):  # NaN (an index where the base has nobody) compares equal as None
        return frame.astype(object).where(frame.notna(), None).to_dict("records")

    history = records(wb.processing.history(audience_id))
    return history, [records(wb.processing.composition(audience_id, row["day"]))
                     for row in history]


@pytest.fixture
def loaded(wb, write_csv, monkeypatch):
    monkeypatch.setenv(BACKFILL_VARIABLE, "0")  # activation starts nothing; tests call it
    load(wb, write_csv)
    return wb


def test_the_days_are_those_before_the_activation_day():
    assert backfill_days(TODAY, 3) == (D - timedelta(days=2), D)


def test_a_backfilled_history_equals_what_processing_those_days_records(loaded):
    wb = loaded
    buyers = wb.audiences.activate(wb.audiences.create(BUYERS).id).id
    wb.processing.run(D - timedelta(days=1))  # buyers has a history of its own: one day
    buyers_before = wb.processing.history(buyers).to_dict("records")
    runs_before = {r["audience_id"]: r["run_id"] for r in _rows(wb, buyers)}
    women = wb.audiences.activate(wb.audiences.create(WOMEN).id)
    assert women.activated_on == TODAY and women.last_processed_on is None

    report = backfill(wb.processing, women.id, 3)

    assert [d.day for d in report.days] == [D - timedelta(days=2), D - timedelta(days=1), D]
    history, composition = recorded(wb, women.id)
    assert [row["day"] for row in history] == [d.day for d in report.days]
    assert history[0]["added"] == history[0]["size"] and any(composition)
    # Both groups recorded, as processing records them (the holdout is its own column).
    assert all(row["treatment"] + row["holdout"] == row["size"] for row in history)
    assert wb.audiences.get(women.id).last_processed_on == D
    # Nothing of the other audience changed: same rows, from the same run, no new days.
    assert wb.processing.history(buyers).to_dict("records") == buyers_before
    assert {r["audience_id"]: r["run_id"] for r in _rows(wb, buyers)} == runs_before
    # Processing those days for every audience records the same for the backfilled one.
    wb.processing.run(date_from=D - timedelta(days=2), date_to=D)
    assert recorded(wb, women.id) == (history, composition)


def _rows(wb, audience_id):
    from workbench.store.processing import ProcessingRecords

    return ProcessingRecords(wb.store).history(audience_id)


def test_an_audience_that_reads_another_is_backfilled_without_recording_the_other(loaded):
    wb = loaded
    women = wb.audiences.activate(wb.audiences.create(WOMEN).id).id
    buyers = wb.audiences.activate(wb.audiences.create({**BUYERS, "rules": [
        *BUYERS["rules"], {"attribute": "audience", "op": "in", "value": [women]}]}).id).id
    backfill(wb.processing, buyers, 2)
    assert len(wb.processing.history(buyers)) == 2
    assert wb.processing.history(women).empty  # read, evaluated, not recorded
    assert list(wb.audiences.members(buyers)["customer_id"]) == ["ann"]  # a woman who bought


def test_only_an_active_audience_is_backfilled_and_0_days_does_nothing(loaded):
    wb = loaded
    draft = wb.audiences.create(WOMEN).id
    with pytest.raises(Conflict, match="is draft; only an active audience is backfilled"):
        backfill(wb.processing, draft, 3)
    wb.audiences.activate(draft)
    assert backfill(wb.processing, draft, 0) is None and wb.processing.history(draft).empty
    assert backfill(wb.processing, draft) is None  # the setting: 0 here
    assert wb.start_backfill(draft) is None


def test_activation_starts_the_backfill_in_the_background(loaded, monkeypatch):
    wb = loaded
    monkeypatch.setenv(BACKFILL_VARIABLE, "2")
    wb.settings = load_settings(wb.home.root)
    assert wb.settings.backfill_days == 2
    women = wb.audiences.activate(wb.audiences.create(WOMEN).id).id  # returns at once
    logs = list((wb.home.runs_dir / "processing").glob(f"backfill-{women}-*.log"))
    assert len(logs) == 1
    deadline = time.monotonic() + 300  # a kernel starts: seconds, on a busy machine more
    while time.monotonic() < deadline and "backfill run #" not in logs[0].read_text() \
            and "failed" not in logs[0].read_text():
        time.sleep(0.5)
    said = logs[0].read_text()
    assert f"of audience {women} succeeded: {D - timedelta(days=1)} to {D}" in said, said
    assert [row["day"] for row in wb.processing.history(women).to_dict("records")] == [
        D - timedelta(days=1), D]
    run = wb.processing.runs(limit=1)[0]
    assert run["status"] == "succeeded" and f"backfill-{women}-" in run["notebook"]
    entry = wb.audit_trail.frame(limit=5)
    assert "backfill" in json.dumps(entry.to_dict("records"), default=str)



def test_activation_says_whether_its_backfill_started(loaded, monkeypatch):
    wb = loaded
    monkeypatch.setattr(wb.audiences, "_activated", lambda _id: "runs/processing/b.log")
    started = wb.audiences.activate(wb.audiences.create(WOMEN).id)
    assert [str(w) for w in started.warnings] == [
        "backfill: the days before today are being processed in the background (log: "
        "runs/processing/b.log)"]

    def cannot(_id):  # found by the hostile pass: activated, yet the command said it failed
        raise NotADirectoryError(20, "Not a directory")

    monkeypatch.setattr(wb.audiences, "_activated", cannot)
    buyers = wb.audiences.activate(wb.audiences.create(BUYERS).id)
    assert buyers.status == "active"
    assert str(buyers.warnings[0]).startswith("backfill: not started (Not a directory); "
                                              "`workbench process --from D1 --to D2`")


def test_a_killed_backfill_is_said_on_its_audience_only(loaded):
    from workbench.store.processing import ProcessingRecords

    wb = loaded
    buyers = wb.audiences.activate(wb.audiences.create(BUYERS).id).id
    women = wb.audiences.activate(wb.audiences.create(WOMEN).id).id
    records = ProcessingRecords(wb.store)
    run = records.start_run(D, D, "ada")
    records.set_notebook(run, "runs/processing/backfill.ipynb")
    assert wb.processing.recover("runs/processing/backfill.ipynb", "the kernel died",
                                 [women]) == run
    assert "the kernel died" in wb.audiences.get(women).processing_error
    assert wb.audiences.get(buyers).processing_error is None


def test_the_setting_is_checked(home, monkeypatch):
    monkeypatch.setenv(BACKFILL_VARIABLE, "thirty")
    with pytest.raises(SettingsError, match="WORKBENCH_BACKFILL_DAYS: a whole number of days"):
        load_settings(home)
    monkeypatch.delenv(BACKFILL_VARIABLE)
    assert load_settings(home).backfill_days == 30  # the template's
    settings = home / "workbench.toml"
    settings.write_text(settings.read_text().replace("backfill_days = 30",
                                                     "backfill_days = -1"))
    with pytest.raises(SettingsError, match="backfill_days: a whole number of days from 0 to "
                                            "3660 \\(0: no backfill\\), not -1"):
        load_settings(home)
    for text in ("true", '"30"', "3.5"):
        settings.write_text(settings.read_text().replace("backfill_days = -1",
                                                         f"backfill_days = {text}"))
        with pytest.raises(SettingsError, match="a whole number of days from 0 to 3660"):
            load_settings(home)
        settings.write_text(settings.read_text().replace(f"backfill_days = {text}",
                                                         "backfill_days = -1"))
    for text in ("99999", "\u0663"):  # too many; an Arabic-Indic 3 is no ASCII digit
        monkeypatch.setenv(BACKFILL_VARIABLE, text)
        with pytest.raises(SettingsError, match=r"^\$WORKBENCH_BACKFILL_DAYS: a whole number"):
            load_settings(home)


def test_processing_waits_for_an_activations_backfill(loaded):
    # `workbench demo` then `process`, or a script's activate then process: refused while the
    # backfill held the lock; now the run waits for it (any other holder is still refused).
    import threading

    from workbench.files import exclusive_lock
    from workbench.store.processing import ProcessingRecords

    wb = loaded
    wb.audiences.activate(wb.audiences.create(WOMEN).id)
    records = ProcessingRecords(wb.store)
    records.set_notebook(records.start_run(D, D, "ada"), "runs/processing/backfill-1-x.ipynb")
    held = threading.Event()

    def backfilling():
        with exclusive_lock(wb.home.root / ".processing.lock", wait=0, holder="backfill"):
            held.set()
            # sleep, not an Event's wait(2): under libfaketime (.ci/run) a timed wait on a
            # lock is given the faked monotonic deadline, 400 days ahead, and never returns
            time.sleep(2)

    holder = threading.Thread(target=backfilling)
    holder.start()
    held.wait()
    report = wb.processing.run(D)  # waits for the lock instead of refusing
    holder.join()
    assert [d.day for d in report.days] == [D] and not report.failures


def test_the_demo_is_activated_without_a_backfill(loaded):
    audience = loaded.audiences.activate(loaded.audiences.create(WOMEN).id, backfill=False)
    assert audience.status == "active" and audience.warnings == []
