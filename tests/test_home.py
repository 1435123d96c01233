"""workbench init, the home's layout, settings and the current user."""

from __future__ import annotations

import stat

import pytest

import workbench
from workbench.errors import HomeNotFound, PermissionDenied, SettingsError
from workbench.home import init_home, open_home
from workbench.settings import Role, Secret, load_settings
from workbench.users import current_user_name, resolve_user


def test_init_creates_settings_key_store_and_folders(tmp_path):
    root = tmp_path / "h"
    home, created = init_home(root, admin="ada", timezone="Europe/Berlin")
    assert {"workbench.toml", "secret.key", "workbench.db", "data/customers/"} <= set(created)
    assert stat.S_IMODE(home.secret_key_file.stat().st_mode) == 0o600
    settings = load_settings(root)
    assert settings.timezone == "Europe/Berlin"
    assert settings.users == {"ada": Role.admin}
    assert all(folder.is_dir() for folder in home.folders())


def test_init_again_changes_nothing(tmp_path):
    root = tmp_path / "h"
    init_home(root, admin="ada")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    _, created = init_home(root, admin="someone_else", timezone="Asia/Tokyo")
    assert created == []
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_home_comes_from_argument_then_environment(tmp_path, monkeypatch):
    root = tmp_path / "h"
    init_home(root, admin="ada")
    monkeypatch.delenv("WORKBENCH_HOME", raising=False)
    with pytest.raises(HomeNotFound, match="pass --home DIR or set WORKBENCH_HOME"):
        open_home()
    monkeypatch.setenv("WORKBENCH_HOME", str(root))
    assert open_home().root == root
    with pytest.raises(HomeNotFound, match="is not a workbench home"):
        open_home(tmp_path)


def test_invalid_settings_name_the_key(home):
    path = home / "workbench.toml"
    path.write_text(path.read_text().replace('timezone = "UTC"', 'timezone = "Mars/Olympus"'))
    with pytest.raises(SettingsError, match="timezone: .*unknown timezone 'Mars/Olympus'"):
        load_settings(home)
    path.write_text(path.read_text().replace('"Mars/Olympus"', '"UTC"') + "\n[users]\nbob = 'boss'\n")
    with pytest.raises(SettingsError, match="workbench.toml"):
        load_settings(home)


def test_current_user_order(monkeypatch):
    monkeypatch.setenv("WORKBENCH_USER", "wb_user")
    monkeypatch.setenv("JUPYTERHUB_USER", "hub_user")
    assert current_user_name("explicit") == "explicit"
    assert current_user_name() == "wb_user"
    monkeypatch.delenv("WORKBENCH_USER")
    assert current_user_name() == "hub_user"
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert current_user_name()  # the OS login


def test_roles_come_from_settings_and_unknown_users_are_viewers(home):
    path = home / "workbench.toml"
    path.write_text(path.read_text().replace('"ada" = "admin"', '"ada" = "admin"\nann = "analyst"'))
    settings = load_settings(home)
    assert resolve_user(settings, "ada").role is Role.admin
    analyst = resolve_user(settings, "ann")
    assert analyst.can("audience.edit") and not analyst.can("destination.edit")
    viewer = resolve_user(settings, "stranger")
    assert viewer.role is Role.viewer and not viewer.can("audience.edit")
    with pytest.raises(PermissionDenied, match="stranger is a viewer; export.cancel needs the admin"):
        viewer.require("export.cancel")


def test_smtp_password_is_a_secret_that_never_shows(home, monkeypatch):
    monkeypatch.setenv("WORKBENCH_SMTP_PASSWORD", "hunter2")
    settings = load_settings(home)
    password = settings.smtp.password
    assert password.reveal() == "hunter2"
    assert "hunter2" not in repr(password) + str(password) + repr(settings)
    assert isinstance(password, Secret)


def test_workbench_repr_names_home_and_user(home):
    with workbench.open(home, user="ada") as wb:
        assert repr(wb) == f"Workbench(home={str(home)!r}, user='ada', role='admin', via='python')"


def test_the_engine_kinds_the_settings_allow_are_the_registry_s():
    """``[engine] kind`` is checked when the home is opened, below the query layer that holds
    the registry: the two name the same engines."""
    from typing import get_args

    from workbench.query.engine import ENGINES
    from workbench.settings import EngineSettings

    assert set(get_args(EngineSettings.model_fields["kind"].annotation)) == set(ENGINES)


def test_a_lock_file_is_never_followed_through_a_link(tmp_path):
    """Hostile pass: a link planted where a lock goes (a home in a shared folder) must not let
    the workbench empty or tighten the file it points at."""
    import os

    import pytest

    from workbench.errors import WorkbenchError
    from workbench.files import exclusive_lock

    victim = tmp_path / "victim.txt"
    victim.write_text("someone's file\n")
    victim.chmod(0o644)
    (tmp_path / ".processing.lock").symlink_to(victim)
    with pytest.raises(WorkbenchError, match="is a symbolic link, not a lock file"):
        with exclusive_lock(tmp_path / ".processing.lock"):
            pass
    assert victim.read_text() == "someone's file\n" and victim.stat().st_mode & 0o777 == 0o644
    with exclusive_lock(tmp_path / ".sample.lock", holder="me"):
        assert (tmp_path / ".sample.lock").read_text() == "me"
    assert os.stat(tmp_path / ".sample.lock").st_mode & 0o777 == 0o600
