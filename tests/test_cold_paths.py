"""Reads that must stay cheap: listing and showing audiences never start the query engine."""

from __future__ import annotations

import subprocess
import sys

from tests.audience_data import D, load

PROBE = """
import sys
from workbench.cli import main
for command in (["audience", "list"], ["audience", "list", "--json"], ["audience", "show", "1"],
                ["audience", "show", "2", "--json"]):
    assert main(["--home", sys.argv[1], "--user", "ada", *command]) == 0
assert "duckdb" not in sys.modules, "the query engine was imported"
assert "pandas" not in sys.modules, "pandas was imported"
"""


def test_list_and_show_never_open_the_query_engine(wb, write_csv):
    load(wb, write_csv)
    first = wb.audiences.activate(wb.audiences.create({"name": "Women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    wb.audiences.create({"name": "Draft", "rules": [
        {"attribute": "audience", "op": "in", "value": [first.id]},
        {"attribute": "appended.points", "op": "gt", "value": 10}]})
    wb.processing.run(D)
    done = subprocess.run([sys.executable, "-c", PROBE, str(wb.home.root)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Women" in done.stdout and "Appended points greater than 10" in done.stdout
    assert "Member of audience" in done.stdout or "Women" in done.stdout
