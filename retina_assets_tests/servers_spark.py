"""Pytest fixtures for Spark: one local SparkSession per test session, and a Spark Connect server
started from the installed pyspark package on a free 127.0.0.1 port (stopped at the end)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def spark_local() -> Iterator[object]:
    """A small local SparkSession (2 shuffle partitions) shared by all Spark tests."""
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]")
        .appName("retina-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield spark
    spark.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def spark_connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``sc://127.0.0.1:<port>`` of a Spark Connect server started from the pyspark package."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOG_DIR": str(tmp_path_factory.mktemp("spark-logs")),
        "SPARK_PID_DIR": str(tmp_path_factory.mktemp("spark-pids")),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    args = [
        str(home / "sbin" / "start-connect-server.sh"),
        "--master",
        "local[2]",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "--driver-memory",
        "1g",
    ]
    subprocess.run(args, env=env, check=True, capture_output=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.5)
    else:
        subprocess.run([str(home / "sbin" / "stop-connect-server.sh")], env=env)
        raise RuntimeError(f"Spark Connect server did not open 127.0.0.1:{port}")
    try:
        yield f"sc://127.0.0.1:{port}"
    finally:
        subprocess.run([str(home / "sbin" / "stop-connect-server.sh")], env=env, capture_output=True)
