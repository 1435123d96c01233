"""The notebooks run end to end under nbval against a real home with sample data."""

from __future__ import annotations

import os
import subprocess
import sys
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
        # Data ending yesterday (the default), so the notebook's default day has recent
        # activity.
        wb.customers.sample(2000, seed=7)
    return root


@pytest.mark.parametrize("notebook", ["notebooks/explore_audiences.ipynb"])
def test_notebook_runs_under_nbval(sample_home, notebook):
    env = {**os.environ, "WORKBENCH_HOME": str(sample_home), "WORKBENCH_USER": "ada"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         str(ROOT / notebook)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout


def test_a_notebook_that_cannot_start_is_one_line(tmp_path, monkeypatch):
    """Our translation of papermill's failures (a fake papermill: this is about our message)."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel

    from workbench.errors import NotebookFailed
    from workbench.notebooks import execute

    def no_kernel(*args, **kwargs):
        raise NoSuchKernel("python3")

    monkeypatch.setattr(papermill, "execute_notebook", no_kernel)
    with pytest.raises(NotebookFailed) as raised:
        execute("nightly_processing", tmp_path / "out.ipynb", {}, stream=False)
    assert "the notebook could not run (NoSuchKernel" in str(raised.value)
    assert "\n" not in str(raised.value)
