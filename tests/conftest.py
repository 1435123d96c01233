"""Fixtures as a chain: a home folder -> an initialised home -> a Workbench on it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import workbench
from workbench.home import init_home

ADMIN = "ada"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home"
    init_home(root, admin=ADMIN, timezone="UTC")
    return root


@pytest.fixture
def wb(home: Path):
    with workbench.open(home, user=ADMIN) as opened:
        yield opened


def csv_writer(folder: Path):
    """write("name.csv", header, *rows) -> path of a CSV file written with csv.writer."""

    def write(name: str, header: list[str], *rows: list) -> Path:
        path = folder / name
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return write


@pytest.fixture
def write_csv(tmp_path: Path):
    return csv_writer(tmp_path)


@pytest.fixture(scope="module")
def sample_wb(tmp_path_factory):
    """A workbench on the hand-made base of tests/audience_data.py, shared by a module's tests
    (they must not change customer data)."""
    from tests.audience_data import load

    folder = tmp_path_factory.mktemp("sample")
    init_home(folder / "home", admin=ADMIN, timezone="UTC")
    with workbench.open(folder / "home", user=ADMIN) as opened:
        load(opened, csv_writer(folder))
        yield opened


def read_rejects(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
