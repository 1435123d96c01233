"""The served home the Chromium tests share, and their helpers: one home (init, a sample of
3000 customers, the demo audiences, three days processed, a viewer "vic") made once per test
run, served for the admin and for the viewer; one headless Chromium; a ``Visit`` of a page that
records its errors and what it receives; ``cli`` to run a verb on the home.

The tests sharing it must leave it usable by the others: the dashboards' tests add one audience
(the exports' tests do not count audiences), the exports' tests add one export and its run (the
dashboards' tests make none)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import ADMIN, NOW, TestClock

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("WORKBENCH_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
BIN = Path(sys.executable).parent
NO_CHROMIUM = None if Path(CHROMIUM).exists() else \
    "chromium is not installed (scripts/test.sh installs it)"


def cli(home: Path, *args: str, user: str = ADMIN) -> str:
    done = subprocess.run([str(BIN / "workbench"), *args], capture_output=True, text=True,
                          env={**os.environ, "WORKBENCH_HOME": str(home),
                               "WORKBENCH_USER": user}, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    def __init__(self, home: Path, user: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [str(BIN / "workbench"), "serve", "--port", str(self.port)],
            env={**os.environ, "WORKBENCH_HOME": str(home), "WORKBENCH_USER": user},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 120
        self.url = None
        while self.url is None and time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                raise AssertionError("workbench serve stopped at start")
            found = re.search(r"(http://127\.0\.0\.1:\d+/voila/render/audiences\.ipynb\S*)",
                              line)
            self.url = found and found.group(1)
        assert self.url, "workbench serve printed no URL"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


class Visit:
    """A page at 1280×800 that records page errors, requests leaving 127.0.0.1 and every
    websocket frame the page receives (what the kernel sent it)."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.received: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self._request(request.url))
        self.page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda payload: self.received.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))))
        self.page.goto(url)
        from playwright.sync_api import TimeoutError as NotYet

        try:
            # A kernel starts for the page: seconds alone, longer while the other xdist worker
            # runs Spark on the same 2 cores (once over 90 s in CI).
            self.page.wait_for_selector("table.wb-table", timeout=180_000)
        except NotYet:
            said = " ".join(self.page.inner_text("body").split())[:300]
            raise AssertionError(f"no dashboard in 180 s at {url}; the page says: {said!r}") \
                from None

    def _request(self, url: str) -> None:
        if not url.startswith(("http://127.0.0.1", "data:", "blob:http://127.0.0.1")):
            self.outside.append(url)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def tab(self, title: str) -> None:
        self.page.click(f".lm-TabBar-tab:has-text('{title}')")

    def act(self, row_text: str, action: str) -> None:
        """Choose ``action`` in the Actions menu of the first row holding ``row_text``."""
        row = self.page.locator(f"table.wb-table tr:has-text('{row_text}')").first
        row.locator("select.wb-actions").select_option(label=action)

    def rows(self) -> list[str]:
        return self.page.locator("table.wb-table tbody tr td:nth-child(2)").all_inner_texts()

    def done(self) -> None:
        assert self.errors == [] and self.outside == []
        self.page.close()


def served_home(root: Path) -> Iterator[tuple[Path, Served, Served]]:
    """The shared home under ``root``, served for the admin and for the viewer "vic"."""
    from workbench.home import init_home

    home = root / "home"
    # Made and served at the session's NOW, whichever test asks first and wherever it has
    # moved the clock (with xdist, any module may be the first on its worker).
    clock = TestClock()
    asked_at = clock.now()
    clock.set(NOW)
    try:
        init_home(home, admin=ADMIN, timezone="UTC")
        cli(home, "sample", "--customers", "3000", "--seed", "7")
        cli(home, "demo")
        cli(home, "process", "--days", "3")  # the sample's events end yesterday
        settings = home / "workbench.toml"
        text = settings.read_text().replace("[users]", '[users]\nvic = "viewer"')
        # Both browser modules visit these two servers within minutes, and a closed page's
        # kernel lives until it is culled (two minutes idle): more than the default cap of 8.
        settings.write_text(re.sub(r"max_kernels = \d+", "max_kernels = 24", text))
        admin, viewer = Served(home, ADMIN), Served(home, "vic")
    finally:
        clock.set(asked_at)
    yield home, admin, viewer
    admin.stop()
    viewer.stop()
    assert admin.process.returncode == 0  # a clean stop


def chromium() -> Iterator:
    """Headless Chromium through Playwright, offline."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()
