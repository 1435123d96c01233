"""The command line as scripts meet it: exit codes, one-line errors, JSON, start-up cost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKBENCH = str(Path(sys.executable).with_name("workbench"))


def run(*args, home=None, env=None):
    environment = {**os.environ, "WORKBENCH_USER": "ada", **(env or {})}
    environment.pop("WORKBENCH_HOME", None)
    if home:
        environment["WORKBENCH_HOME"] = str(home)
    return subprocess.run([WORKBENCH, *map(str, args)], capture_output=True, text=True,
                          env=environment, timeout=120)


def test_init_then_init_again(tmp_path):
    home = tmp_path / "h"
    first = run("init", "--home", home, "--timezone", "Europe/Berlin")
    assert first.returncode == 0 and "created workbench home" in first.stdout
    again = run("init", home=home)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert 'timezone = "Europe/Berlin"' in (home / "workbench.toml").read_text()


def test_ingest_prints_counts_and_json(tmp_path, home):
    path = tmp_path / "p.csv"
    path.write_text("customer_id,gender\nC1,F\n,M\n")
    done = run("ingest", "profiles", path, "--home", home)
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == "profiles: accepted 1, rejected 1, orphans 0"
    as_json = run("--json", "ingest", "profiles", path, home=home)
    report = json.loads(as_json.stdout)
    assert (report["accepted"], report["rejected"], report["updated"]) == (1, 1, 1)


@pytest.mark.parametrize(("args", "code", "message"), [
    (["ingest", "profiles", "missing.csv"], 2, "missing.csv: no such file"),
    (["ingest", "widgets", "x.csv"], 2, "invalid choice"),
    (["init", "--timezone", "Nowhere/Land"], 2, "unknown timezone"),
    (["ingest", "profiles", "x.csv", "--schema", "a=int"], 2, "--schema is for `ingest appended`"),
])
def test_user_errors_exit_2_with_one_line_and_no_traceback(home, args, code, message):
    done = run(*args, home=home)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_no_home_is_a_usage_error(tmp_path):
    done = run("sample", "--customers", "10")
    assert done.returncode == 2
    assert done.stderr.strip() == ("workbench: no workbench home: pass --home DIR or set "
                                   "WORKBENCH_HOME")


def test_strict_ingest_with_rejects_exits_1(tmp_path, home):
    path = tmp_path / "p.csv"
    path.write_text("customer_id\nC1\n\n\"\"\n")
    done = run("ingest", "profiles", path, "--strict", home=home)
    assert done.returncode == 1
    assert "nothing stored (--strict)" in done.stderr


def test_viewer_cannot_ingest(tmp_path, home):
    path = tmp_path / "p.csv"
    path.write_text("customer_id\nC1\n")
    done = run("ingest", "profiles", path, home=home, env={"WORKBENCH_USER": "vic"})
    assert done.returncode == 1
    assert "vic is a viewer" in done.stderr


def test_the_cli_module_does_not_import_heavy_libraries():
    probe = ("import sys, workbench.cli; "
             "print(sorted(m for m in ('duckdb', 'pandas', 'pyarrow', 'altair', 'papermill', "
             "'sqlalchemy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip() == "[]"


def test_sample_ingests_a_base_and_the_same_seed_gives_the_same_data(home):
    first = run("--json", "sample", "--customers", "300", "--seed", "3", home=home)
    assert first.returncode == 0, first.stderr
    reports = {r["kind"]: r for r in json.loads(first.stdout)}
    assert reports["profiles"]["accepted"] == 300 and reports["transactions"]["accepted"] > 1000
    assert all(r["rejected"] == 0 and r["orphans"] == 0 for r in reports.values())
    again = json.loads(run("--json", "sample", "--customers", "300", "--seed", "3",
                           home=home).stdout)
    assert all(r["new"] == 0 and r["updated"] == reports[r["kind"]]["accepted"] for r in again)


def test_every_command_has_help():
    from workbench.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    invocations = [["--help"]]
    for name, sub in commands.items():
        invocations.append([name, "--help"])
        for action in sub._actions:
            if isinstance(action, type(parser._subparsers._group_actions[0])):
                invocations += [[name, verb, "--help"] for verb in action.choices]
    for args in invocations:
        done = run(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert done.stdout.startswith("usage: workbench"), args
