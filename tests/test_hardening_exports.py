"""Small refusals and plain words the hostile pass asked for: a full remote disk and a dropped
connection said as such, keys that expire before an export's next runs, CSV formulas
neutralised on request, hosts that look like options, relative paths, role names, a folder
given to ingest, birth dates that cannot be true."""

from __future__ import annotations

import dataclasses
import subprocess
from datetime import date

import pytest

import workbench
from tests.audience_data import D, load
from tests.conftest import ADMIN
from tests.conftest import women_export as export
from tests.sshd import skip_reason
from tests.test_delivery_pgp import keys  # noqa: F401 - real gpg keys
from workbench.errors import InvalidExport, InvalidInput, PermissionDenied, SftpError

needs_sshd = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


@pytest.fixture
def partner(partnered):
    return partnered


@needs_sshd
def test_a_full_remote_disk_is_said_as_such(partner, server, tmp_path):
    """A 64 KB file system mounted where the partner's folder is: the upload fails saying the
    server could not write, most often a full disk; nothing under the final name."""
    from types import SimpleNamespace

    from workbench.delivery.upload import upload

    small = server.writable / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0777", "tmpfs",
                              str(small)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")
    try:
        payload = tmp_path / "big.csv"
        payload.write_bytes(b"x" * 1_000_000)
        target = partner.destinations.target("partner")
        target = dataclasses.replace(target, path=str(small))
        with pytest.raises(SftpError) as raised, open(payload, "rb") as source:
            upload(target, source, "rows.csv", SimpleNamespace(
                workbench=partner.store.workbench_id(), run_id=1, attempt=1,
                live=lambda *_: False, writing=lambda _p: None, staging=lambda _s: None))
        said = str(raised.value)
        assert ("could not write" in said or "kept 65,536 of the 1,000,000 bytes" in said) \
            and "full disk" in said and "\n" not in said
        assert list(small.iterdir()) == []  # the partial file was removed, nothing renamed
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)
        small.rmdir()


def test_a_dropped_connection_is_said_as_such():
    from workbench.delivery.sftp import translate_error

    target = type("T", (), {"where": "sftp.example.com:22", "password": None,
                            "private_key": None, "passphrase": None})()
    for exc in (EOFError(), OSError("Socket is closed"),
                ConnectionResetError(104, "Connection reset by peer")):
        said = str(translate_error(exc, target, "/in/x.csv"))
        assert said == "the connection to sftp.example.com:22 closed during the transfer of " \
                       "/in/x.csv", exc
    said = str(translate_error(OSError("Failure"), target, "/in/x.csv"))
    assert "could not write /in/x.csv (SFTP 'Failure': most often a full disk" in said


@needs_sshd
def test_a_key_that_expires_before_a_run_of_the_next_30_days_is_warned_of(partner, keys):  # noqa: F811
    # keys.soon was made on the workbench's "now" and expires 10 days later.
    partner.encryptions.add({"name": "pgp", "keys": [keys.alice.armored, keys.soon.armored]})
    export_id = export(partner, encryption="pgp", schedule={
        "start": "2026-03-12T06:00", "timezone": "UTC",
        "repeat": {"every": 1, "unit": "weeks"}})
    [warning] = partner.exports.get(export_id).warnings
    assert warning == (f"encryption pgp: key {keys.soon.fingerprint[-16:]} expires on "
                       f"{keys.soon.expires}, before the run of 2026-03-26 06:00 (3 run(s) up to "
                       "2026-04-09 would fail); add a renewed key to the encryption")
    from tests.test_cli import run

    shown = run("export", "show", export_id, home=partner.home.root)
    assert f"workbench: warning: {warning}" in shown.stderr
    partner.exports.pause(export_id)  # a paused export runs nothing: nothing to warn of
    assert partner.exports.get(export_id).warnings == []


def test_csv_formulas_are_neutralised_when_asked(women, tmp_path):
    wb = women
    config = {"name": "F", "audience": 1, "file_name": "f.csv", "destination": "partner",
              "schedule": {"start": "2027-01-04T06:00"}, "active": False,
              "columns": [{"attribute": "customer_id"},
                          {"label": "Formula", "template": "={{first_name}}"},
                          {"label": "At", "template": "@{{customer_id}}"},
                          {"attribute": "rfm.monetary"}]}
    from workbench.store.exports import DestinationRecords

    DestinationRecords(wb.store).insert({
        "name": "partner", "type": "sftp", "host": "127.0.0.1", "port": 22, "path": "/in",
        "username": "u", "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoq"
        "KLsabgH5C9okWi0dh2l9GKJl"}, user=ADMIN)
    plain = tmp_path / "plain.csv"
    wb.exports.write_csv(config, plain)
    assert plain.read_text().splitlines()[1] == "ann,=Ann,@ann,300.00"
    safe = tmp_path / "safe.csv"
    wb.exports.write_csv({**config, "csv": {"neutralize_formulas": True}}, safe)
    lines = safe.read_text().splitlines()
    assert lines[1] == "ann,'=Ann,'@ann,300.00"
    assert lines[3] == "fay,'=O'Brien,'@fay,-5.00"  # a negative amount is a number: kept
    preview = wb.exports.preview({**config, "csv": {"neutralize_formulas": True}})
    assert "'=Ann" in preview.csv_text()
    with pytest.raises(InvalidExport, match="Neutralize formulas: must be true or false"):
        wb.exports.preview({**config, "csv": {"neutralize_formulas": "yes"}})


@pytest.mark.parametrize("host", ["-oProxyCommand=touch /tmp/x", "a host", "a/b", "-x"])
def test_a_host_that_is_not_a_host_name_or_address_is_refused(wb, host):
    with pytest.raises(InvalidExport, match="Host: a host name or an IP address"):
        wb.destinations.add({"name": "p", "host": host, "path": "/in", "username": "u",
                             "password": "pw", "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5A"
                             "AAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"})


def test_a_relative_path_shows_relative_to_the_login_folder():
    from workbench.delivery import location

    assert location("sftp.example.com", 2222, "incoming") == "sftp.example.com:2222/~/incoming"
    assert location("sftp.example.com", 22, "/in") == "sftp.example.com:22/in"


def test_roles_are_named_with_the_right_article_and_the_right_permission(wb, write_csv):
    load(wb, write_csv)
    audience = wb.audiences.activate(wb.audiences.create({"name": "All", "rules": []}).id)
    text = wb.home.settings_file.read_text().replace(
        "[users]", '[users]\nvic = "viewer"\nana = "analyst"')
    wb.home.settings_file.write_text(text)
    with workbench.open(wb.home.root, user="vic") as viewer:
        with pytest.raises(PermissionDenied, match="^vic is a viewer; audience.archive needs "
                                                   "the analyst role"):
            viewer.audiences.archive(audience.id)
    with workbench.open(wb.home.root, user="ana") as analyst:
        with pytest.raises(PermissionDenied, match="^ana is an analyst; destination.edit"):
            analyst.destinations.remove("nothing")


def test_ingest_given_a_folder_says_so(wb, tmp_path):
    with pytest.raises(InvalidInput, match="is a folder; give a CSV or Parquet file"):
        wb.customers.ingest("profiles", tmp_path)


def test_a_birth_date_after_today_is_a_rejected_row(wb, write_csv):
    from tests.conftest import read_rejects

    today = wb.today()
    assert today == date(2026, 3, 11) and D < today
    report = wb.customers.ingest("profiles", write_csv(
        "p.csv", ["customer_id", "birth_date"], ["born", str(today)], ["later", "2026-03-12"]))
    assert (report.accepted, report.rejected) == (1, 1)
    [row] = read_rejects(report.rejects_file)
    assert row["customer_id"] == "later" and row["_reason"] == (
        'birth_date "2026-03-12" is not a day up to today (2026-03-11): a birth date cannot '
        'be in the future')
