"""The Spark engine in tests: whether this machine can run it (pyspark and a Java runtime).

The local Spark application itself is the workbench's own (workbench/customers/spark.py starts
one per process, on the first query): every test home on Spark shares it, each with its own
session, as the issue asks (UI off, 2 shuffle partitions, 1 GB driver).
"""

from __future__ import annotations

import importlib.util
import shutil


def skip_reason() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed (pip install -e '.[spark]')"
    if shutil.which("java") is None:
        return "no Java runtime for Spark (apt-get install default-jre-headless)"
    return None
