"""A real JupyterHub for team-mode tests (docs/team.md), started by ``workbench hub`` from a
team install, with real local accounts that the test creates (as tests/sshd.py does).

``running_hub()`` installs the team copy (scripts/team-install.sh, under TEAM_PREFIX; kept
between runs, so only the first run pays for its packages), makes an analyst, a viewer and an
admin with passwords (PAM), a service account, and a small sample home under /srv that
``workbench hub`` hands to that account; starts the hub on loopback with a "tester" service
whose token may make tokens for people and start their servers; and at the end stops it all and
removes the accounts and files. Needs root (``skip_reason()`` says why not).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tests.sshd import free_port

ROOT = Path(__file__).resolve().parents[1]
TEAM_PREFIX = Path(os.environ.get("WORKBENCH_TEST_TEAM_PREFIX", "/opt/audience-workbench-tests"))
SYSTEM_PYTHON = "/usr/bin/python3"
PLACES = Path("/srv/audience-workbench-tests")


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "team tests need root (they add local accounts and start JupyterHub as root)"
    for tool in ("useradd", "userdel", "chpasswd", "runuser"):
        if shutil.which(tool) is None:
            return f"team tests need {tool}"
    if not Path(SYSTEM_PYTHON).exists():
        return f"team tests need the system's Python ({SYSTEM_PYTHON}) for the team install"
    return None


@dataclass
class Hub:
    url: str  # the hub, as people reach it
    home: Path
    account: str  # the service's OS account
    people: dict[str, str]  # role -> account name
    passwords: dict[str, str]
    tester: str  # the tester service's token
    process: subprocess.Popen
    log: Path
    venv: Path = field(default=TEAM_PREFIX / "venv")
    viewers: list[str] = field(default_factory=list)  # the extra viewers (running_hub(viewers=N))

    @property
    def service(self) -> str:
        return f"{self.url}/services/workbench/"

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", timeout=30,
                                headers={"Authorization": f"token {self.tester}"}, **kwargs)

    def token(self, name: str, expires_in: int | None = 600) -> tuple[str, str]:
        """A new API token of ``name`` (as made on the hub's token page): (token, its id)."""
        body = {"note": "test", "expires_in": expires_in}
        made = self.api("POST", f"/users/{name}/tokens", json=body)
        made.raise_for_status()
        return made.json()["token"], made.json()["id"]

    def revoke(self, name: str, token_id: str) -> None:
        self.api("DELETE", f"/users/{name}/tokens/{token_id}").raise_for_status()

    def call(self, token: str | None, noun: str, verb: str, *args, headers=None, **kwargs):
        """A raw call to the service's API (the client's own request, by hand)."""
        from workbench.service import codec

        sent = {"Content-Type": "application/json", **(headers or {})}
        if token is not None:
            sent["Authorization"] = f"token {token}"
        body = json.dumps({"args": codec.encode(list(args)), "kwargs": codec.encode(kwargs)})
        return requests.post(f"{self.service}api/v1/call/{noun}/{verb}", data=body,
                             headers=sent, timeout=120)

    def as_account(self, name: str, *command: str) -> subprocess.CompletedProcess:
        """A command run as a local account (a shell of theirs), with the team's Python."""
        return subprocess.run(["runuser", "-u", name, "--", *command], capture_output=True,
                              text=True, timeout=120, cwd="/tmp")

    def service_pid(self) -> int:
        """The serving process (not its keeper)."""
        found = subprocess.run(["pgrep", "-u", self.account, "-f", "workbench.service --serve"],
                               capture_output=True, text=True)
        return int(found.stdout.split()[0])


def _install() -> None:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "team-install.sh"), str(TEAM_PREFIX)],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "TEAM_PYTHON": SYSTEM_PYTHON})
    if done.returncode:
        raise RuntimeError(f"team install failed: {done.stderr[-2000:]}")


def add_account(name: str, password: str | None) -> None:
    subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True, capture_output=True)
    if password:
        subprocess.run(["chpasswd"], input=f"{name}:{password}", text=True, check=True,
                       capture_output=True)


def remove_account(name: str) -> None:
    subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
    subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def _sample_home(home: Path, people: dict[str, str], store_url: str | None,
                 customers: int = 2000, viewers: tuple[str, ...] = ()) -> None:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    cli = [sys.executable, "-m", "workbench"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    settings = home / "workbench.toml"
    text = settings.read_text()
    users = "".join(f'"{name}" = "{role}"\n' for role, name in people.items())
    users += "".join(f'"{name}" = "viewer"\n' for name in viewers)
    text = text.replace("[users]\n", f"[users]\n{users}", 1)
    if store_url:
        text = text.replace('store_url = ""', f'store_url = "{store_url}"', 1)
    settings.write_text(text)
    for step in (["sample", "--customers", str(customers), "--seed", "3"], ["demo"],
                 ["process", "--days", "2"]):
        subprocess.run([*cli, *step], env=env, check=True, capture_output=True, timeout=300)


@contextmanager
def running_hub(tmp: Path, *, store_url: str | None = None, customers: int = 2000,
                viewers: int = 0) -> Iterator[Hub]:
    """``customers``: the sample's size; ``viewers``: that many more viewers (Hub.viewers)."""
    _install()
    tag = secrets.token_hex(3)
    people = {role: f"wbt{role[:3]}{tag}" for role in ("analyst", "viewer", "admin")}
    more = tuple(f"wbtv{i:02d}{tag}" for i in range(viewers))
    account = f"wbtsvc{tag}"
    passwords = {name: secrets.token_urlsafe(12) for name in (*people.values(), *more)}
    place = PLACES / tag
    state = tmp / "hub-state"
    tester = secrets.token_hex(24)
    made: list[str] = []
    process = None
    try:
        for name in (*people.values(), *more):
            add_account(name, passwords[name])
            made.append(name)
        place.mkdir(parents=True)
        os.chmod(PLACES, 0o755)
        os.chmod(place, 0o755)
        home = place / "home"
        _sample_home(home, people, store_url, customers, more)
        extra = tmp / "hub-extra.py"
        extra.write_text(
            "c = get_config()  # noqa: F821\n"
            f"c.JupyterHub.services.append({{'name': 'tester', 'api_token': {tester!r}}})\n"
            "c.JupyterHub.load_roles.append({'name': 'tester', 'services': ['tester'], "
            "'scopes': ['admin:users', 'tokens', 'admin:servers', 'read:groups']})\n")
        port = free_port()
        log = tmp / "hub.log"
        env = {**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_SCHEDULER": "off"}
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [str(TEAM_PREFIX / "venv" / "bin" / "workbench"), "hub", "--port", str(port),
                 "--state", str(state), "--account", account, "--config", str(extra)],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                cwd="/tmp")
        made.append(account)
        hub = Hub(f"http://127.0.0.1:{port}", home, account, people, passwords, tester,
                  process, log, viewers=list(more))
        _wait_until_ready(hub)
        yield hub
    finally:
        if process is not None:
            _stop(process)
        for name in made:
            remove_account(name)
        shutil.rmtree(place, ignore_errors=True)


def _wait_until_ready(hub: Hub, seconds: float = 90) -> None:
    """Until the service itself answers (its JSON refusal of a call without a token)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise RuntimeError(f"workbench hub stopped: {hub.log.read_text()[-3000:]}")
        try:
            answer = requests.post(f"{hub.service}api/v1/call/workbench/about", timeout=5)
            if answer.status_code == 401 and answer.headers.get(
                    "Content-Type", "").startswith("application/json"):
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the workbench service did not answer in {seconds:.0f} s: "
                       f"{hub.log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(40)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)
    except ProcessLookupError:
        pass
