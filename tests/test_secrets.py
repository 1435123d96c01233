"""Secrets at rest: sealed with the home's key, or $WORKBENCH_SECRET_KEY."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from workbench.errors import SettingsError
from workbench.home import Home
from workbench.secrets import SecretBox


def test_seal_and_open_with_the_home_key(home, monkeypatch):
    monkeypatch.delenv("WORKBENCH_SECRET_KEY", raising=False)
    box = SecretBox.for_home(Home(home).secret_key_file)
    token = box.seal("s3cret-pass")
    assert "s3cret-pass" not in token
    opened = box.open(token)
    assert opened.reveal() == "s3cret-pass" and "s3cret" not in repr(opened)


def test_environment_key_wins_and_a_wrong_key_is_a_clear_error(home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", Fernet.generate_key().decode())
    token = SecretBox.for_home(Home(home).secret_key_file).seal("x")
    monkeypatch.delenv("WORKBENCH_SECRET_KEY")
    with pytest.raises(SettingsError, match="cannot be decrypted with this key"):
        SecretBox.for_home(Home(home).secret_key_file).open(token)
    monkeypatch.setenv("WORKBENCH_SECRET_KEY", "not-a-key")
    with pytest.raises(SettingsError, match="not a valid Fernet key"):
        SecretBox.for_home(Home(home).secret_key_file)
