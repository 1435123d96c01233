"""A real Spark standalone cluster on loopback for the tests: a master and two workers, each a
JVM process of its own with its own cores and memory, started with Spark's own daemon script.

The pip package of pyspark ships ``sbin/spark-daemon.sh`` but not the distribution's
``start-master.sh`` / ``start-worker.sh``; those are thin wrappers that call
``spark-daemon.sh start org.apache.spark.deploy.master.Master 1 --host … --port …`` (and
``…deploy.worker.Worker N spark://…``), which is what this does. No full Spark distribution can
be fetched on this machine (only PyPI, Debian and npm are reachable, and none packages one).

Everything the daemons write (pid files, logs, the workers' application folders) is in one
folder of the test run; the cluster is stopped at the end, each JVM by its pid (the executors
end with their worker), and a JVM that outlives ``spark-daemon.sh stop`` is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
WORKERS, CORES, MEMORY = 2, 1, "1g"  # each worker: 1 core and 1 GB for its one executor


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class Cluster:
    folder: Path
    port: int
    ui_port: int
    env: dict = field(repr=False)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _daemon(self, action: str, cls: str, number: int, *arguments: str) -> None:
        subprocess.run([str(spark_home() / "sbin" / "spark-daemon.sh"), action, cls, str(number),
                        *arguments], env=self.env, check=True, capture_output=True)

    def pid(self, cls: str, number: int) -> int | None:
        path = self.folder / "pid" / f"spark-test-{cls}-{number}.pid"
        return int(path.read_text()) if path.exists() else None

    def start_worker(self, number: int) -> None:
        self._daemon("start", WORKER, number, "--host", "127.0.0.1", "--webui-port", "0",
                     "--cores", str(CORES), "--memory", MEMORY, self.url)

    def kill_worker(self, number: int) -> int:
        """kill -9 of one worker's JVM (its executor loses its worker and exits too)."""
        pid = self.pid(WORKER, number)
        os.kill(pid, signal.SIGKILL)
        (self.folder / "pid" / f"spark-test-{WORKER}-{number}.pid").unlink()
        return pid

    def alive_workers(self) -> int:
        """Workers the master counts as alive (its web UI's JSON)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/",
                                        timeout=5) as answer:
                state = json.load(answer)
        except OSError:
            return 0
        return sum(1 for w in state.get("workers", []) if w.get("state") == "ALIVE")

    def wait_for_workers(self, count: int, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while self.alive_workers() < count:
            if time.monotonic() > deadline:
                logs = "".join(p.read_text()[-1500:] for p in (self.folder / "logs").glob("*"))
                raise RuntimeError(f"the Spark cluster has not {count} workers: {logs}")
            time.sleep(0.5)

    def java_pids(self) -> list[int]:
        """The master's and workers' JVMs, and the executors the workers started."""
        import psutil

        daemons = [p for p in (self.pid(MASTER, 1), *(self.pid(WORKER, n)
                                                       for n in range(1, WORKERS + 1))) if p]
        found = list(daemons)
        for pid in daemons:
            try:
                found += [c.pid for c in psutil.Process(pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                pass
        return found

    def stop(self) -> None:
        lingering = self.java_pids()
        for number in range(1, WORKERS + 1):
            if self.pid(WORKER, number):
                self._daemon("stop", WORKER, number)
        if self.pid(MASTER, 1):
            self._daemon("stop", MASTER, 1)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(p) for p in lingering):
            time.sleep(0.2)
        for pid in lingering:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours is gone too
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().split(") ", 1)[-1][:1] != "Z"


@contextmanager
def running_cluster(folder: Path, workers: int = WORKERS) -> Iterator[Cluster]:
    from tests.sshd import free_port

    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(folder / "logs"), "SPARK_PID_DIR": str(folder / "pid"),
           "SPARK_WORKER_DIR": str(folder / "work"), "SPARK_LOCAL_DIRS": str(folder / "local"),
           "SPARK_IDENT_STRING": "test", "SPARK_DAEMON_MEMORY": "256m",
           # no REST submission server (a fixed port 6066 otherwise)
           "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
           "SPARK_WORKER_OPTS": "-Dspark.worker.cleanup.enabled=false"}
    cluster = Cluster(folder, free_port(), free_port(), env)
    try:
        cluster._daemon("start", MASTER, 1, "--host", "127.0.0.1", "--port", str(cluster.port),
                        "--webui-port", str(cluster.ui_port))
        for number in range(1, workers + 1):
            cluster.start_worker(number)
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        cluster.stop()
