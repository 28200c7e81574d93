"""Spark sessions: heatmap starts them with its defaults and stops the ones it started once no dataset uses them."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import threading
from collections.abc import Mapping
from typing import Any

from heatmap_lib.core.exceptions import DataError

# Every Spark session heatmap starts gets these (a URL's own spark.* settings win): no web UI, Arrow transfers.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}


# Local mode only: one small machine, so few shuffle partitions (Spark's default 200 is for clusters), on loopback.
LOCAL_DEFAULTS: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


_spark_lock = threading.Lock()
_spark_owned: dict[int, list[Any]] = {}  # id(session) -> [session, number of open datasets using it]


def spark_session(
    master: str | None = "local[*]", conf: Mapping[str, str] | None = None, *, remote: str | None = None
) -> Any:
    """A SparkSession for `master` (or Spark Connect at `remote`) with `SPARK_DEFAULTS` and `conf` applied.

    An active session is reused (Spark allows one per process; its master cannot change). Local mode also gets
    `LOCAL_DEFAULTS` and as many shuffle partitions as threads.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise DataError("Spark needs PySpark and Java 17+: pip install 'heatmap[engines]'") from exc
    settings = dict(SPARK_DEFAULTS)
    if remote is None and master and master.startswith("local"):
        m = re.match(r"local(?:\[(\d+))?", master)  # local, local[N], local[N,F]; local[*]: every core
        cores = int(m.group(1)) if m and m.group(1) else (1 if master == "local" else os.cpu_count() or 2)
        settings |= LOCAL_DEFAULTS | {"spark.sql.shuffle.partitions": str(max(2, cores))}
    settings |= dict(conf or {})
    builder = SparkSession.builder.remote(remote) if remote else SparkSession.builder.master(master or "local[*]")
    for key, value in settings.items():
        if remote and not key.startswith("spark.sql."):
            continue  # a Connect server has its own cluster settings
        builder = builder.config(key, value)
    with _spark_lock:
        before = None if remote else SparkSession.getActiveSession()
        session = builder.appName("heatmap").getOrCreate()
        if before is None or id(session) in _spark_owned:
            _spark_owned.setdefault(id(session), [session, 0])[1] += 1
    return session


def _release_spark(session: Any) -> None:
    with _spark_lock:
        entry = _spark_owned.get(id(session))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _spark_owned[id(session)]
    with contextlib.suppress(Exception):  # the JVM may be gone already at interpreter exit
        session.stop()


def shutdown_spark() -> None:
    """Stop the Spark sessions heatmap started and the local JVM behind PySpark (tests and benchmarks end so)."""
    with _spark_lock:
        sessions = [entry[0] for entry in _spark_owned.values()]
        _spark_owned.clear()
    for session in sessions:
        with contextlib.suppress(Exception):
            session.stop()
    try:
        from pyspark import SparkContext
    except ImportError:
        return
    if SparkContext._active_spark_context is not None:
        SparkContext._active_spark_context.stop()
    gateway = SparkContext._gateway
    if gateway is not None:
        proc = getattr(gateway, "proc", None)
        gateway.shutdown()
        if proc is not None:  # the JVM exits when its stdin closes
            proc.stdin.close()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        SparkContext._gateway = None
        SparkContext._jvm = None
