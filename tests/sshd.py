"""A throwaway OpenSSH server on 127.0.0.1 for SFTP tests (recipe in ../shared/TOOLCHAIN.md).

``running_sshd()`` creates a login user (``wbsftp<random>``, password set with chpasswd, home under
/tmp), a writable and a read-only (root, 755) folder for it, an sshd_config with its own ed25519
and RSA host keys, PidFile and AuthorizedKeysFile, checks it with ``sshd -t``, starts
``sshd -f CONFIG -E LOG`` (it daemonises; its pid is read from the PidFile), waits until the port
accepts, and at the end stops that pid and removes the user and every file. Needs root and
/usr/sbin/sshd (``skip_reason()`` says why not).
"""

from __future__ import annotations

import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "SFTP tests need root (they add a throwaway login user and run sshd)"
    if not os.access(SSHD, os.X_OK):
        return f"SFTP tests need OpenSSH's server ({SSHD} is missing; apt-get install openssh-server)"
    for tool in ("ssh-keygen", "useradd", "userdel", "chpasswd"):
        if shutil.which(tool) is None:
            return f"SFTP tests need {tool}"
    return None


def free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral range: a port the kernel hands
    out could become the source port of someone's outgoing connection (a JVM, a database
    client) between this check and the server's bind, and the browser then met a stranger
    there (ERR_INVALID_HTTP_RESPONSE, once in CI)."""
    for _ in range(200):
        port = random.randrange(20_000, 32_000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 32000")


def keygen(path: Path, kind: str, *options: str, passphrase: str = "") -> Path:
    """A new key pair at ``path`` (and path.pub) made by ssh-keygen; returns ``path``."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", passphrase, "-C", f"test-{kind}",
                    "-f", str(path), *options], check=True, capture_output=True)
    return path


@dataclass
class Sshd:
    port: int
    folder: Path  # config, host key, pid file, authorized_keys, log (root's)
    home: Path  # the login user's home
    user: str
    password: str
    pid: int
    host: str = "127.0.0.1"

    @property
    def config(self) -> Path:
        return self.folder / "sshd_config"

    @property
    def log(self) -> Path:
        return self.folder / "sshd.log"

    @property
    def host_key_pub(self) -> Path:
        return self.folder / "host_ed25519.pub"

    @property
    def rsa_host_key_pub(self) -> Path:
        """The server's second host key (OpenSSH clients prefer the ed25519 one)."""
        return self.folder / "host_rsa.pub"

    @property
    def authorized_keys(self) -> Path:
        return self.folder / "authorized_keys"

    @property
    def writable(self) -> Path:
        return self.home / "outbox"

    @property
    def readonly(self) -> Path:
        return self.home / "readonly"

    def host_key_line(self) -> str:
        """The server's public key as `ssh-ed25519 AAAA...` (no comment)."""
        return " ".join(self.host_key_pub.read_text().split()[:2])

    def authorize(self, *public_keys: Path) -> None:
        self.authorized_keys.write_text("".join(key.read_text() for key in public_keys))
        self.authorized_keys.chmod(0o644)

    def end_sessions(self) -> None:
        """Kill the server's sessions still waiting (on a pipe a test left in their way). A session
        may end on its own between being listed and being killed: that is what was wanted."""
        import psutil

        for process in psutil.process_iter(["username"]):
            if process.info["username"] == self.user:
                try:
                    process.kill()
                except psutil.NoSuchProcess:
                    pass

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, pattern: str, start: int = 0, timeout: float = 2.0) -> bool:
        """True when regular expression ``pattern`` matches the log after offset ``start`` (sshd
        writes lazily)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.log_text()[start:]):
                return True
            time.sleep(0.02)
        return False


def _write_config(folder: Path, port: int, user: str, extra: list[str]) -> Path:
    config = folder / "sshd_config"
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {folder / 'host_ed25519'}",
        f"HostKey {folder / 'host_rsa'}",
        f"PidFile {folder / 'sshd.pid'}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin no",
        f"AllowUsers {user}",
        "StrictModes no",
        "UsePAM no",
        "MaxAuthTries 6",
        "MaxStartups 50",
        "LogLevel DEBUG1",
        "Subsystem sftp internal-sftp",
        *extra,
    ]
    config.write_text("\n".join(lines) + "\n")
    return config


def _check_config(config: Path) -> str:
    result = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True)
    return "" if result.returncode == 0 else (result.stderr.strip() or "sshd -t failed")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def _wait_for_port(port: int, pid: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        if not _alive(pid):
            break
        time.sleep(0.02)
    raise RuntimeError(f"sshd (pid {pid}) is not accepting connections on 127.0.0.1:{port}")


def _read_pid(pid_file: Path) -> int | None:
    try:
        text = pid_file.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def _start(folder: Path, port: int, user: str) -> int | None:
    """The pid of sshd started on ``port``, or None when it could not listen there."""
    # OpenSSH 9.8+ penalises addresses with failed logins (and the tests fail logins on purpose);
    # older servers do not know the option.
    config = _write_config(folder, port, user, ["PerSourcePenalties no"])
    problem = _check_config(config)
    if "PerSourcePenalties" in problem:
        config = _write_config(folder, port, user, [])
        problem = _check_config(config)
    if problem:
        raise RuntimeError(f"sshd -t -f {config}: {problem}")
    pid_file = folder / "sshd.pid"
    pid_file.unlink(missing_ok=True)
    # Daemonises after binding the port: a zero exit means it listens.
    started = subprocess.run([SSHD, "-f", str(config), "-E", str(folder / "sshd.log")],
                             capture_output=True, text=True)
    if started.returncode != 0:
        return None
    deadline = time.monotonic() + 5
    while not _read_pid(pid_file) and time.monotonic() < deadline:
        time.sleep(0.02)
    pid = _read_pid(pid_file)
    if not pid:
        raise RuntimeError(f"sshd wrote no pid to {pid_file}")
    _wait_for_port(port, pid)
    return pid


@contextmanager
def running_sshd() -> Iterator[Sshd]:
    """A started sshd; stopped, its user removed and its files deleted on exit.

    Everything lives in /tmp/wbsftp-<random> (root, 755): sshd/ (config, host keys, pid file,
    authorized_keys, log) and home/ (the user's home): the login user reads AuthorizedKeysFile
    itself, so every folder on its path must be readable to it (pytest's tmp folders are not)."""
    tag = secrets.token_hex(4)
    user = f"wbsftp{tag}"
    password = f"pw-{secrets.token_urlsafe(12)}"
    root = Path(f"/tmp/wbsftp-{tag}")
    folder = root / "sshd"
    home = root / "home"
    folder.mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    folder.chmod(0o755)
    pid = None
    try:
        subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/bin/sh", user], check=True,
                       capture_output=True)
        subprocess.run(["chpasswd"], input=f"{user}:{password}", text=True, check=True,
                       capture_output=True)
        home.chmod(0o755)
        uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True,
                                 check=True).stdout)
        (home / "outbox").mkdir()
        os.chown(home / "outbox", uid, -1)
        (home / "readonly").mkdir(mode=0o755)  # owned by root
        (home / "readonly").chmod(0o755)
        keygen(folder / "host_ed25519", "ed25519")
        keygen(folder / "host_rsa", "rsa", "-b", "2048")
        (folder / "authorized_keys").write_text("")
        (folder / "authorized_keys").chmod(0o644)
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        for _attempt in range(3):  # another process may take the free port first
            port = free_port()
            pid = _start(folder, port, user)
            if pid is not None:
                break
        else:
            raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()[-500:]}")
        assert pid is not None
        yield Sshd(port=port, folder=folder, home=home, user=user, password=password, pid=pid)
    finally:
        if pid is not None:
            _stop(pid)
        subprocess.run(["userdel", user], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        # useradd -m may have made a mail spool for the user.
        for spool in (Path("/var/mail") / user, Path("/var/spool/mail") / user):
            spool.unlink(missing_ok=True)
