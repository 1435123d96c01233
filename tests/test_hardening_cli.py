"""Hostile edges of the command line and the settings: every failure is one line on stderr,
``workbench: ...``, with exit 1 (the operation failed) or 2 (bad input), never a traceback or
an "internal error" for something a person can fix.

The commands' work is replaced by stand-ins: these tests are about what reaches ``main``."""

from __future__ import annotations

import contextlib
import errno
import io
import os
from pathlib import Path

import pandas as pd
import pytest

from workbench.cli import audiences as audience_commands
from workbench.cli import main, read_json
from workbench.errors import InvalidInput, SettingsError, StoreError
from workbench.settings import Settings, hide_password, load_settings


def run(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    err = capsys.readouterr().err
    assert err.count("\n") <= 1 and "Traceback" not in err
    return code, err.rstrip("\n")


def failing(exc: BaseException):
    """A stand-in for open_workbench that fails as the real work would."""

    def open_workbench(_args):
        raise exc

    return open_workbench


class NoWork:
    """A stand-in workbench for commands that must fail before any work is done: any call
    (``wb.audiences.estimate(...)``) is a test failure."""

    def __getattr__(self, name):
        return NoWork()

    def __call__(self, *args, **kwargs):
        raise AssertionError("no work expected")


@pytest.fixture
def no_work(monkeypatch):
    monkeypatch.setattr(audience_commands, "open_workbench",
                        lambda _args: contextlib.nullcontext(NoWork()))


# -- OSError, multi-line messages -----------------------------------------------------------------

@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES, errno.ENOENT])
def test_os_errors_are_one_line_with_the_file(capsys, monkeypatch, code):
    error = OSError(code, os.strerror(code), "/srv/wb/data/results/7.parquet")
    monkeypatch.setattr(audience_commands, "open_workbench", failing(error))
    assert run(capsys, "audience", "show", "7") == (
        1, f"workbench: {os.strerror(code)}: /srv/wb/data/results/7.parquet")


def test_os_error_without_a_file_is_its_reason(capsys, monkeypatch):
    monkeypatch.setattr(audience_commands, "open_workbench",
                        failing(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    assert run(capsys, "audience", "show", "7") == (1, "workbench: No space left on device")


def test_os_error_file_names_stay_on_one_line(capsys, monkeypatch):
    error = OSError(errno.EACCES, os.strerror(errno.EACCES), b"/tmp/a\nb\x1b[2J")
    monkeypatch.setattr(audience_commands, "open_workbench", failing(error))
    assert run(capsys, "audience", "show", "7") == (
        1, "workbench: Permission denied: /tmp/a\\nb\\x1b[2J")


def test_unexpected_errors_keep_only_their_first_line(capsys, monkeypatch):
    monkeypatch.setattr(audience_commands, "open_workbench", failing(RuntimeError(
        "\nBinder Error: column x not found\nLINE 1: SELECT email FROM customers WHERE x")))
    code, err = run(capsys, "audience", "show", "7")
    assert code == 1
    assert err == ("workbench: internal error: RuntimeError: Binder Error: column x not found "
                   "(set WORKBENCH_DEBUG=1 for the traceback)")


def test_workbench_errors_keep_only_their_first_line(capsys, monkeypatch):
    monkeypatch.setattr(audience_commands, "open_workbench", failing(StoreError(
        "the metadata store failed: (sqlite3.OperationalError) database is locked\n"
        "[SQL: UPDATE audiences SET name=? WHERE id = ?]\n[parameters: ('secret', 7)]")))
    assert run(capsys, "audience", "show", "7") == (
        1, "workbench: the metadata store failed: (sqlite3.OperationalError) database is locked")


# -- members --out --------------------------------------------------------------------------------

def test_members_out_in_a_missing_directory_fails_before_any_work(capsys, no_work):
    assert run(capsys, "audience", "members", "3", "--out", "/no/such/dir/x.csv") == (
        2, "workbench: --out /no/such/dir/x.csv: no such directory")


def test_members_out_under_a_file_or_at_a_directory(capsys, no_work, tmp_path):
    (tmp_path / "file").write_text("")
    assert run(capsys, "audience", "members", "3", "--out", tmp_path / "file" / "x.csv") == (
        2, f"workbench: --out {tmp_path}/file/x.csv: {tmp_path}/file is not a directory")
    assert run(capsys, "audience", "members", "3", "--out", tmp_path) == (
        2, f"workbench: --out {tmp_path}: is a directory; give a file name")


def test_members_out_is_written_whole_or_not_at_all(tmp_path):
    out = tmp_path / "members.csv"
    audience_commands._write_csv(pd.DataFrame({"customer_id": ["C1", "C2"]}), out)
    assert out.read_text() == "customer_id\nC1\nC2\n"

    class DiskFull:
        def to_csv(self, path, index):
            Path(path).write_text("customer_id\nC1\n")  # half of it, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    with pytest.raises(OSError):
        audience_commands._write_csv(DiskFull(), out)
    assert out.read_text() == "customer_id\nC1\nC2\n"  # the earlier file, untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["members.csv"]


def test_members_out_keeps_its_suffix_for_compression(tmp_path):
    out = tmp_path / "members.csv.gz"
    audience_commands._write_csv(pd.DataFrame({"customer_id": ["C1"]}), out)
    assert pd.read_csv(out)["customer_id"].tolist() == ["C1"]
    assert out.read_bytes()[:2] == b"\x1f\x8b"


# -- read_json ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    (b'{"name": "caf\xe9"}', "not UTF-8 text (byte 14 cannot be read)"),
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 20 levels"),
    (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON: a number has too many digits"),
    (b" " * 1_000_001, "larger than 1,000,000 bytes (1 MB)"),
    (b'{"a": 1', "not valid JSON: Expecting ',' delimiter at line 1 column 8"),
    (b"[1]", "expected a JSON object"),
])
def test_bad_json_files_are_one_line_exit_2(capsys, no_work, tmp_path, content, message):
    path = tmp_path / "definition.json"
    path.write_bytes(content)
    assert run(capsys, "audience", "estimate", path) == (2, f"workbench: {path}: {message}")


def test_read_json_reads_a_bounded_amount():
    with pytest.raises(InvalidInput, match="^/dev/zero: larger than 1,000,000 bytes"):
        read_json("/dev/zero")


def test_read_json_accepts_a_byte_order_mark_and_standard_input(tmp_path, monkeypatch):
    path = tmp_path / "d.json"
    path.write_bytes(b'\xef\xbb\xbf{"name": "x"}')
    assert read_json(str(path)) == {"name": "x"}
    monkeypatch.setattr("sys.stdin", io.StringIO('{"name": "from stdin"}'))
    assert read_json("-") == {"name": "from stdin"}


def test_unreadable_json_file_is_exit_2(capsys, no_work, tmp_path):
    assert run(capsys, "audience", "estimate", tmp_path / "missing.json") == (
        2, f"workbench: {tmp_path}/missing.json: No such file or directory")
    assert run(capsys, "audience", "estimate", tmp_path) == (
        2, f"workbench: {tmp_path}: Is a directory")


# -- settings -------------------------------------------------------------------------------------

def settings_file(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "workbench.toml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize(("toml", "key", "reason"), [
    ("processing_time = nan", "processing_time", 'a local time "HH:MM"'),
    ("processing_time = inf", "processing_time", 'a local time "HH:MM"'),
    ("processing_time = 3600", "processing_time", 'a local time "HH:MM"'),
    ('processing_time = "02:30+05:00"', "processing_time", "without a zone"),
    ("[smtp]\nport = nan", "smtp.port", "Input should be a finite number"),
    ("[smtp]\nport = inf", "smtp.port", "Input should be a finite number"),
    ("[engine]\nthreads = -inf", "engine.threads", "Input should be a finite number"),
    ("[engine]\nthreads = nan", "engine.threads", "Input should be a finite number"),
    ("[engine]\nmemory_limit = nan", "engine.memory_limit", "Input should be a valid string"),
    ("timezone = inf", "timezone", "Input should be a valid string"),
])
def test_settings_refuse_nan_and_inf_naming_the_key(tmp_path, toml, key, reason):
    path = settings_file(tmp_path, toml)
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path)
    assert str(caught.value).startswith(f"{path}: {key}: ")
    assert reason in str(caught.value)


@pytest.mark.parametrize("value", ['"usd"', '"DOLLAR"', '"$"', "840"])
def test_the_currency_is_an_iso_code(tmp_path, value):
    path = settings_file(tmp_path, f"currency = {value}")
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path)
    assert str(caught.value).startswith(f"{path}: currency: ")
    assert "\n" not in str(caught.value)
    settings_file(tmp_path, 'currency = "EUR"')
    assert load_settings(tmp_path).currency == "EUR"


def test_settings_file_that_is_not_utf8(tmp_path):
    path = settings_file(tmp_path, b'timezone = "Europe/Z\xfcrich"')
    with pytest.raises(SettingsError) as caught:
        load_settings(tmp_path)
    assert str(caught.value) == f"{path} is not UTF-8 text (byte 21 cannot be read)"


def test_settings_keep_a_toml_local_time(tmp_path):
    settings_file(tmp_path, "processing_time = 02:30:00")
    assert str(load_settings(tmp_path).processing_time) == "02:30:00"


def test_settings_never_show_the_store_password():
    url = "postgresql+psycopg://u:hunter2@db/wb"
    settings = Settings(store_url=url)
    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert "hunter2" not in shown and "u:***@db/wb" in shown
    assert settings.store_url == url  # what the store connects with


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg://u:hunter2@db/wb", "postgresql+psycopg://u:***@db/wb"),
    ("postgresql://u:p@ss/w@rd@db:5432/wb", "postgresql://u:***@db:5432/wb"),
    ("postgresql://:secret@db/wb", "postgresql://:***@db/wb"),
    ("postgresql://u@db/wb?sslmode=require&password=x", "postgresql://u@db/wb?sslmode=require"
                                                       "&password=***"),
    ("postgresql://u@db/wb", "postgresql://u@db/wb"),
    ("sqlite:////srv/wb/a@b.db", "sqlite:////srv/wb/a@b.db"),
    ("", ""),
])
def test_hide_password(url, shown):
    assert hide_password(url) == shown
