"""Issue 6: order_summary on Spark (local mode) agrees with the in-process engine, row for row and by type,
and Spark reads the partitioned feature root back in parallel by partition."""

from __future__ import annotations

import dagster as dg
import pyarrow as pa
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.features.order_summary import SCHEMA, summarize_orders
from retina_assets.features.order_summary_spark import summarize_orders_on_spark
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets_tests.conftest import LakeEnv
from retina_assets_tests.servers_spark import spark_local  # noqa: F401  (fixture)
from retina_assets_tests.test_walking_skeleton import run_partition

pytestmark = pytest.mark.slow
DAYS = ["2010-12-01", "2010-12-02"]


def assert_same_rows(left: pa.Table, right: pa.Table) -> None:
    """Same schema; same rows sorted by customer_id; floats equal to 1e-6."""
    assert left.schema == right.schema
    a = left.sort_by("customer_id").to_pylist()
    b = right.sort_by("customer_id").to_pylist()
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        for key in x:
            if isinstance(x[key], float):
                assert x[key] == pytest.approx(y[key], abs=1e-6), (key, x, y)
            else:
                assert x[key] == y[key], (key, x, y)


def test_spark_summary_matches_polars(lake_env: LakeEnv, demo_drops, instance, spark_local) -> None:  # noqa: F811
    meta = run_partition(lake_env, instance, DAYS[0])
    ref = DatasetRef(meta["demo/validated_orders"]["path"])
    expected = summarize_orders(ref.to_polars()).to_arrow().cast(SCHEMA)
    assert_same_rows(summarize_orders_on_spark(spark_local, ref.uri), expected)


def test_run_config_engine_spark_writes_same_bytes_and_reads_in_parallel(
    lake_env: LakeEnv,
    demo_drops,
    instance: dg.DagsterInstance,
    spark_local,  # noqa: F811
) -> None:
    pandas_meta = {day: run_partition(lake_env, instance, day)["demo/order_summary"] for day in DAYS}
    defs = build_definitions(lake_env.settings)
    job = defs.resolve_job_def("demo_ingest")
    config = {"ops": {"demo__order_summary": {"config": {"engine": "spark"}}}}
    result = job.execute_in_process(partition_key=DAYS[0], instance=instance, run_config=config)
    assert result.success
    mats = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
    }
    spark_meta = {k: v.value for k, v in mats["demo/order_summary"].metadata.items()}
    assert spark_meta["row_count"] == pandas_meta[DAYS[0]]["row_count"]
    # same rows and types as the in-process version; the in-process version file is untouched (immutable)
    import pyarrow.parquet as pq

    from retina_assets.storage.filesystem import sha256_file

    in_process = pandas_meta[DAYS[0]]
    assert sha256_file(in_process["path"]) == in_process["content_hash"]
    assert_same_rows(pq.read_table(spark_meta["path"]), pq.read_table(in_process["path"]))

    root = str(lake_env.lake / "features" / "demo" / "order_summary")
    frame = spark_local.read.parquet(root)
    assert "as_of_date" in frame.columns
    assert frame.rdd.getNumPartitions() > 1
    counts = {
        r["as_of_date"].isoformat() if hasattr(r["as_of_date"], "isoformat") else r["as_of_date"]: r["count"]
        for r in frame.groupBy("as_of_date").count().collect()
    }
    assert counts == {day: pandas_meta[day]["row_count"] for day in DAYS}
