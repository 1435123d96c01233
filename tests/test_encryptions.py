"""Encryptions (PGP) through the service and the CLI, with keys made by real gpg."""

from __future__ import annotations

import json

import pytest

import workbench
from tests.test_cli import run
from tests.test_delivery_pgp import keys  # noqa: F401 - the session's real gpg keys
from workbench.errors import InvalidInput, PermissionDenied


def test_add_show_and_list_through_the_cli(home, tmp_path, keys):  # noqa: F811
    path = tmp_path / "pgp.json"
    path.write_text(json.dumps({"name": "partner-pgp", "type": "pgp",
                                "keys": [keys.alice.armored, keys.soon.armored]}))
    done = run("encryption", "add", path, "--json", home=home)
    assert done.returncode == 0, done.stderr
    added = json.loads(done.stdout)
    assert [k["fingerprint"] for k in added["keys"]] == [keys.alice.fingerprint,
                                                        keys.soon.fingerprint]
    assert "expires on" in done.stderr and "warning" in done.stderr  # the soon key
    assert added["earliest_expiry"] == keys.soon.expires.isoformat()
    listed = run("encryption", "list", home=home)
    assert "partner-pgp" in listed.stdout and keys.soon.expires.isoformat() in listed.stdout
    shown = run("encryption", "show", "partner-pgp", home=home)
    assert keys.alice.fingerprint in shown.stdout and "Alice Valid" in shown.stdout


def test_refused_keys_say_why_in_one_line(home, tmp_path, keys):  # noqa: F811
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "keys": [keys.alice.armored, keys.sam.armored]}))
    done = run("encryption", "add", path, home=home)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "key 2" in done.stderr and "signing-only" in done.stderr


def test_only_admins_edit_encryptions_and_updates_replace_keys(home, keys):  # noqa: F811
    with workbench.open(home, user="ada") as wb:
        added = wb.encryptions.add({"name": "p", "keys": [keys.alice.armored]})
        updated = wb.encryptions.update("p", {"name": "p", "keys": [keys.bob.armored]})
        assert [k["fingerprint"] for k in updated.keys] == [keys.bob.fingerprint]
        assert updated.version == added.version + 1
        assert wb.encryptions.armored_keys("p") == [keys.bob.armored]
        with pytest.raises(InvalidInput, match="is revoked"):
            wb.encryptions.add({"name": "r", "keys": [keys.rita.armored]})
    with workbench.open(home, user="someone") as viewer, pytest.raises(PermissionDenied):
        viewer.encryptions.add({"name": "v", "keys": [keys.alice.armored]})
