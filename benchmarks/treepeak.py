"""Run a command; print its wall time, CPU time and the peak memory of its whole process tree.

GNU time reports the largest single process that was waited for: a CLI run whose papermill
kernel starts a JVM would be measured without the JVM. This samples the tree (the command, its
kernel, the JVM) every 0.1 s and keeps the largest sum of resident memory.
    python benchmarks/treepeak.py LABEL COMMAND...
"""

from __future__ import annotations

import subprocess
import sys
import time

import psutil


def main() -> int:
    label, command = sys.argv[1], sys.argv[2:]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    root = psutil.Process(process.pid)
    peak, cpu = 0, {}
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        total = 0
        for member in tree:
            try:
                total += member.memory_info().rss
                times = member.cpu_times()
                cpu[member.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        peak = max(peak, total)
        time.sleep(0.1)
    wall = time.perf_counter() - started
    print(f"{label}: {wall:.2f} s wall, {sum(cpu.values()):.1f} s CPU, "
          f"{peak / 2**20:.0f} MB peak (process tree), exit {process.returncode}", flush=True)
    return process.returncode


if __name__ == "__main__":
    raise SystemExit(main())
