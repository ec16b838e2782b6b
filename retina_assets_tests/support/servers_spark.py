"""Pytest plugin for the Spark tests: one local SparkSession per test session, and a Spark Connect server
started from the installed pyspark package on a free 127.0.0.1 port.

The Connect server runs in the foreground (``start-connect-server.sh --wait``) in its own process group,
with a temporary ``SPARK_CONF_DIR``/log/pid dir, no UI and 512 MB of driver memory. Startup waits at most
``CONNECT_START_TIMEOUT`` seconds for the port; teardown sends SIGTERM to the whole process group and
SIGKILL after ``CONNECT_STOP_TIMEOUT`` seconds, so nothing can hang or outlive the test session.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from retina_assets.engines.spark import LOCAL_SPARK_CONFIG, stop_connect_sessions
from retina_assets_tests.support.servers import free_port, start_process, stop_process_group, wait_for_port

CONNECT_START_TIMEOUT = 120.0
CONNECT_STOP_TIMEOUT = 15.0


@pytest.fixture(scope="session")
def spark_local() -> Iterator[object]:
    """The local SparkSession shared by all Spark tests (the same one the Spark resource uses)."""
    from retina_assets.engines.spark import local_spark_session

    spark = local_spark_session()
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:<port>`` of a Spark Connect server started from the pyspark package."""
    import pyspark

    home = Path(pyspark.__file__).parent
    work = tmp_path_factory.mktemp("spark-connect")
    for sub in ("conf", "logs", "pids", "local", "warehouse"):
        (work / sub).mkdir()
    port = free_port()
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
    log_path = str(work / "logs" / "connect-server.out")
    proc = start_process(args, log_path, env=env)
    try:
        wait_for_port(proc, port, timeout=CONNECT_START_TIMEOUT, log_path=log_path)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_connect_sessions()  # while the server is up, or the client's exit hook retries for minutes
        stop_process_group(proc, timeout=CONNECT_STOP_TIMEOUT)
