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


@pytest.fixture
def write_csv(tmp_path: Path):
    """write_csv("name.csv", header, *rows) -> path of a CSV file written with csv.writer."""

    def write(name: str, header: list[str], *rows: list) -> Path:
        path = tmp_path / name
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    return write


def read_rejects(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
