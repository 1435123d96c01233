"""The dashboards in a real browser: time from page load to the Audiences dashboard being
usable, and from the last keystroke of a rule to its first estimate in the builder.

    .venv/bin/python benchmarks/bench_dashboards.py --home HOME [--label 1M]

HOME holds sample data processed as of 2026-11-28 (e.g. `workbench sample --customers 1000000`,
`workbench demo`, `workbench process --as-of 2026-11-28`); `--user` is one of its analysts or
admins. `workbench serve` runs on a free port
and headless Chromium (Playwright) opens the dashboard:
- first: the first visit after the server started (the preheated kernel);
- warm: later visits, each after the pool preheated a fresh kernel (median);
- yardstick: the same list written by hand as a Voilà page (benchmarks/voila_floor/floor.ipynb,
  stdlib sqlite3 and an HTML widget) served by Voilà with the same options: Voilà's floor;
- first estimate: Create Audience, Age, min 25, max 34; from the last keystroke until the
  estimate and its summary are shown (the debounce of 0.35 s included), then a second rule.
Results are appended to benchmarks/results/dashboards.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "benchmarks" / "results" / "dashboards.md"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(home: str, user: str, dashboards: Path | None = None):
    env = {**os.environ, "WORKBENCH_HOME": home, "WORKBENCH_SERVE_TOKEN": "bench",
           "WORKBENCH_USER": user}
    if dashboards:
        env["WORKBENCH_DASHBOARDS"] = str(dashboards)
    number = port()
    process = subprocess.Popen([str(BIN / "workbench"), "serve", "--port", str(number)],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    while "render/" not in (line := process.stdout.readline()):
        if not line and process.poll() is not None:
            raise SystemExit("workbench serve stopped")
    return process, line.split(": ", 1)[1].strip()


def visit(browser, url: str, ready: str) -> tuple[float, object]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(ready, timeout=120_000)
    return time.perf_counter() - started, page


def first_estimate(page) -> tuple[float, float]:
    page.click("button:has-text('Create Audience')")
    page.wait_for_selector(".wb-title:has-text('New audience')")
    page.wait_for_selector("text=No rules: the whole customer base", timeout=60_000)
    page.select_option("select:has(option:text('+ Select attributes'))", label="Demographics: Age")
    page.fill("input[placeholder='min']", "25")
    started = time.perf_counter()
    page.fill("input[placeholder='max']", "34")
    page.wait_for_selector("li:has-text('Age between 25 and 34')", timeout=60_000)
    page.wait_for_function("!document.querySelector('.wb-big .wb-spinner, .wb-spinner')",
                           timeout=60_000)
    first = time.perf_counter() - started
    page.select_option("select:has(option:text('+ Select attributes'))",
                       label="Demographics: Gender")
    page.wait_for_selector("text=Pick at least one value", timeout=60_000)  # none ticked yet
    page.locator(".wb-checklist-items input[type=checkbox]").first.check()
    started = time.perf_counter()
    page.wait_for_selector("li:has-text('Gender in')", timeout=60_000)
    page.wait_for_function("!document.querySelector('.wb-spinner')", timeout=60_000)
    return first, time.perf_counter() - started


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True)
    parser.add_argument("--label", default="")
    parser.add_argument("--user", default=os.environ.get("WORKBENCH_USER", ""),
                        help="an analyst or admin of HOME (the builder needs one)")
    parser.add_argument("--visits", type=int, default=3)
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        server, url = serve(args.home, args.user)
        try:
            time.sleep(3)
            first, page = visit(browser, url, "table.wb-table")
            estimate, second = first_estimate(page)
            page.close()
            warm = []
            for _ in range(args.visits):
                time.sleep(12)  # the pool preheats a fresh kernel for the next visitor
                seconds, page = visit(browser, url, "table.wb-table")
                warm.append(seconds)
                page.close()
        finally:
            server.terminate()
            server.wait()
        floor_server, floor_url = serve(args.home, args.user,
                                       ROOT / "benchmarks" / "voila_floor")
        try:
            floors = []
            for _ in range(args.visits):
                time.sleep(12)
                seconds, page = visit(browser, floor_url.replace("audiences", "floor"),
                                      "table.floor")
                floors.append(seconds)
                page.close()
        finally:
            floor_server.terminate()
            floor_server.wait()
        browser.close()
    warm_s, floor_s = statistics.median(warm), statistics.median(floors)
    lines = [f"| {args.label or args.home} | {date.today()} | {first:.2f} | {warm_s:.2f} | "
             f"{floor_s:.2f} | {warm_s / floor_s:.2f}x | {estimate:.2f} | {second:.2f} |"]
    header = ["# The dashboards in Chromium", "",
              "Page load to the Audiences table shown (usable); a rule's last keystroke to its "
              "estimate shown (0.35 s debounce included). Medians of 3 warm visits, each to a "
              "freshly preheated kernel. Yardstick: the same list by hand as a Voilà page "
              "(benchmarks/voila_floor). Goals: dashboard < 3 s warm, first estimate < 2 s at 1M.",
              "", "| base | date | first visit s | warm s | hand-written page s | ratio | "
              "first estimate s | next estimate s |", "|---|---|---|---|---|---|---|---|"]
    existing = RESULTS.read_text().splitlines() if RESULTS.exists() else header
    RESULTS.write_text("\n".join(existing + lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
