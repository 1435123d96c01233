"""`workbench demo`: the demo audiences are valid on sample data and created once."""

from __future__ import annotations

from datetime import timedelta

from tests.test_cli import run


def test_demo_audiences_are_created_once_and_are_not_empty(home, clock):
    yesterday = str(clock.now().date() - timedelta(days=1))
    assert run("sample", "--customers", "2000", home=home).returncode == 0
    first = run("demo", home=home)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created and activated: #1 Young store visitors")
    assert "nothing changed" in run("demo", home=home).stdout
    done = run("process", "--days", "2", home=home)  # the sample ends yesterday
    assert done.returncode == 0, done.stderr
    listing = run("audience", "list", "--sort", "name", home=home).stdout.splitlines()
    assert len(listing) == 4 and all(yesterday in line for line in listing[1:])
    sizes = [int(line.split()[-1].replace(",", "")) for line in listing[1:]]
    assert all(size > 0 for size in sizes), listing
