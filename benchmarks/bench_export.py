"""One export end to end (rows → CSV → PGP → SFTP) against the raw tools doing the same.

    .venv/bin/python benchmarks/bench_export.py --home HOME_1M [--home HOME_10M] [--pairs 3]
        [--before DIR]          (run as root: it starts an sshd and drops the page cache)

Each HOME holds `workbench sample --customers N --seed 7`. An audience of every customer of
the base ("bench everyone", no rules) is created, activated without a backfill and processed
for yesterday if missing; a throwaway OpenSSH server on loopback (tests/sshd.py) and a GnuPG
key made for the run receive the files. Measured as whole processes, per home, side by side:

- ours: `workbench export run` of 8 columns (7 attributes and one plain template) encrypted to
  the key: the CLI, papermill, its kernel, the query, gpg, the SFTP upload, the audit notebook;
- before (``--before DIR``: a checkout of the code to compare with): the same command run on
  that code, so a change is measured against what it replaced in the same run;
- by hand: a fresh `python` running DuckDB's COPY of the same query to a CSV (DuckDB's own
  defaults: memory up to 80% of RAM), then the gpg CLI encrypting it to the same key (its
  default compression), then OpenSSH's `sftp` putting it on the same server.

Cold: the first run of each after the page cache is dropped (``/proc/sys/vm/drop_caches``);
warm: the median of ``--pairs`` rounds alternated (ours, before, by hand). Peak memory is the
largest process of each (CLI, kernel, DuckDB's python). The file ours delivered is decrypted
once per home and its rows compared with the hand-written CSV's (the headers differ: labels
against column names). Results: benchmarks/results/export.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_engine import measure
from harness import keep

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent  # the environment this runs in (a worktree has no .venv)
COLUMNS = [{"attribute": "customer_id"}, {"attribute": "first_name"}, {"attribute": "last_name"},
           {"attribute": "email"}, {"attribute": "home_city"}, {"attribute": "rfm.monetary"},
           {"attribute": "rfm.frequency"}, {"label": "tier", "template": "{{appended.loyalty_tier}}"}]
AUDIENCE = "bench everyone"


def gpg_key(home: str) -> tuple[str, str]:
    subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
                    "--passphrase", "", "--quick-gen-key", "Bench <bench@example.com>",
                    "ed25519", "cert", "0"], check=True, capture_output=True)
    listed = subprocess.run(["gpg", "--homedir", home, "--with-colons", "--list-keys"],
                            capture_output=True, text=True, check=True).stdout
    fingerprint = next(line.split(":")[9] for line in listed.splitlines()
                       if line.startswith("fpr"))
    subprocess.run(["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback",
                    "--passphrase", "", "--quick-add-key", fingerprint, "cv25519", "encr", "0"],
                   check=True, capture_output=True)
    armored = subprocess.run(["gpg", "--homedir", home, "--armor", "--export", fingerprint],
                             capture_output=True, text=True, check=True).stdout
    return fingerprint, armored


def setup(home: str, sshd, armored: str) -> int:
    """The export of every member of the base (made once per home), to this run's server."""
    import workbench

    with workbench.open(home) as wb:
        audience = next((a for a in wb.audiences.list() if a.name == AUDIENCE), None)
        if audience is None:
            created = wb.audiences.create({"name": AUDIENCE, "rules": []})
            audience = wb.audiences.activate(created.id, backfill=False)
        if audience.last_processed_on is None:
            wb.processing.run()  # yesterday: an export refuses stale members
        destination = f"bench-sftp-{sshd.port}"
        if destination not in {d.name for d in wb.destinations.list()}:
            wb.destinations.add({"name": destination, "host": sshd.host, "port": sshd.port,
                                 "path": str(sshd.writable), "username": sshd.user,
                                 "password": sshd.password, "host_key": sshd.host_key_line()})
        if f"bench-pgp-{sshd.port}" not in {e.name for e in wb.encryptions.list()}:
            wb.encryptions.add({"name": f"bench-pgp-{sshd.port}", "keys": [armored]})
        return wb.exports.create({
            "name": f"bench export {time.time_ns()}", "audience": audience.id,
            "file_name": "bench_{run}.csv", "schedule": {"start": "2099-01-01T06:00"},
            "active": False, "destination": destination,
            "encryption": f"bench-pgp-{sshd.port}", "columns": COLUMNS}).id


def raw_script(home: str, export_id: int, sshd, gnupg: str, fingerprint: str,
               folder: Path) -> str:
    """The same query, by hand: DuckDB COPY, then gpg, then sftp."""
    import workbench

    with workbench.open(home) as wb:
        config = wb.exports.get(export_id).config
        with wb.exports.rows(config) as (_audience, _day, query, plan):
            columns = ", ".join(f'"{step}"' for step in plan)
            sql = f"SELECT {columns} FROM ({query.sql('duckdb')}) q"
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(f"[{sshd.host}]:{sshd.port} {sshd.host_key_line()}\n")
    key = folder / "client_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        sshd.authorize(Path(f"{key}.pub"))
    csv_path, pgp_path = folder / "raw.csv", folder / "raw.csv.pgp"
    batch = folder / "batch"
    return (f"import duckdb, subprocess, time\n"
            f"c = duckdb.connect(); c.execute(\"SET TimeZone='UTC'\")\n"
            f"c.execute({('COPY (' + sql + ') TO ' + repr(str(csv_path)) + ' (FORMAT csv, HEADER)')!r})\n"
            f"c.close()\n"
            f"subprocess.run(['gpg', '--homedir', {gnupg!r}, '--batch', '--yes', '--trust-model',"
            f" 'always', '--recipient', {fingerprint!r}, '--output', {str(pgp_path)!r},"
            f" '--encrypt', {str(csv_path)!r}], check=True)\n"
            f"open({str(batch)!r}, 'w').write('put {pgp_path} {sshd.writable}/raw_' + "
            f"str(time.time_ns()) + '.csv.pgp\\n')\n"
            f"subprocess.run(['sftp', '-q', '-b', {str(batch)!r}, '-i', {str(key)!r}, '-P',"
            f" '{sshd.port}', '-o', 'UserKnownHostsFile={known_hosts}', '-o',"
            f" 'StrictHostKeyChecking=yes', '{sshd.user}@{sshd.host}'], check=True)\n")


def attempt(command: list[str], env: dict) -> dict:
    """``measure``, or what made the command fail (the code before a change may not cope)."""
    started = time.perf_counter()
    try:
        return measure(command, env)
    except SystemExit as exc:
        reason = str(exc).rsplit("workbench: ", 1)[-1].split(" (audit notebook")[0]
        if "out of memory" in reason:
            reason = "out of memory (" + reason.split("(", 2)[-1].split(")")[0] + ")"
        return {"wall": time.perf_counter() - started, "failed": reason[:160]}


def drop_caches() -> bool:
    """Empty the page cache (root only): the next run reads its files from disk."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def rows_digest(lines) -> tuple[int, str]:
    """Rows and SHA-256 of a CSV without its header line."""
    digest, count = hashlib.sha256(), -1
    for line in lines:
        if count >= 0:
            digest.update(line)
        count += 1
    return count, digest.hexdigest()


def same_rows(sshd, gnupg: str, raw_csv: Path) -> str:
    """Decrypt the file ours delivered; whether its rows are the hand-written CSV's."""
    ours = next(p for p in sshd.writable.iterdir() if not p.name.startswith("raw_"))
    decrypt = subprocess.Popen(["gpg", "--homedir", gnupg, "--batch", "--quiet", "--decrypt",
                                str(ours)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    delivered = rows_digest(decrypt.stdout)
    decrypt.wait()
    with open(raw_csv, "rb") as handle:
        by_hand = rows_digest(handle)
    if delivered != by_hand:
        return f"DIFFERENT rows: delivered {delivered}, by hand {by_hand}"
    return f"same {delivered[0]:,} rows, byte for byte (SHA-256 {delivered[1][:12]}…)"


def machine() -> list[str]:
    def first(command: list[str]) -> str:
        try:
            done = subprocess.run(command, capture_output=True, text=True, check=False)
        except OSError:
            return "?"
        return ((done.stdout or done.stderr).strip().splitlines() or ["?"])[0]

    import duckdb
    import paramiko

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    memory = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal"))) / 1024 / 1024
    return [f"Machine: {os.cpu_count()} cores ({cpu}), {memory:.0f} GB RAM, Linux "
            f"{platform.release()}; Python {platform.python_version()}, DuckDB "
            f"{duckdb.__version__}, {first(['gpg', '--version'])}, paramiko {paramiko.__version__}, "
            f"{first(['ssh', '-V'])}. Load average at the start: "
            f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}."]


def main() -> None:
    from tests.sshd import running_sshd

    parser = argparse.ArgumentParser()
    parser.add_argument("--home", required=True, action="append")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--before", help="a checkout of the code to compare with (its root)")
    args = parser.parse_args()
    gnupg = tempfile.mkdtemp(prefix="wbb", dir="/tmp")
    folder = Path(tempfile.mkdtemp(prefix="wbx"))
    fingerprint, armored = gpg_key(gnupg)
    who = ["ours", *(["before"] if args.before else []), "by hand"]
    table = ["| members | run | " + " | ".join(f"{w} wall s | {w} CPU s | {w} peak MB"
                                              for w in who)
             + " | " + " | ".join(f"{w} / by hand" for w in who[:-1]) + " |",
             "|" + "---|" * (2 + 4 * len(who) - 1)]
    notes, started = [], machine()
    with running_sshd() as sshd:
        for home in args.home:
            export_id = setup(home, sshd, armored)
            commands = {"ours": ([str(BIN / "workbench"), "export", "run", str(export_id),
                                  "--json"], {"PYTHONPATH": str(ROOT)}),
                        "raw": ([str(BIN / "python"), "-c",
                                 raw_script(home, export_id, sshd, gnupg, fingerprint, folder)],
                                {})}
            if args.before:
                commands["before"] = (commands["ours"][0], {"PYTHONPATH": args.before})
            runs: dict[str, list[dict]] = {name: [] for name in commands}
            one = lambda name: attempt(commands[name][0], {  # noqa: E731, B023
                **os.environ, "WORKBENCH_HOME": home, **commands[name][1]})  # noqa: B023

            cold = {}
            for name in commands:
                dropped = drop_caches()
                cold[name] = one(name)
            for leftover in sshd.writable.iterdir():
                leftover.unlink()
            for _ in range(args.pairs):
                for name in commands:
                    if "failed" not in cold[name]:  # a failure is said once: it fails again
                        runs[name].append(one(name))
                check = same_rows(sshd, gnupg, folder / "raw.csv")
                for leftover in sshd.writable.iterdir():
                    leftover.unlink()
            members = json.loads(runs["ours"][-1]["out"])["rows"]
            warm = {name: {k: statistics.median(r[k] for r in done)
                           for k in ("wall", "cpu", "peak_mb")} if done else cold[name]
                    for name, done in runs.items()}
            order = ["ours", *(["before"] if args.before else []), "raw"]
            cold_label = "cold (page cache dropped)" if dropped else "first run"
            for label, figures in ((cold_label, cold), (f"warm, median of {args.pairs}", warm)):
                cells = [f"{figures[n]['wall']:.2f} | {figures[n]['cpu']:.2f} | "
                         f"{figures[n]['peak_mb']:.0f}" if "failed" not in figures[n] else
                         f"failed after {figures[n]['wall']:.0f} s: {figures[n]['failed']} | | "
                         for n in order]
                ratios = [f"**{figures[n]['wall'] / figures['raw']['wall']:.2f}x**"
                          if "failed" not in figures[n] else "–" for n in order[:-1]]
                table.append(f"| {members:,} | {label} | " + " | ".join(cells + ratios) + " |")
            notes.append(f"- {members:,} members: the delivered file decrypted: {check}.")
    subprocess.run(["gpgconf", "--homedir", gnupg, "--kill", "gpg-agent"], capture_output=True)
    lines = [f"# One export end to end, {date.today()}", "",
             "Every member of the base × 8 columns (7 attributes, one template), encrypted to one "
             "ed25519/cv25519 key, uploaded to an OpenSSH server on loopback "
             "(`benchmarks/bench_export.py`). Whole processes; peak = the largest process. "
             "Ours: `workbench export run` (CLI, papermill, kernel, query, CSV, gpg, SFTP, audit "
             "notebook). By hand: DuckDB COPY + gpg CLI + OpenSSH sftp, each with its defaults.",
             "", *started, "", *table, "", *notes]
    keep("export", lines)


if __name__ == "__main__":
    main()
