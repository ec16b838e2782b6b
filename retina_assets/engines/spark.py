"""Getting a SparkSession for the lake: Spark Connect when ``RETINA_SPARK_REMOTE`` is set, local mode otherwise.

How a Spark result becomes a lake version: Spark computes, the result is collected to the driver as Arrow
(``DataFrame.toArrow()``) and written through :class:`~retina_assets.storage.versioned_store.VersionedStore`
like any other output. So a version is still one content-addressed file, published atomically, deduped
against the current version, with the same version record; "a path always means the same bytes" holds on
both engines. (Per-partition outputs of this lake are one day of one client, which fits the driver.)
"""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa

SPARK_REMOTE_ENV = "RETINA_SPARK_REMOTE"
LOCAL_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
}


def spark_session(remote: str | None = None) -> Any:
    """A SparkSession: Spark Connect at ``remote`` (or ``$RETINA_SPARK_REMOTE``), else local mode (reused)."""
    from pyspark.sql import SparkSession

    remote = remote or os.environ.get(SPARK_REMOTE_ENV)
    if remote:
        if not remote.startswith("sc://"):
            raise ValueError(f"{SPARK_REMOTE_ENV} must look like sc://host:port, got {remote!r}")
        # the Connect client session directly, so it can coexist with a local session in the same process
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.builder.remote(remote).getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.master(os.environ.get("RETINA_SPARK_MASTER", "local[2]")).appName("retina")
    for key, value in LOCAL_CONF.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def to_arrow(frame: Any, schema: pa.Schema | None = None) -> pa.Table:
    """Collect a Spark DataFrame as a pyarrow Table (cast to ``schema`` if given)."""
    table = frame.toArrow()
    return table.cast(schema) if schema is not None else table
