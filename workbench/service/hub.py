"""``workbench hub``: a team on one machine (docs/team.md). JupyterHub signs people in (local
accounts, PAM) and spawns each one's server as them; the workbench service runs as its own
account and alone owns the home.

Run as root from a team install (``scripts/team-install.sh``): the hub needs root to check
passwords and to start servers as their people, and every account must be able to run the
install's Python.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path

from ..errors import InvalidInput, WorkbenchError
from ..files import private_folder
from ..home import Home
from ..serve import DASHBOARDS, free, offline_template
from ..settings import Settings
from ..users import HUB_GROUPS

STATE = Path("/var/lib/audience-workbench-hub")
# Passed on to the service and the servers when set (a pinned clock, in tests and demos).
PASSED_ON = ("WORKBENCH_NOW", "WORKBENCH_SCHEDULER", "WORKBENCH_SCHEDULER_INTERVAL", "TZ")


def unreachable(path: Path, account: pwd.struct_passwd) -> Path | None:
    """The first folder on the way to ``path`` that ``account`` cannot pass, or None."""
    for folder in [*reversed(path.parents), path]:
        info = folder.stat()
        if info.st_uid == account.pw_uid:
            continue
        bit = stat.S_IXGRP if info.st_gid == account.pw_gid else stat.S_IXOTH
        if not info.st_mode & bit:
            return folder
    return None


def service_account(name: str, home: Path) -> pwd.struct_passwd:
    """The service's OS account, made (a system account without a login) when missing."""
    found = _passwd(name)
    if found is not None:
        return found
    done = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", str(home),
                           "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True)
    if done.returncode:
        raise WorkbenchError(f"could not create the service account {name}: "
                             f"{done.stderr.strip() or done.returncode}")
    return pwd.getpwnam(name)


def hand_over(home: Home, account: pwd.struct_passwd) -> None:
    """The home becomes the service account's alone: every file and folder its own, the home
    itself 0700 (nobody else reads the key, the store or the customer data)."""
    for folder, folders, files in os.walk(home.root):
        for name in [folder, *(os.path.join(folder, f) for f in folders + files)]:
            os.lchown(name, account.pw_uid, account.pw_gid)
    os.chmod(home.root, 0o700)
    if home.secret_key_file.exists():
        os.chmod(home.secret_key_file, 0o600)


def hub_settings(home: Home, settings: Settings, account: str, *, ip: str, port: int,
                 state: Path, ssl: tuple[str, str] | None, config: str | None) -> dict:
    """What ``jupyterhub_config.py`` reads (pure)."""
    people = {name: role.value for name, role in team(settings, account).items()}
    return {
        "venv": sys.prefix, "home": str(home.root), "account": account, "state": str(state),
        "ip": ip, "port": port, "hub_port": port + 1, "proxy_api_port": port + 2,
        "service_port": port + 3, "users": people,
        "groups": {group: role.value for group, role in HUB_GROUPS.items()},
        "dashboards": str(DASHBOARDS),
        "ssl_cert": ssl[0] if ssl else None, "ssl_key": ssl[1] if ssl else None,
        "config": config,
        "environment": {key: os.environ[key] for key in PASSED_ON if key in os.environ},
    }


def team(settings: Settings, account: str) -> dict:
    """Who signs in: [users] but the service account and system accounts (root, daemons: a
    root JupyterLab on the web would be the machine)."""
    return {name: role for name, role in settings.users.items()
            if name != account and not _system_account(name)}


def _passwd(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _system_account(name: str) -> bool:
    found = _passwd(name)
    return found is not None and found.pw_uid < 1000


def check_before(settings: Settings, account: str, *, ports: list[int],
                 files: list[str]) -> None:
    """One line for what would keep the team from working, before anything is made."""
    if os.geteuid() != 0:
        raise InvalidInput("workbench hub runs as root: the hub checks passwords (PAM) and "
                           "starts each person's server as them")
    if account in settings.users or account in ("root", "nobody") or (
            # a system account may only be one ``service_account`` made (no login shell)
            _system_account(account) and not _passwd(account).pw_shell.endswith("nologin")):
        raise InvalidInput(f"--account {account}: the service account must be an account of "
                           "its own (not a person under [users], not root or nobody)")
    for path in files:
        if not os.access(path, os.R_OK):
            raise InvalidInput(f"{path}: not a readable file")
    for port in ports:
        if not free(port):
            raise InvalidInput(f"port {port} on 127.0.0.1 is in use (the hub uses --port and "
                               "the three after it); choose another --port")


def check(home: Home, settings: Settings, account: pwd.struct_passwd) -> None:
    """One line for what would keep the team from working, the account made."""
    # The home itself becomes the account's (``hand_over``): the way to it must be open.
    for what, path in (("its Python", Path(sys.executable).resolve()),
                       ("the home", home.root.parent), ("the dashboards", DASHBOARDS)):
        blocked = unreachable(path, account)
        if blocked is not None:
            hint = ("run the team install (bash scripts/team-install.sh) and start the hub "
                    "from it" if what == "its Python" else "move it to a folder others can "
                    "pass, such as /srv")
            raise InvalidInput(f"the service account {account.pw_name} cannot reach {what} "
                               f"({path}): {blocked} is closed to it; {hint}")
    people = list(team(settings, account.pw_name))
    if not people:
        raise InvalidInput("nobody can sign in: name the team under [users] in "
                           f"{home.settings_file} (local accounts other than root: "
                           "alice = \"analyst\")")
    missing = [n for n in people if _passwd(n) is None]
    if missing:
        raise InvalidInput(f"[users] names {', '.join(missing)}, who have no local account "
                           "(PAM signs in local accounts: useradd -m NAME && passwd NAME)")


def offline_dashboards() -> None:
    """Each person's Voilà serves the dashboards with the template that loads nothing from the
    internet (``serve.offline_template``), installed beside the install's Voilà."""
    offline_template(Path(sys.prefix) / "share" / "jupyter")
    config = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d"
    config.mkdir(parents=True, exist_ok=True)
    (config / "workbench-voila.json").write_text(json.dumps({"VoilaConfiguration": {
        "template": "workbench", "theme": "light", "show_tracebacks": False,
        "extension_denylist": ["jupyterlab_pygments"]}}), encoding="utf-8")
    os.chmod(config / "workbench-voila.json", 0o644)
    for folder, _dirs, files in os.walk(Path(sys.prefix) / "share" / "jupyter" / "voila"
                                        / "templates"):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def start(settings_file: Path, state: Path) -> None:
    """Become JupyterHub (it stops the service and the servers it started when stopped)."""
    jupyterhub = Path(sys.prefix) / "bin" / "jupyterhub"
    if not jupyterhub.exists():
        raise InvalidInput(f"{jupyterhub} is missing: install the team extra (bash "
                           "scripts/team-install.sh)")
    config = Path(__file__).with_name("jupyterhub_config.py")
    os.chdir(state)
    os.environ["WORKBENCH_HUB_SETTINGS"] = str(settings_file)
    sys.stdout.flush()
    os.execv(str(jupyterhub), [str(jupyterhub), "-f", str(config)])


def write_settings(state: Path, values: dict) -> Path:
    private_folder(state)
    path = state / "workbench-hub.json"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(values, handle, indent=1)
    return path
