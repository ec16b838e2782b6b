"""The real order_summary asset on a Spark Connect server (started from the pyspark package on 127.0.0.1,
selected by RETINA_SPARK_REMOTE) agrees row for row and type for type with the in-process engine."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs.jobs import engine_run_config
from retina_assets.model.spec import load_client_spec
from retina_assets.storage.filesystem import sha256_file
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import materializations, run_partition
from retina_assets_tests.support.tables import assert_same_rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
DAY = "2010-12-01"


def test_order_summary_asset_on_spark_connect_matches_in_process(
    lake_env: LakeEnv,
    demo_drops,
    instance: dg.DagsterInstance,
    spark_connect_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = run_partition(lake_env, instance, DAY)
    in_process, in_process_validated = first["demo/order_summary"], first["demo/validated_orders"]
    assert in_process["retina/engine"] == "pandas"

    monkeypatch.setenv("RETINA_SPARK_REMOTE", spark_connect_url)
    job = build_definitions(lake_env.settings).resolve_job_def("demo_ingest")
    demo = load_client_spec(lake_env.clients_dir / "demo.yaml")
    config = engine_run_config(demo, "spark")  # validation and order_summary on the Connect server
    result = job.execute_in_process(partition_key=DAY, instance=instance, run_config=config)
    assert result.success
    metas = materializations(result)
    on_connect = metas["demo/order_summary"]
    validated = metas["demo/validated_orders"]
    assert validated["retina/engine"] == "spark"
    # validation on Connect produced the very same bytes: deduplicated onto the in-process version
    assert validated["deduplicated"] is True
    assert validated["path"] == in_process_validated["path"]

    assert on_connect["retina/engine"] == "spark"
    assert on_connect["retina/engine_detail"] == f"spark connect {spark_connect_url}"
    assert set(on_connect) == set(in_process)  # same metadata keys on both engines
    assert on_connect["row_count"] == in_process["row_count"]
    assert on_connect["order_lines_without_customer"] == in_process["order_lines_without_customer"]
    assert on_connect["input_paths"] == in_process["input_paths"]  # the same exact validated version
    assert_same_rows(pq.read_table(on_connect["path"]), pq.read_table(in_process["path"]))
    # immutability: the in-process version is untouched; the Spark version is its own content address
    assert sha256_file(in_process["path"]) == in_process["content_hash"]
    assert sha256_file(on_connect["path"]) == on_connect["content_hash"]
    assert on_connect["published_path"] == in_process["published_path"]

    # a data scientist on the same Connect server: lake.load(as_="spark") with RETINA_SPARK_REMOTE set
    from retina_assets import lake

    lake.connect(str(lake_env.lake))
    frame = lake.load("demo/validated_orders", as_="spark")
    assert type(frame).__module__.startswith("pyspark.sql.connect")
    assert frame.count() == validated["row_count"]
    assert {r["as_of_date"] for r in frame.select("as_of_date").distinct().collect()} == {DAY}
