"""The audit trail (SPEC 8): every change recorded with who, when, what before -> after and the
entry point, read from Python, the CLI and by audience or export; never a secret in it. Runs on
SQLite and PostgreSQL (conftest.BOTH_STORES)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

import workbench
from tests.audience_data import D, load
from tests.conftest import ADMIN, NOW, add_partner, women_export
from tests.test_cli import run
from workbench.audit import changed, created, describe
from workbench.store.schema import audit, destinations

WOMEN = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}


def test_what_changed_is_said_before_and_after():
    before = {"name": "A", "schedule": {"time": "06:00", "every": 1}, "keys": ["x"]}
    after = {"name": "B", "schedule": {"time": "07:00", "every": 1}, "keys": ["x"]}
    assert changed(before, after) == {"name": ["A", "B"], "schedule.time": ["06:00", "07:00"]}
    assert created({"name": "A", "description": "", "port": 22}) == {"name": ["A"], "port": [22]}
    assert describe({"name": ["A", "B"], "port": [22], "private_key": "changed"}) == \
        "name: 'A' → 'B'; port: 22; private key changed"
    assert describe({}) == "(nothing changed)"


def test_an_unknown_entry_point_is_refused(home):
    with pytest.raises(ValueError, match="via must be one of"):
        workbench.open(home, user=ADMIN, via="telnet")


def test_audience_lifecycle_is_recorded(wb, write_csv):
    load(wb, write_csv)
    draft = wb.audiences.create(WOMEN)
    wb.audiences.update(draft.id, {**WOMEN, "name": "Women only"}, version=draft.version)
    wb.audiences.activate(draft.id)
    copy = wb.audiences.duplicate(draft.id)
    wb.audiences.estimate(WOMEN, D)  # a read: not recorded

    ingested = wb.audit_trail.entries(subjects=("data",))[-1]
    assert ingested.changes == {"kind": ["profiles"], "file": ["profiles.csv"],
                                "accepted": [ingested.changes["accepted"][0]], "rejected": [0]}
    entries = wb.audit_trail.entries(subjects=("audience",))
    assert [e.action for e in entries] == ["audience.duplicate", "audience.activate",
                                           "audience.update", "audience.create"]
    assert {(e.user, e.via) for e in entries} == {(ADMIN, "python")}
    assert entries[0].at == NOW and entries[0].subject_id == copy.id
    assert entries[0].changes["copied_from"] == [draft.id]
    assert entries[2].text == "name: 'Women' → 'Women only'"
    assert entries[3].changes["rules"] == [draft.summary]
    assert [e.action for e in wb.audit_trail.entries(audience=draft.id)] == [
        "audience.activate", "audience.update", "audience.create"]

    frame = wb.audit(audience=draft.id)
    assert list(frame.columns) == ["at", "user", "via", "action", "subject", "subject_id",
                                   "changes"]
    assert frame.iloc[1]["changes"] == "name: 'Women' → 'Women only'"


@pytest.fixture
def delivering(wb, write_csv, server):
    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create(WOMEN).id)
    wb.processing.run(D)
    add_partner(wb, server)
    return wb


def test_exports_runs_and_destinations_are_recorded_without_secrets(delivering, server):
    wb = delivering
    export_id = women_export(wb)
    wb.exports.update(export_id, {**wb.exports.get(export_id).config.to_json(),
                                  "file_name": "women_{run}_v2.csv"})
    wb.exports.pause(export_id)
    wb.exports.activate(export_id)
    wb.export_runs.create(export_id)
    with wb.store.read() as conn:
        first_sealed = conn.execute(select(destinations.c.sealed_password)).scalar_one()
    wb.destinations.update("partner", {**_partner(server), "password": "n3w-s3cret",
                                       "path": str(server.writable)})

    actions = [e.action for e in wb.audit_trail.entries(export=export_id)]
    assert actions == ["run.start", "export.activate", "export.pause", "export.update",
                       "export.create"]
    updated = wb.audit_trail.entries(export=export_id)[3]
    assert updated.changes == {"file_name": ["women_{run}.csv", "women_{run}_v2.csv"]}
    assert {"export.create", "run.start", "audience.create"} <= {
        e.action for e in wb.audit_trail.entries(audience=1)}
    change = wb.audit_trail.entries(subjects=("destination",))[0]
    assert change.action == "destination.update" and change.text == "password changed"
    assert wb.audit_trail.entries(subjects=("destination",))[1].changes["password"] == "set"

    # Neither a secret nor its sealed form is anywhere in the trail.
    with wb.store.read() as conn:
        text = json.dumps([list(row) for row in conn.execute(select(audit))], default=str)
        sealed = list(conn.execute(select(destinations.c.sealed_password)).scalars())
    assert sealed
    for secret in [server.password, "n3w-s3cret", first_sealed, *sealed]:
        assert secret not in text


def _partner(server) -> dict:
    return {"name": "partner", "host": server.host, "port": server.port,
            "path": str(server.writable), "username": server.user}


def test_the_cli_says_cli_and_reads_the_trail(wb, write_csv, tmp_path):
    load(wb, write_csv)
    spec = tmp_path / "women.json"
    spec.write_text(json.dumps(WOMEN))
    assert run("audience", "create", spec, home=wb.home.root).returncode == 0
    listed = run("audit", "--audience", "1", "--json", home=wb.home.root)
    assert listed.returncode == 0, listed.stderr
    (entry,) = [e for e in json.loads(listed.stdout) if e["action"] == "audience.create"]
    assert (entry["user"], entry["via"], entry["subject_id"]) == (ADMIN, "cli", 1)
    text = run("audit", "--since", "2026-03-11", home=wb.home.root).stdout
    assert "audience.create" in text and "name: 'Women'" in text
    assert run("audit", "--since", "2026-03-12", home=wb.home.root).stdout.count("\n") == 1
    bad = run("audit", "--export", "0", home=wb.home.root)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_the_scheduler_says_scheduler(delivering, clock):
    women_export(delivering, schedule={"start": "2026-03-11T06:00"})
    clock.set(datetime(2026, 3, 11, 6, 1, tzinfo=UTC))
    done = run("scheduler", "--once", home=delivering.home.root)
    assert done.returncode == 0, done.stderr
    (made,) = delivering.audit_trail.entries(subjects=("export",))[:1]
    assert (made.action, made.via, made.changes) == ("run.schedule", "scheduler",
                                                     {"runs_created": [1]})
