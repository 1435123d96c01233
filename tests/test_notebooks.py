"""The notebooks run end to end under nbval against a real home with sample data."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

import workbench
from workbench.home import init_home

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nb") / "home"
    init_home(root, admin="ada")
    with workbench.open(root, user="ada") as wb:
        # Data ending yesterday (UTC home), so the notebook's default day has recent activity.
        wb.customers.sample(2000, seed=7, until=date.today() - timedelta(days=1))
    return root


@pytest.mark.parametrize("notebook", ["notebooks/explore_audiences.ipynb"])
def test_notebook_runs_under_nbval(sample_home, notebook):
    env = {**os.environ, "WORKBENCH_HOME": str(sample_home), "WORKBENCH_USER": "ada"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         str(ROOT / notebook)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
