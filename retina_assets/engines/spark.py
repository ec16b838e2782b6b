"""The one way to get a Spark session: local mode, or a Spark Connect server.

:func:`spark_session` returns a Spark Connect session when ``RETINA_SPARK_REMOTE=sc://host:port`` is set (or
``remote=`` is given), else the process's local session built from :func:`local_spark_config` (or the
``spark_config`` given). A Connect session is created with the Connect client directly, so it never flips the
process into "Connect mode" for other code. The Dagster ``spark`` resource, the lake API and Spark jobs all
call it; nothing starts a JVM until a session is asked for.

How a Spark result becomes a lake version: the executors write it
(:mod:`retina_assets.engines.spark_writer`) as the parts of a multi-part version, and the driver commits
their names through :class:`~retina_assets.storage.versioned_store.VersionedStore` like any other output:
content-addressed, published atomically, deduped against the current version, with the same version record.
The driver never collects the rows.

Spark Connect reads and writes paths on the *server*: with a remote cluster the lake must be on storage
both sides see (``s3://``/``abfs://``), as it is in production.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import pyarrow as pa

SPARK_REMOTE_ENV = "RETINA_SPARK_REMOTE"
SPARK_MASTER_ENV = "RETINA_SPARK_MASTER"

# Small, deterministic local mode: 2 cores, no UI, UTC session time (timestamps are naive UTC in the lake).
LOCAL_SPARK_CONFIG: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.app.name": "retina",
    "spark.driver.memory": "1g",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def local_spark_config() -> dict[str, str]:
    """:data:`LOCAL_SPARK_CONFIG` with this interpreter for Python workers and ``spark.master`` from
    ``RETINA_SPARK_MASTER`` if set."""
    config = dict(LOCAL_SPARK_CONFIG)
    # local mode: Python workers (validation runs there) use this interpreter and its packages
    config["spark.pyspark.python"] = sys.executable
    if os.environ.get(SPARK_MASTER_ENV):
        config["spark.master"] = os.environ[SPARK_MASTER_ENV]
    return config


def check_remote(remote: str) -> str:
    """``remote`` if it is a Spark Connect URL (``sc://host:port``), else a ValueError naming the variable."""
    if not remote.startswith("sc://"):
        raise ValueError(f"{SPARK_REMOTE_ENV} must look like sc://host:port, got {remote!r}")
    return remote


def connect_session(remote: str) -> Any:
    """A Spark Connect session to ``remote`` (``sc://host:port``)."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    return ConnectSession.builder.remote(check_remote(remote)).getOrCreate()


def stop_connect_sessions() -> None:
    """Stop this process's Spark Connect client sessions (idempotent).

    Stopping releases the session on the server and closes the channel; a session left open runs cleanup
    RPCs at interpreter exit, which retry for minutes if the server is gone by then.
    """
    if "pyspark.sql.connect.session" not in sys.modules:
        return
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    for session in {
        id(s): s for s in (ConnectSession._default_session, ConnectSession.getActiveSession()) if s
    }.values():
        session.stop()


def _python_workers_use_this_interpreter() -> None:
    # PySpark starts Python workers with $PYSPARK_PYTHON (default: `python3` on PATH, which lacks this
    # project's packages); local mode must use the interpreter (venv) that runs Dagster.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def local_spark_session(spark_config: dict[str, Any] | None = None) -> Any:
    """The process's local SparkSession (created on first use) with ``spark_config`` (default
    :func:`local_spark_config`); later calls return the same session."""
    _python_workers_use_this_interpreter()
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in (spark_config or local_spark_config()).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def spark_remote(remote: str | None = None) -> str | None:
    """The Spark Connect URL in effect: ``remote`` if given, else ``$RETINA_SPARK_REMOTE``; ``None`` = local."""
    return remote or os.environ.get(SPARK_REMOTE_ENV) or None


def spark_session(remote: str | None = None, spark_config: dict[str, Any] | None = None) -> Any:
    """Spark Connect at ``remote`` (or ``$RETINA_SPARK_REMOTE``) if set, else the local session."""
    url = spark_remote(remote)
    return connect_session(url) if url else local_spark_session(spark_config)


def describe_spark(remote: str | None = None, spark_config: dict[str, Any] | None = None) -> str:
    """``"spark connect sc://..."`` or ``"spark local[2]"``, for logs and metadata."""
    url = spark_remote(remote)
    if url:
        return f"spark connect {url}"
    return f"spark {(spark_config or local_spark_config()).get('spark.master', 'local')}"


def is_connect(obj: Any) -> bool:
    """True for a Spark Connect session or DataFrame."""
    return type(obj).__module__.startswith("pyspark.sql.connect")


def functions_for(obj: Any) -> ModuleType:
    """The ``functions`` module matching ``obj``'s Spark flavour.

    ``pyspark.sql.functions`` decides between classic and Connect from a process-wide switch that a Connect
    session made by the Connect client does not set; mixing classic Columns into a Connect DataFrame fails
    ("'Column' object is not callable"). So Spark code here always takes its functions from this helper.
    """
    if is_connect(obj):
        from pyspark.sql.connect import functions as connect_functions

        return connect_functions
    from pyspark.sql import functions as classic_functions

    return classic_functions


def window_for(obj: Any) -> Any:
    """The ``Window`` class matching ``obj``'s Spark flavour (see :func:`functions_for`)."""
    if is_connect(obj):
        from pyspark.sql.connect.window import Window as ConnectWindow

        return ConnectWindow
    from pyspark.sql.window import Window as ClassicWindow

    return ClassicWindow


def to_arrow(frame: Any, schema: pa.Schema | None = None) -> pa.Table:
    """Collect a Spark DataFrame as a pyarrow Table (cast to ``schema`` if given, by column name)."""
    table = frame.toArrow()
    if schema is None:
        return table
    return table.select(schema.names).cast(schema)
