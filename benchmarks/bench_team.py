"""Team mode (docs/team.md) at 100,000 customers, on this machine, in one run:

    WORKBENCH_TEST_TEAM_PREFIX=/opt/audience-workbench-bench \\
    WORKBENCH_NOW=2026-03-11T01:00:00+00:00 .venv/bin/python benchmarks/bench_team.py

As root (tests/hub.py: real local accounts, ``workbench hub``, the service as its own account).

1. An estimate through the service (``RemoteWorkbench(hub.service, token)``, HTTP + the hub's
   word on the token) against the same estimate in this process (``Workbench(home)``, opened as
   root, who can read the service's home), same home, same user, same day: the first call of
   each (cold), then warm p50/p95 of --calls calls each, in pairs alternated (A B, B A, ...), for
   a simple age rule and a tag-within-days + RFM rule; and ``workbench.about`` (the auth and
   HTTP overhead on a call that does nothing). Target: service p50 <= 1.2x in-process + 50 ms.
   Peak RSS of the serving process (VmHWM of the pid ``pgrep -u ACCOUNT -f 'workbench.service
   --serve'`` finds).
2. --users viewer accounts, their servers spawned through the hub's API, each signed in (the
   hub's login form) and one dashboard render warmed; then rounds of 1 and of --users browser
   pages at once (headless Chromium, on the same 2 cores), each timed from navigation to the
   Audiences table showing Champions (usable), then a click on Champions to its page (.wb-tabs).
   Target: p95 under 3 s at 20 at once. Where the time goes: CPU seconds per kind of process
   during the round, and the service calls the round made (the service's access log).

Prints the report (Markdown) to stdout; benchmarks/results/team.md keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("WORKBENCH_TEST_TEAM_PREFIX", "/opt/audience-workbench-bench")
os.environ.setdefault("WORKBENCH_NOW", "2026-03-11T01:00:00+00:00")
sys.path.insert(0, str(ROOT))

from tests import hub as hubs  # noqa: E402
from tests.served import CHROMIUM  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
AGE = {"name": "Bench age", "rules": [{"attribute": "age", "op": "between", "value": [25, 34]}]}
TAG_RFM = {"name": "Bench tag + RFM", "rules": [
    {"attribute": "tag", "op": "has", "value": ["store_visit"], "within_days": 90,
     "min_count": 2},
    {"attribute": "rfm.monetary", "op": "gt", "value": 100, "within_days": 365}]}
USABLE = "table.wb-table >> text=Champions"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# -- 1. the service against in process ---------------------------------------------------------

def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def service_pid(hub) -> int:
    return hub.service_pid()


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of ``pid`` in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = {k: int(v) / 1024 for k, v in re.findall(r"^(VmHWM|VmRSS):\s+(\d+) kB", status, re.M)}
    return found["VmHWM"], found["VmRSS"]


def estimates(hub, calls: int) -> tuple[list[str], dict]:
    from workbench.app import Workbench
    from workbench.service.client import RemoteWorkbench

    analyst = hub.people["analyst"]
    token, _ = hub.token(analyst, expires_in=3600)
    rows: list[str] = []
    figures: dict = {}
    pid = service_pid(hub)
    rss_start = peak_rss_mb(pid)

    open_local, local = timed(lambda: Workbench(hub.home, user=analyst))
    open_remote, remote = timed(lambda: RemoteWorkbench(hub.service, token))
    day = local.yesterday()
    assert remote.yesterday() == day, (remote.yesterday(), day)
    rows.append(f"| open (`Workbench(home)` / `RemoteWorkbench(url, token)`) | "
                f"{ms(open_local)} | {ms(open_remote)} | | |")
    for label, definition in (("age 25-34", AGE),
                              ("store_visit x2 in 90 d + RFM monetary > 100 in 365 d", TAG_RFM)):
        cold_local, a = timed(lambda d=definition: local.audiences.estimate(d, day))
        cold_remote, b = timed(lambda d=definition: remote.audiences.estimate(d, day))
        assert (a.size, a.base) == (b.size, b.base), (a, b)
        warm_local, warm_remote = [], []
        for i in range(calls):
            order = ((warm_local, local), (warm_remote, remote))
            for into, wb in (order if i % 2 == 0 else order[::-1]):
                seconds, _ = timed(lambda wb=wb, d=definition: wb.audiences.estimate(d, day))
                into.append(seconds)
        p50l, p50r = statistics.median(warm_local), statistics.median(warm_remote)
        target = 1.2 * p50l + 0.050
        figures[label] = (p50l, p50r, target)
        rows.append(f"| {label} ({a.size:,} of {a.base:,}): cold, first call | {ms(cold_local)} | "
                    f"{ms(cold_remote)} | {cold_remote / cold_local:.2f}x | |")
        rows.append(f"| {label}: warm p50 of {calls} | {ms(p50l)} | {ms(p50r)} | "
                    f"{p50r / p50l:.2f}x (+{ms(p50r - p50l)}) | {ms(target)}: "
                    f"**{'met' if p50r <= target else 'missed'}** |")
        rows.append(f"| {label}: warm p95 of {calls} | {ms(pct(warm_local, .95))} | "
                    f"{ms(pct(warm_remote, .95))} | "
                    f"{pct(warm_remote, .95) / pct(warm_local, .95):.2f}x | |")
    abouts = []
    for _ in range(calls):
        seconds, _ = timed(lambda: remote._call("workbench", "about"))
        abouts.append(seconds)
    rows.append(f"| `workbench.about` (a call that does nothing: HTTP, proxy, the hub's word on "
                f"the token) p50 / p95 of {calls} | – | {ms(statistics.median(abouts))} / "
                f"{ms(pct(abouts, .95))} | | |")
    # Past the 2 s the service keeps the hub's word: every call asks the hub again.
    stale = []
    for _ in range(5):
        time.sleep(2.2)
        seconds, _ = timed(lambda: remote._call("workbench", "about"))
        stale.append(seconds)
    rows.append(f"| `workbench.about` 2.2 s after the last call (the hub asked again) p50 of 5 "
                f"| – | {ms(statistics.median(stale))} | | |")
    hwm, rss = peak_rss_mb(pid)
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows.append(f"| memory: peak RSS (in process: this benchmark's process; service: the "
                f"serving process, {rss_start[0]:.0f} MB peak before these calls) | {own:.0f} MB | "
                f"{hwm:.0f} MB (now {rss:.0f} MB) | | |")
    remote.close()
    figures["service_peak_mb"] = hwm
    return rows, figures


# -- 2. many dashboards at once ------------------------------------------------------------------

def spawn_all(hub, names: list[str], batch: int = 4) -> float:
    """Start their servers through the hub's API, ``batch`` at a time; seconds taken."""
    started = time.perf_counter()
    for first in range(0, len(names), batch):
        group = names[first:first + batch]
        for name in group:
            answer = hub.api("POST", f"/users/{name}/server")
            assert answer.status_code in (201, 202), (name, answer.status_code, answer.text)
        deadline = time.monotonic() + 180
        waiting = set(group)
        while waiting:
            if time.monotonic() > deadline:
                raise RuntimeError(f"servers not ready in 180 s: {sorted(waiting)}")
            for name in list(waiting):
                model = hub.api("GET", f"/users/{name}").json()
                if (model.get("servers") or {}).get("", {}).get("ready"):
                    waiting.discard(name)
            time.sleep(0.5)
    return time.perf_counter() - started


KINDS = (("kernels", ("ipykernel",)), ("servers (Jupyter Server + Voilà)", ("singleuser",)),
         ("workbench service", ("workbench.service",)),
         ("hub + proxy", ("jupyterhub", "configurable-http-proxy")))
BROWSER = ("chrom", "playwright", "node")


def cpu_snapshot(hub) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of this hub's processes (its accounts' and its install's) and of
    this benchmark's browser, by kind; other processes on the machine are left out."""
    import psutil

    ours = {p.pid for p in psutil.Process().children(recursive=True)} | {os.getpid()}
    accounts = {hub.account, *hub.viewers, *hub.people.values()}
    found = {}
    for process in psutil.process_iter(["pid", "cmdline", "username", "cpu_times"]):
        line = " ".join(process.info["cmdline"] or [])
        pid = process.info["pid"]
        if pid == os.getpid() or pid in ours and any(w in line for w in BROWSER):
            kind = "browser (Chromium + Playwright)"
        elif process.info["username"] in accounts or str(hubs.TEAM_PREFIX) in line:
            kind = next((k for k, words in KINDS if any(w in line for w in words)), "other")
        else:
            continue
        if process.info["cpu_times"]:
            t = process.info["cpu_times"]
            found[pid] = (kind, t.user + t.system)
    return found


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    used: dict[str, float] = {}
    for pid, (kind, seconds) in after.items():
        used[kind] = used.get(kind, 0.0) + seconds - before.get(pid, (kind, 0.0))[1]
    return used


def quiet(seconds: float = 90) -> None:
    """Until the machine is idle (< 15% of the 2 cores for 2 s), at most ``seconds``."""
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and psutil.cpu_percent(interval=2) > 15:
        pass


async def sign_in(browser, hub, name: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(f"{hub.url}/hub/login")
    await page.fill("#username_input", name)
    await page.fill("#password_input", hub.passwords[name])
    await page.click("#login_submit")
    await page.wait_for_url("**/voila/render/**", timeout=120_000)
    await page.wait_for_selector(USABLE, timeout=180_000)  # the warm-up render
    await page.close()
    return context


async def one_visit(context, url: str, start: asyncio.Event) -> dict:
    page = await context.new_page()
    await start.wait()
    t0 = time.perf_counter()
    marks: dict = {}
    try:
        await page.goto(url, wait_until="commit", timeout=180_000)
        marks["first byte"] = time.perf_counter() - t0
        await page.wait_for_selector(".wb-user", timeout=180_000)
        marks["header shown"] = time.perf_counter() - t0
        await page.wait_for_selector(USABLE, timeout=180_000)
        marks["usable"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        await page.click("a:has-text('Champions')")
        await page.wait_for_selector(".wb-tabs", timeout=180_000)
        marks["audience page"] = time.perf_counter() - t1
        marks["total"] = time.perf_counter() - t0
    except Exception as exc:  # recorded, not hidden
        marks["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    marks["page"] = page
    return marks


def log_lines_since(log: Path, offset: int) -> list[str]:
    with open(log, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace").splitlines()


ACCESS = re.compile(r"(\d{3}) (GET|POST) (\S+) .*?([\d.]+)ms")


def service_calls(lines: list[str]) -> dict[str, list[float]]:
    """Service calls in the log: verb -> durations (ms), from tornado's access lines."""
    calls: dict[str, list[float]] = {}
    for line in lines:
        found = ACCESS.search(line)
        if found and "/api/v1/call/" in found.group(3):
            verb = found.group(3).split("/api/v1/call/")[1].split("?")[0].replace("/", ".")
            calls.setdefault(verb, []).append(float(found.group(4)))
        elif found and "/voila/render/" in found.group(3):
            calls.setdefault("(Voilà page, server side: kernel start + notebook run)",
                             []).append(float(found.group(4)))
    return calls


async def round_of(contexts: list, urls: list[str], hub) -> dict:
    offset = hub.log.stat().st_size
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_visit(c, u, start)) for c, u in zip(contexts, urls, strict=True)]
    await asyncio.sleep(1)  # the pages exist; now all go at once
    before = cpu_snapshot(hub)
    wall0 = time.perf_counter()
    start.set()
    marks = await asyncio.gather(*tasks)
    wall = time.perf_counter() - wall0
    after = cpu_snapshot(hub)
    for m in marks:
        await m.pop("page").close()
    lines = log_lines_since(hub.log, offset)
    return {"marks": marks, "wall": wall, "cpu": cpu_used(before, after),
            "calls": service_calls(lines),
            "kernels started": sum("Kernel started" in line for line in lines)}


async def dashboards(hub, users: int, rounds: int) -> tuple[list[str], dict]:
    from playwright.async_api import async_playwright

    names = hub.viewers[:users]
    rows: list[str] = []
    spawn_s = spawn_all(hub, names)
    rows.append(f"Servers of {users} viewers spawned through the hub's API, 4 at a time: "
                f"{spawn_s:.0f} s.")
    dashboard = "voila/render/dashboards/audiences.ipynb"
    urls = [f"{hub.url}/user/{n}/{dashboard}" for n in names]
    results: dict = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        started = time.perf_counter()
        contexts = []
        for first in range(0, len(names), 4):  # signed in and warmed 4 at a time
            contexts += await asyncio.gather(*(sign_in(browser, hub, n)
                                               for n in names[first:first + 4]))
        rows.append(f"Signed in and one dashboard render warmed each: "
                    f"{time.perf_counter() - started:.0f} s.")
        for size in sorted({1, min(5, users), users}):
            for r in range(rounds if size > 1 else 3):
                await asyncio.to_thread(quiet)
                results[(size, r)] = await round_of(contexts[:size], urls[:size], hub)
        for context in contexts:
            await context.close()
        await browser.close()
    return rows, results


def dashboard_rows(results: dict, users: int) -> tuple[list[str], dict]:
    rows = ["| pages at once | visits | errors | first byte p50 | header shown p50 | "
            "usable p50 | usable p95 | usable max | audience page p50 | audience page p95 | "
            "round wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    by_size: dict[int, list] = {}
    for (size, _r), result in results.items():
        by_size.setdefault(size, []).append(result)
    verdict = {}
    for size, rounds in sorted(by_size.items()):
        marks = [m for r in rounds for m in r["marks"]]
        ok = [m for m in marks if "error" not in m]
        errors = [m["error"] for m in marks if "error" in m]

        def q(key, p, ok=ok):
            values = [m[key] for m in ok if key in m]
            return f"{pct(values, p):.2f}" if values else "–"

        usable = [m["usable"] for m in ok]
        verdict[size] = (pct(usable, .95) if usable else None, errors)
        rows.append(f"| {size} | {len(marks)} | {len(errors)} | {q('first byte', .5)} | "
                    f"{q('header shown', .5)} | {q('usable', .5)} | **{q('usable', .95)}** | "
                    f"{q('usable', 1.0)} | {q('audience page', .5)} | {q('audience page', .95)} "
                    f"| {statistics.median(r['wall'] for r in rounds):.1f} |")
    big = by_size[users][-1]
    rows += ["", f"Where the time went in the last round of {users} at once "
             f"({big['wall']:.1f} s wall, {2 * big['wall']:.0f} CPU-seconds on 2 cores; "
             f"{big['kernels started']} kernels started):", "",
             "| processes | CPU s | share |", "|---|---|---|"]
    total = sum(big["cpu"].values()) or 1
    for kind, seconds in sorted(big["cpu"].items(), key=lambda kv: -kv[1]):
        rows.append(f"| {kind} | {seconds:.1f} | {seconds / total:.0%} |")
    rows += ["", "Service calls and Voilà pages that round (access logs of the service and "
             "the servers, ms):", "",
             "| call | count | p50 ms | p95 ms | max ms |", "|---|---|---|---|---|"]
    for verb, values in sorted(big["calls"].items(), key=lambda kv: -len(kv[1])):
        rows.append(f"| {verb} | {len(values)} | {pct(values, .5):.0f} | {pct(values, .95):.0f} "
                    f"| {max(values):.0f} |")
    for size, (_p95, errors) in verdict.items():
        if errors:
            rows.append(f"\nErrors at {size} at once: " + "; ".join(sorted(set(errors))))
    return rows, verdict


# -- the report ------------------------------------------------------------------------------------

def versions() -> str:
    venv = hubs.TEAM_PREFIX / "venv" / "bin" / "python"
    found = subprocess.run([str(venv), "-c", "import jupyterhub, voila, jupyter_server, duckdb; "
                            "print(jupyterhub.__version__, voila.__version__, "
                            "jupyter_server.__version__, duckdb.__version__)"],
                           capture_output=True, text=True).stdout.split()
    chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True,
                              text=True).stdout.strip()
    names = ("JupyterHub", "Voilà", "Jupyter Server", "DuckDB")
    return ", ".join(f"{n} {v}" for n, v in zip(names, found, strict=False)) + f", {chromium}, Python " \
        f"{subprocess.run([str(venv), '-V'], capture_output=True, text=True).stdout.split()[1]}"


def machine() -> str:
    import psutil

    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return (f"{os.cpu_count()} cores ({model}), {psutil.virtual_memory().total / 2**30:.0f} GB "
            f"RAM, {platform.system()} {platform.release()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if reason := hubs.skip_reason():
        raise SystemExit(reason)
    tmp = Path(tempfile.mkdtemp(prefix="bench-team-"))
    print(f"hub log: {tmp / 'hub.log'}", file=sys.stderr)
    made = time.perf_counter()
    with hubs.running_hub(tmp, customers=args.customers, viewers=args.users) as hub:
        print(f"hub up in {time.perf_counter() - made:.0f} s", file=sys.stderr)
        first, figures = estimates(hub, args.calls)
        print("\n".join(first), file=sys.stderr)
        notes, results = asyncio.run(dashboards(hub, args.users, args.rounds))
        second, verdict = dashboard_rows(results, args.users)
        hwm, _ = peak_rss_mb(service_pid(hub))
    lines = [f"# Team mode: the service, and {args.users} dashboard users at once", "",
             f"{date.today()}; {machine()}; {versions()}. "
             f"{args.customers:,} customers (`workbench sample --seed 3`), "
             f"WORKBENCH_NOW={os.environ['WORKBENCH_NOW']}; `python benchmarks/bench_team.py` "
             "(tests/hub.py: real accounts, `workbench hub`, the service as its own account).",
             "", "## 1. An estimate through the service against the same estimate in process", "",
             "Same home, same user (the analyst), same day; the first call of each, then calls in "
             "pairs alternated. Wall time in the caller. Target: service p50 <= 1.2x in-process "
             "+ 50 ms.", "",
             "| measurement | in process | through the service | ratio | target |",
             "|---|---|---|---|---|", *first, "",
             f"Service peak RSS at the end of the run (after part 2 too): {hwm:.0f} MB.", "",
             f"## 2. {args.users} dashboard users at once, 2 cores", "", *notes, "",
             "Seconds from navigation to the Audiences table showing Champions (usable), then "
             "from the click on Champions to its page (.wb-tabs). Each round waits for the "
             "machine to be idle, then opens the pages at once (one browser context per "
             "viewer, signed in); Chromium runs on the same 2 cores. Target: usable p95 < 3 s "
             f"at {args.users}.", "", *second]
    print("\n".join(lines))
    p95 = verdict.get(args.users, (None,))[0]
    print(f"\nestimate targets: {figures}; dashboards p95 at {args.users}: {p95}", file=sys.stderr)


if __name__ == "__main__":
    main()
