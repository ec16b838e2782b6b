"""The Spark engine as a Dagster resource: local mode through dagster-pyspark, or a Spark Connect server.

:class:`SparkResource` wraps dagster-pyspark's ``LazyPySparkResource(spark_config=...)`` (local mode; the
session is created only when an asset on the Spark engine asks for it) and switches to Spark Connect when
``RETINA_SPARK_REMOTE=sc://host:port`` is set (or ``remote=`` is configured). A Connect session is created
with the Connect client directly, so it never flips the process into "Connect mode" for other code.

How a Spark result becomes a lake version: Spark computes, the result is collected to the driver as Arrow
(``DataFrame.toArrow()``) and written through :class:`~retina_assets.storage.versioned_store.VersionedStore`
like any other output. So a version is still one content-addressed file, published atomically, deduped
against the current version, with the same version record; "a path always means the same bytes" holds on
both engines. (Per-partition outputs of this lake are one day of one client, which fits the driver.)

Spark Connect reads and writes paths on the *server*: with a remote cluster the lake must be on storage
both sides see (``s3://``/``abfs://``), as it is in production.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster_pyspark import LazyPySparkResource
from pydantic import Field

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
    """The process's local SparkSession, created through dagster-pyspark with ``spark_config``."""
    _python_workers_use_this_interpreter()
    return LazyPySparkResource(spark_config=spark_config or local_spark_config()).spark_session


def spark_session(remote: str | None = None) -> Any:
    """Spark Connect at ``remote`` (or ``$RETINA_SPARK_REMOTE``) if given, else the local session."""
    remote = remote or os.environ.get(SPARK_REMOTE_ENV)
    return connect_session(remote) if remote else local_spark_session()


class SparkResource(dg.ConfigurableResource):
    """Spark for assets on the Spark engine.

    ``pyspark`` is dagster-pyspark's lazy resource (local mode, or any ``spark_config`` a cluster needs);
    ``remote`` (or ``$RETINA_SPARK_REMOTE`` when empty) selects a Spark Connect server instead. No session
    is started unless an asset calls :meth:`session`, so in-process runs pay nothing for Spark.
    """

    pyspark: LazyPySparkResource
    remote: str = Field(default="", description="sc://host:port; empty = $RETINA_SPARK_REMOTE or local")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the Spark Connect session this run used (the local session is reused by the process)."""
        if self.remote_url():
            stop_connect_sessions()

    def remote_url(self) -> str | None:
        """The Spark Connect URL in effect, or ``None`` for local mode."""
        return self.remote or os.environ.get(SPARK_REMOTE_ENV) or None

    def session(self) -> Any:
        """A Spark Connect session if a remote is set, else dagster-pyspark's local session."""
        remote = self.remote_url()
        if remote:
            return connect_session(remote)
        _python_workers_use_this_interpreter()
        return self.pyspark.spark_session

    def describe(self) -> str:
        """``"spark connect sc://..."`` or ``"spark local[2]"``, for logs and metadata."""
        remote = self.remote_url()
        if remote:
            return f"spark connect {remote}"
        return f"spark {self.pyspark.spark_config.get('spark.master', 'local')}"


def spark_resource() -> SparkResource:
    """The resource the definitions use: local mode from :func:`local_spark_config`, remote from the env."""
    return SparkResource(pyspark=LazyPySparkResource(spark_config=local_spark_config()))


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


def to_arrow(frame: Any, schema: pa.Schema | None = None) -> pa.Table:
    """Collect a Spark DataFrame as a pyarrow Table (cast to ``schema`` if given, by column name)."""
    table = frame.toArrow()
    if schema is None:
        return table
    return table.select(schema.names).cast(schema)
