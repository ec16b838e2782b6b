"""Issue 6: order_summary on a Spark Connect server (started from the pyspark package on 127.0.0.1)
agrees with the in-process result, selected by RETINA_SPARK_REMOTE."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq
import pytest

from retina_assets.engines.spark import spark_session
from retina_assets.features.order_summary import SCHEMA, summarize_orders
from retina_assets.features.order_summary_spark import summarize_orders_on_spark
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets_tests.conftest import LakeEnv
from retina_assets_tests.servers_spark import spark_connect_url  # noqa: F401  (fixture)
from retina_assets_tests.test_spark_engine import assert_same_rows
from retina_assets_tests.test_walking_skeleton import run_partition

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xfail(
        reason="open: summarize_orders_spark fails on Spark Connect ('Column' object is not callable)"
    ),
]


def test_spark_connect_matches_in_process(
    lake_env: LakeEnv,
    demo_drops,
    instance: dg.DagsterInstance,
    spark_connect_url: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    meta = run_partition(lake_env, instance, "2010-12-01")
    ref = DatasetRef(meta["demo/validated_orders"]["path"])
    monkeypatch.setenv("RETINA_SPARK_REMOTE", spark_connect_url)
    spark = spark_session()
    assert spark.__class__.__module__.startswith("pyspark.sql.connect")
    expected = summarize_orders(ref.to_polars()).to_arrow().cast(SCHEMA)
    assert_same_rows(summarize_orders_on_spark(spark, ref.uri), expected)
    assert_same_rows(pq.read_table(meta["demo/order_summary"]["path"]), expected)
