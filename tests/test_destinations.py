"""Destinations through the service and the CLI, against a real OpenSSH server on loopback:
adding with a fetched host key, testing, updating without repeating secrets, removal guarded by
exports, and a scan of every output and every file for the secrets used."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.audience_data import D, load
from tests.conftest import ADMIN
from tests.sshd import keygen, skip_reason
from tests.test_cli import run

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
PASSPHRASE = "correct horse battery staple 42"




class Transcript:
    """Runs the CLI as a person would and keeps every line it printed."""

    def __init__(self, home: Path):
        self.home = home
        self.outputs: list[str] = []

    def __call__(self, *args, expect: int = 0):
        done = run(*args, home=self.home)
        self.outputs += [done.stdout, done.stderr]
        assert done.returncode == expect, (args, done.stdout, done.stderr)
        return done


@pytest.fixture
def cli(wb, write_csv):
    load(wb, write_csv)
    wb.audiences.activate(wb.audiences.create({"name": "Women", "rules": [
        {"attribute": "gender", "op": "in", "value": ["female"]}]}).id)
    wb.processing.run(D)
    return Transcript(wb.home.root)


def write(folder: Path, name: str, data: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def test_add_with_a_fetched_host_key_test_and_create_an_export(server, cli, tmp_path):
    partner = write(tmp_path, "partner.json", {
        "name": "partner", "type": "sftp", "host": server.host, "port": server.port,
        "path": str(server.writable), "username": server.user, "password": server.password})
    added = cli("destination", "add", partner, "--trust-host-key")
    fingerprint = subprocess.run(["ssh-keygen", "-lf", str(server.host_key_pub)],
                                 capture_output=True, text=True).stdout.split()[1]
    assert f"fingerprint: {fingerprint}" in added.stderr
    assert server.host_key_line() in added.stderr and fingerprint in added.stdout
    tested = cli("destination", "test", "partner")
    assert "writable" in tested.stdout and tested.stdout.count("ok ") >= 4
    export = write(tmp_path, "export.json", {
        "name": "Women weekly", "audience": 1, "file_name": "women_%Y%m%d.csv",
        "schedule": {"start": "2099-01-04T06:00", "timezone": "Europe/Berlin",
                     "repeat": {"every": 1, "unit": "weeks"}},
        "destination": "partner", "columns": [{"attribute": "customer_id"}]})
    created = cli("export", "create", export)
    assert "Women weekly (active" in created.stdout and "you may:" in created.stdout
    # In use: the destination stays until the export is canceled.
    refused = cli("destination", "remove", "partner", expect=1)
    assert "is used by export(s) 1 (Women weekly)" in refused.stderr
    cli("export", "cancel", "1")
    cli("destination", "remove", "partner")


def test_updates_keep_secrets_and_a_new_port_needs_its_key_again(server, cli, tmp_path):
    base = {"name": "p", "type": "sftp", "host": server.host, "port": server.port,
            "path": str(server.writable), "username": server.user}
    cli("destination", "add", write(tmp_path, "a.json", {
        **base, "password": server.password, "host_key": server.host_key_line()}))
    cli("destination", "update", "p", write(tmp_path, "b.json", {**base, "path": "/"}))
    cli("destination", "update", "p", write(tmp_path, "c.json", base))  # no secret: kept
    assert "writable" in cli("destination", "test", "p").stdout
    moved = cli("destination", "update", "p", write(tmp_path, "d.json",
                                                    {**base, "port": server.port + 1}), expect=2)
    assert "host_key: required" in moved.stderr


def test_failures_are_precise_and_one_line(server, cli, tmp_path):
    base = {"type": "sftp", "host": server.host, "port": server.port, "username": server.user,
            "host_key": server.host_key_line()}
    cli("destination", "add", write(tmp_path, "w.json", {
        **base, "name": "wrong", "path": str(server.writable), "password": "not-it-123"}))
    cli("destination", "add", write(tmp_path, "r.json", {
        **base, "name": "ro", "path": str(server.readonly), "password": server.password}))
    wrong = cli("destination", "test", "wrong", expect=1)
    assert "did not accept the credentials" in wrong.stderr and wrong.stderr.count("\n") == 1
    readonly = cli("destination", "test", "ro", expect=1)
    assert "not writable" in readonly.stderr and readonly.stderr.count("\n") == 1


def test_secrets_never_show_anywhere(server, cli, tmp_path, wb, store):
    """Password, private key and passphrase: not in any output, the store, the home, the
    notebooks, the reprs."""
    key = keygen(tmp_path / "client_ed25519", "ed25519", passphrase=PASSPHRASE)
    server.authorize(Path(f"{key}.pub"))
    secret_key = key.read_text()
    key_lines = [line for line in secret_key.splitlines() if line and "PRIVATE KEY" not in line]
    base = {"type": "sftp", "host": server.host, "port": server.port, "username": server.user,
            "path": str(server.writable), "host_key": server.host_key_line()}
    cli("destination", "add", write(tmp_path, "pw.json", {
        **base, "name": "pw", "password": server.password}))
    cli("destination", "add", write(tmp_path, "key.json", {
        **base, "name": "key", "private_key": secret_key, "passphrase": PASSPHRASE}))
    assert "writable" in cli("destination", "test", "key").stdout
    cli("destination", "show", "key", "--json")
    cli("destination", "list", "--json")
    bad = cli("destination", "add", write(tmp_path, "bad.json", {
        **base, "name": "bad", "private_key": secret_key, "passphrase": "wrong " + PASSPHRASE}),
        expect=2)
    assert "passphrase" in bad.stderr
    cli("process", "--as-of", str(D))  # an audit notebook, to scan too
    for path in tmp_path.glob("*.json"):
        path.unlink()  # the inputs hold the secrets on purpose; they are not ours
    reprs = [repr(wb.destinations.target("key")), repr(wb.destinations.get("key")),
             str(wb.destinations.get("pw").to_json()), repr(wb.settings)]
    texts = cli.outputs + reprs
    files = [p for p in wb.home.root.rglob("*") if p.is_file()]
    if store:  # PostgreSQL: every row of every table, as text
        from sqlalchemy import inspect, text

        with wb.store.read() as conn:
            for table in inspect(conn).get_table_names():
                texts += [str(row) for row in conn.execute(text(f'SELECT * FROM "{table}"'))]
    else:
        assert any(p.name == "workbench.db" for p in files)
    secrets = [server.password, PASSPHRASE, *key_lines]
    for secret in secrets:
        for text in texts:
            assert secret not in text
        for path in files:
            assert secret.encode() not in path.read_bytes(), f"{secret[:6]}… in {path}"
    # The sealed values are there, and open with the home's key.
    target = wb.destinations.target("pw")
    assert target.password.reveal() == server.password


def test_only_admins_manage_destinations(server, wb, tmp_path):
    import workbench
    from workbench.errors import PermissionDenied

    with workbench.open(wb.home.root, user="analyst-less") as viewer:
        with pytest.raises(PermissionDenied, match="destination.edit needs the admin role"):
            viewer.destinations.add({"name": "x", "host": "h", "path": "/", "username": "u",
                                     "password": "p", "host_key": server.host_key_line()})
    assert ADMIN == "ada"
