"""Pytest fixtures for Spark: one local SparkSession per test session, and a Spark Connect server
started from the installed pyspark package on a free 127.0.0.1 port.

The Connect server runs in the foreground (``start-connect-server.sh --wait``) in its own process group,
with a temporary ``SPARK_CONF_DIR``/log/pid dir, no UI and 512 MB of driver memory. Startup waits at most
``CONNECT_START_TIMEOUT`` seconds for the port; teardown sends SIGTERM to the whole process group and
SIGKILL after ``CONNECT_STOP_TIMEOUT`` seconds, so nothing can hang or outlive the test session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from retina_assets.engines.spark import LOCAL_SPARK_CONFIG, stop_connect_sessions

CONNECT_START_TIMEOUT = 120.0
CONNECT_STOP_TIMEOUT = 15.0


@pytest.fixture(scope="session")
def spark_local() -> Iterator[object]:
    """The local SparkSession shared by all Spark tests (the same one the Spark resource uses)."""
    from retina_assets.engines.spark import local_spark_session

    spark = local_spark_session()
    yield spark
    spark.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_process_group(proc: subprocess.Popen, timeout: float = CONNECT_STOP_TIMEOUT) -> None:
    """SIGTERM every process of ``proc``'s group (the shell and the JVM); SIGKILL what is left after
    ``timeout`` seconds. Returns once the group is gone (at most ~2 x ``timeout``)."""
    pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(pgid):
            break
        os.killpg(pgid, sig)
        deadline = time.monotonic() + timeout
        while _group_alive(pgid) and time.monotonic() < deadline:
            proc.poll()  # reap the shell so it does not linger as a zombie
            time.sleep(0.2)
    proc.wait(timeout=timeout)


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:<port>`` of a Spark Connect server started from the pyspark package."""
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark-connect")
    for sub in ("conf", "logs", "pids", "local", "warehouse"):
        (work / sub).mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_CONF_DIR": str(work / "conf"),
        "SPARK_LOG_DIR": str(work / "logs"),
        "SPARK_PID_DIR": str(work / "pids"),
        "SPARK_LOCAL_DIRS": str(work / "local"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    env.pop("SPARK_REMOTE", None)
    env.pop("SPARK_CONNECT_MODE_ENABLED", None)
    conf = {
        **LOCAL_SPARK_CONFIG,
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.sql.warehouse.dir": str(work / "warehouse"),
        "spark.pyspark.python": sys.executable,
    }
    conf.pop("spark.master", None)
    conf.pop("spark.driver.memory", None)
    args = [str(home / "sbin" / "start-connect-server.sh"), "--wait", "--master", "local[2]"]
    args += ["--driver-memory", "512m"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    log_path = work / "logs" / "connect-server.out"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + CONNECT_START_TIMEOUT
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"Spark Connect server did not open 127.0.0.1:{port}; log tail:\n{tail}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_connect_sessions()  # while the server is up, or the client's exit hook retries for minutes
        stop_process_group(proc)
