"""``workbench serve``: the Voilà dashboards of ``dashboards/`` on 127.0.0.1, behind a token.

- Loopback only, and a token in every URL (generated per start, or $WORKBENCH_SERVE_TOKEN):
  nobody else on the machine's network gets in.
- Nothing from the internet: the stock ``lab`` template links Font Awesome from a CDN (a page
  then waits ~30 s where outside requests are dropped, TOOLCHAIN); serve uses a copy of it
  without those links, written under HOME/tmp at start so it follows the installed Voilà.
  Charts are drawn by vega shipped from the kernel (``alt.JupyterChart.enable_offline``).
- A kernel is preheated per dashboard (the first page is usable in about 2 s instead of 5) and
  idle kernels are culled (Voilà leaves one behind per visit otherwise, TOOLCHAIN); at most
  ``[serve] max_kernels`` run at once (``voila_app.py``: beyond it a "busy" page).
- Only requests addressed to 127.0.0.1, localhost or ``[serve] hostnames`` are answered.
- Kernels act as the user who serves (``WORKBENCH_USER``) on this home (``WORKBENCH_HOME``).
- Voilà's log (``HOME/tmp/voila/voila-PID.log``) is the owner's only, holds no token, and is
  removed when serve stops cleanly; kept (and named) when Voilà stopped by itself.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import WorkbenchError

if TYPE_CHECKING:
    from .settings import ServeSettings

DASHBOARDS = Path(os.environ.get("WORKBENCH_DASHBOARDS",
                                 Path(__file__).resolve().parents[1] / "dashboards"))
TEMPLATE = "workbench"
# Voilà's own shutdown of a closed page's kernel is refused (XSRF, Voilà #1458): idle kernels
# of closed pages go after two minutes (an open page keeps its kernel: cull_connected off).
CULL_IDLE_SECONDS = 120
STARTUP_SECONDS = 120


def dashboards() -> list[str]:
    found = sorted(p.name for p in DASHBOARDS.glob("*.ipynb"))
    if not found:
        raise WorkbenchError(f"no dashboards in {DASHBOARDS} (set WORKBENCH_DASHBOARDS to the "
                             "folder that holds them)")
    return found


def offline_template(folder: Path) -> Path:
    """A Voilà template ``workbench``: the lab template without its CDN links. Returns the
    data directory to put on JUPYTER_PATH."""
    stock = Path(sys.prefix) / "share" / "jupyter" / "voila" / "templates" / "lab"
    if not (stock / "index.html.j2").is_file():  # installed elsewhere (user or system prefix)
        from jupyter_core.paths import jupyter_path

        stock = next((Path(p) / "voila" / "templates" / "lab" for p in jupyter_path()
                      if (Path(p) / "voila" / "templates" / "lab" / "index.html.j2").is_file()),
                     stock)
    source = (stock / "index.html.j2").read_text(encoding="utf-8")
    kept = [line for line in source.splitlines(keepends=True)
            if "cdn.jsdelivr.net" not in line and "unpkg.com" not in line]
    target = folder / "voila" / "templates" / TEMPLATE
    target.mkdir(parents=True, exist_ok=True)
    (target / "index.html.j2").write_text("".join(kept), encoding="utf-8")
    (target / "conf.json").write_text(json.dumps({"base_template": "lab"}), encoding="utf-8")
    return folder


def command(port: int) -> list[str]:
    """Voilà's command line (our Voilà, ``voila_app.py``): no token on it (any local user can
    read a command line; the token goes in a private config file, ``private_config``)."""
    return [sys.executable, "-m", "workbench.voila_app", str(DASHBOARDS), "--no-browser",
            f"--port={port}", "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
            f"--template={TEMPLATE}", "--theme=light",
            "--preheat_kernel=True", "--pool_size=1", "--show_tracebacks=False",
            f"--MappingKernelManager.cull_idle_timeout={CULL_IDLE_SECONDS}",
            "--MappingKernelManager.cull_interval=60",
            "--MappingKernelManager.cull_connected=False",
            "--VoilaConfiguration.extension_denylist=jupyterlab_pygments"]


def private_config(folder: Path, token: str, settings: ServeSettings | None = None) -> Path:
    """A config folder (for JUPYTER_CONFIG_PATH) holding the token and the ``[serve]``
    settings, readable by us only."""
    from .files import private_folder
    from .settings import ServeSettings

    settings = settings or ServeSettings()
    private_folder(folder)
    config = folder / "voila.json"
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"Voila": {"token": token},
                   "WorkbenchVoila": {"max_kernels": settings.max_kernels,
                                      "hostnames": settings.hostnames}}, handle)
    return folder


def urls(port: int, token: str) -> list[str]:
    return [f"http://127.0.0.1:{port}/voila/render/{name}?token={token}"
            for name in dashboards()]


def free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def serve(home, user: str, port: int, settings: ServeSettings | None = None, *,
          say: Callable[[str], None] = print,
          ready: Callable[[list[str]], None] | None = None) -> None:
    """Run Voilà until we are stopped (Ctrl-C, SIGTERM: then it is stopped cleanly) or it
    stops by itself (an error, with its log).
    ``ready(urls)`` is called once the dashboards answer."""
    if not free(port):
        raise WorkbenchError(f"port {port} on 127.0.0.1 is in use; choose another with "
                             "--port")
    names = dashboards()
    token = os.environ.get("WORKBENCH_SERVE_TOKEN") or secrets.token_urlsafe(24)
    data = offline_template(home.tmp_dir / "voila")
    config = private_config(home.tmp_dir / "voila" / f"config-{os.getpid()}", token, settings)
    log = home.tmp_dir / "voila" / f"voila-{os.getpid()}.log"
    (home.tmp_dir / "voila" / "voila.log").unlink(missing_ok=True)  # an older serve's, token and all
    child = _start(port, _environment(home, user, data, config), log)
    keep_log = False
    try:
        _wait_until_answering(child, port, log)
        links = urls(port, token)
        say(f"Dashboards of {home.root} for {user} (Ctrl-C stops them):")
        for name, url in zip(names, links, strict=True):
            say(f"  {Path(name).stem}: {url}")
        if ready:
            ready(links)
        code = child.wait()
        raise WorkbenchError(f"Voilà stopped by itself (exit {code}); its log: {log}")
    except WorkbenchError:  # the message names the log: keep it
        keep_log = True
        raise
    finally:
        _stop(child)
        import shutil

        shutil.rmtree(config, ignore_errors=True)
        if not keep_log:
            log.unlink(missing_ok=True)


def _environment(home, user: str, data: Path, config: Path) -> dict[str, str]:
    """Voilà's environment: the home and user its kernels open, our template and config."""
    env = {**os.environ, "WORKBENCH_HOME": str(home.root), "WORKBENCH_USER": user,
           "JUPYTER_PATH": os.pathsep.join(filter(None, [str(data),
                                                        os.environ.get("JUPYTER_PATH")])),
           "JUPYTER_CONFIG_PATH": os.pathsep.join(filter(None, [
               str(config), os.environ.get("JUPYTER_CONFIG_PATH")])),
           "PYTHONUNBUFFERED": "1"}
    env.pop("WORKBENCH_SERVE_TOKEN", None)  # kernels need no token
    return env


def _start(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Voilà started in the background, its output into ``log`` (the owner's only)."""
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as output:
        # Its own session: Ctrl-C reaches us, and we stop Voilà (and its kernels) in order.
        return subprocess.Popen(command(port), env=env, cwd=str(DASHBOARDS),
                                stdout=output, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_until_answering(child: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not _answers(port):
        if child.poll() is not None:
            raise WorkbenchError(f"Voilà stopped at start (exit {child.returncode}); its "
                                 f"log: {log}")
        if time.monotonic() > deadline:
            raise WorkbenchError(f"Voilà did not answer on port {port} within "
                                 f"{STARTUP_SECONDS} s; its log: {log}")
        time.sleep(0.2)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stop(child: subprocess.Popen) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGTERM)  # Voilà and the kernels it started
        child.wait(timeout=15)
    except (ProcessLookupError, PermissionError):
        return
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
