"""The Spark engine in tests: whether this machine can run it (pyspark and a Java runtime).

The local Spark application itself is the workbench's own (workbench/query/spark.py starts
one per process, on the first query): every test home on Spark shares it, each with its own
session, as the issue asks (UI off, 2 shuffle partitions, 1 GB driver).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def skip_reason() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None:
        return "no Java runtime for Spark (apt-get install default-jre-headless)"
    if importlib.util.find_spec("grpc") is None:
        return "pyspark's Spark Connect client is not installed (pip install 'pyspark[connect]')"
    return None


# An application on the test cluster (tests/sparkcluster.py): one executor of 1 core and 1 GB on
# each worker.
CLUSTER_SETTINGS = {"spark.executor.memory": "1g", "spark.executor.cores": "1",
                    "spark.locality.wait": "0s"}


def point_at(root: Path, master: str) -> None:
    """Point a home that runs on Spark (conftest.use_engine) at another master, with the
    test cluster's settings when it is one."""
    settings = root / "workbench.toml"
    text = settings.read_text(encoding="utf-8").replace(
        'kind = "spark"\n', f'kind = "spark"\nmaster = "{master}"\n', 1)
    if master.startswith("spark://"):
        text += "\n[engine.spark]\n" + "".join(f'"{k}" = "{v}"\n'
                                               for k, v in CLUSTER_SETTINGS.items())
    settings.write_text(text, encoding="utf-8")


def on_master(master: str) -> None:
    """Let this process's Spark application be on ``master`` (one per process): the one
    running elsewhere is stopped; the next query starts it again."""
    from workbench.query import spark

    root = spark._ROOT
    if root is not None and root.sparkContext._jsc is not None and \
            root.sparkContext.master != master:
        spark.stop_application()


@contextmanager
def connect_server(folder: Path, master: str = "local[2]") -> Iterator[str]:
    """A Spark Connect server on loopback (pyspark's own sbin script), its application on
    ``master`` (local[2], or a cluster's spark://), stopped afterwards; yields its sc:// URL."""
    import pyspark

    from tests.sshd import free_port

    spark_home = Path(pyspark.__file__).parent
    port = free_port()
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(folder / "logs"), "SPARK_PID_DIR": str(folder / "pid")}
    settings = {"spark.connect.grpc.binding.port": port,
                "spark.connect.grpc.binding.address": "127.0.0.1", "spark.ui.enabled": "false",
                "spark.sql.shuffle.partitions": 2, "spark.driver.memory": "1g",
                **(CLUSTER_SETTINGS if master.startswith("spark://") else {})}
    command = [str(spark_home / "sbin" / "start-connect-server.sh"), "--master", master]
    for key, value in settings.items():
        command += ["--conf", f"{key}={value}"]
    subprocess.run(command, env=env, check=True, capture_output=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                logs = "".join(p.read_text() for p in (folder / "logs").glob("*.out"))
                raise RuntimeError(f"Spark Connect did not listen on {port}: {logs[-2000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run([str(spark_home / "sbin" / "stop-connect-server.sh")], env=env,
                       capture_output=True)
