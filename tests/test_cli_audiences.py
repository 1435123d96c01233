"""`workbench audience ...` as a script meets it."""

from __future__ import annotations

import json

import pytest

from tests.audience_data import load
from tests.test_cli import run

DEFINITION = {"name": "Women", "rules": [{"attribute": "gender", "op": "in", "value": ["female"]}]}


@pytest.fixture
def home(home, wb, write_csv):
    load(wb, write_csv)
    return home


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_create_show_update_activate_round_trip(home, tmp_path):
    created = run("audience", "create", write(tmp_path, "a.json", DEFINITION), home=home)
    assert created.returncode == 0, created.stderr
    audience = json.loads(created.stdout)
    assert (audience["id"], audience["status"], audience["summary"]) == (
        1, "draft", ["Gender in female"])
    shown = json.loads(run("audience", "show", "1", "--json", home=home).stdout)
    for name in ("id", "name", "status", "created_by", "created_on", "last_processed_on",
                 "size", "base", "percent_of_base", "summary", "definition"):
        assert name in shown
    # Edit what `show --json` printed: the version it carries guards the save.
    shown["definition"]["name"] = "Women (edited)"
    edited = write(tmp_path, "edited.json", shown)
    assert run("audience", "update", "1", edited, home=home).returncode == 0
    stale = run("audience", "update", "1", edited, home=home)
    assert stale.returncode == 1 and "after the version 1 you edited" in stale.stderr
    assert run("audience", "activate", "1", home=home).returncode == 0
    frozen = run("audience", "update", "1", write(tmp_path, "b.json", DEFINITION),
                 "--version", "2", home=home)
    assert frozen.returncode == 1 and "active and frozen" in frozen.stderr
    listing = run("audience", "list", "--sort", "name", home=home)
    assert "Women (edited)" in listing.stdout and "active" in listing.stdout


def test_estimate_prints_size_and_base(home, tmp_path):
    done = run("audience", "estimate", write(tmp_path, "a.json", DEFINITION), "--as-of",
               "2026-03-10", "--json", home=home)
    assert json.loads(done.stdout) == {
        "size": 3, "base": 6, "percent_of_base": 50.0, "as_of": "2026-03-10",
        "summary": ["Gender in female"], "warnings": [], "processed_through": None}
    text = run("audience", "estimate", write(tmp_path, "a.json", DEFINITION), "--as-of",
               "2026-03-10", home=home)
    assert text.stdout.strip() == "3 of 6 customers (50.0% of base) as of 2026-03-10"


def test_invalid_definitions_exit_2_naming_the_rule(home, tmp_path):
    bad = {"name": "x", "rules": [{"attribute": "age", "op": "in", "value": []}]}
    done = run("audience", "create", write(tmp_path, "bad.json", bad), home=home)
    assert done.returncode == 2
    assert done.stderr.strip() == ("workbench: invalid audience definition: rule 1 (age): "
                                   "in needs a non-empty list of values; got []")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    done = run("audience", "estimate", broken, home=home)
    assert done.returncode == 2 and "not valid JSON" in done.stderr
    assert run("audience", "show", "42", home=home).returncode == 2


def test_unseen_values_warn_on_stderr_but_save(home, tmp_path):
    definition = {"name": "x", "rules": [
        {"attribute": "tag", "op": "has", "value": ["store_vist"]}]}
    done = run("audience", "create", write(tmp_path, "w.json", definition), home=home)
    assert done.returncode == 0
    assert "warning: rule 1 (tag): not seen in the data yet: 'store_vist'" in done.stderr


def test_members_csv_and_explain(home, tmp_path):
    run("audience", "create", write(tmp_path, "a.json", DEFINITION), home=home)
    done = run("audience", "members", "1", "--as-of", "2026-03-10", home=home)
    assert done.stdout.splitlines() == ["customer_id", "ann", "eve", "fay"]
    out = tmp_path / "m.csv"
    run("audience", "members", "1", "--as-of", "2026-03-10", "--out", out, home=home)
    assert out.read_text().splitlines() == ["customer_id", "ann", "eve", "fay"]
    not_processed = run("audience", "members", "1", home=home)
    assert not_processed.returncode == 2 and "not been processed yet" in not_processed.stderr
    explained = run("audience", "explain", "1", "bob", "--as-of", "2026-03-10", home=home)
    assert explained.stdout.splitlines() == [
        "bob is not a member as of 2026-03-10",
        "  rule 1: Gender in female: does not hold (value: male)"]


def test_viewer_cannot_create(home, tmp_path):
    done = run("audience", "create", write(tmp_path, "a.json", DEFINITION), home=home,
               env={"WORKBENCH_USER": "vic"})
    assert done.returncode == 1 and "vic is a viewer" in done.stderr


def test_archive_from_the_command_line(tmp_path):
    from tests.test_cli import run

    home = tmp_path / "h"
    assert run("init", "--home", home).returncode == 0
    path = tmp_path / "a.json"
    path.write_text('{"name": "Everyone", "rules": []}')
    assert run("audience", "create", path, home=home).returncode == 0
    assert run("audience", "activate", "1", home=home).returncode == 0
    done = run("audience", "archive", "1", "--json", home=home)
    assert done.returncode == 0, done.stderr
    assert '"status": "archived"' in done.stdout
    again = run("audience", "archive", "1", home=home)
    assert again.returncode == 1 and again.stderr.count("\n") == 1
    assert "is archived already; only an active audience can be archived" in again.stderr
    huge = run("audience", "show", "9" * 30, home=home)
    assert huge.returncode == 2 and "audience id must be a positive whole number" in huge.stderr
