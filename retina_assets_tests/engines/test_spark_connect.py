"""Validation and the real order_summary asset on a Spark Connect server (started from the pyspark package on
127.0.0.1, selected by RETINA_SPARK_REMOTE): the executors write multi-part versions that agree row for row
and type for type with the in-process engine."""

from __future__ import annotations

import dagster as dg
import pyarrow.parquet as pq
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs.jobs import engine_run_config
from retina_assets.model.naming import SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import load_client_spec
from retina_assets.storage.filesystem import sha256_file
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import materializations
from retina_assets_tests.support.tables import assert_multipart, assert_same_rows

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
DAY = "2010-12-01"


def test_validation_and_order_summary_on_spark_connect_match_in_process(
    lake_env: LakeEnv,
    demo_drops,
    instance: dg.DagsterInstance,
    spark_connect_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = build_definitions(lake_env.settings).resolve_job_def("demo_ingest")
    pandas_run = job.execute_in_process(partition_key=DAY, instance=instance)
    first = materializations(pandas_run)
    first_checks = {e.check_name: e.passed for e in pandas_run.get_asset_check_evaluations()}
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
    # validation on Connect: its own multi-part versions, the same rows as in-process (by lineage), the
    # same quarantine codes and check results
    lineage = [(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]
    for key in ("demo/validated_orders", "demo/rejected_orders"):
        assert_multipart(metas[key]["path"], metas[key]["content_hash"])
        assert_same_rows(
            pq.read_table(metas[key]["path"]).sort_by(lineage),
            pq.read_table(first[key]["path"]).sort_by(lineage),
        )
    assert validated["reject_rule_counts"] == in_process_validated["reject_rule_counts"]
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == first_checks

    assert on_connect["retina/engine"] == "spark"
    assert on_connect["retina/engine_detail"] == f"spark connect {spark_connect_url}"
    assert set(on_connect) == set(in_process)  # same metadata keys on both engines
    assert on_connect["row_count"] == in_process["row_count"]
    assert on_connect["order_lines_without_customer"] == in_process["order_lines_without_customer"]
    assert on_connect["input_paths"] == [validated["path"]]  # the exact validated version of this run
    by_customer = [("customer_id", "ascending")]
    assert_same_rows(
        pq.read_table(on_connect["path"]).sort_by(by_customer),
        pq.read_table(in_process["path"]).sort_by(by_customer),
    )
    # immutability: the in-process version is untouched; the Spark version is its own content address
    assert sha256_file(in_process["path"]) == in_process["content_hash"]
    assert_multipart(on_connect["path"], on_connect["content_hash"])
    assert on_connect["published_path"] == in_process["published_path"]

    # a data scientist on the same Connect server: lake.load(as_="spark") with RETINA_SPARK_REMOTE set
    from retina_assets import lake

    lake.connect(str(lake_env.lake))
    frame = lake.load("demo/validated_orders", as_="spark")
    assert type(frame).__module__.startswith("pyspark.sql.connect")
    assert frame.count() == validated["row_count"]
    assert {r["as_of_date"] for r in frame.select("as_of_date").distinct().collect()} == {DAY}

    # the stage itself on Connect with small parts: several parts per output, the same rows
    from retina_assets.engines.spark import spark_session
    from retina_assets.engines.stages import validate_partition
    from retina_assets.quality.checks import CheckContext
    from retina_assets.storage.dataset_ref import DatasetRef
    from retina_assets.storage.versioned_store import VersionedStore

    raw = DatasetRef(first["demo/raw_orders"]["path"], first["demo/raw_orders"]["content_hash"])
    store = VersionedStore(str(lake_env.lake))
    staged = validate_partition(
        raw, demo.datasets["orders"], CheckContext(DAY), "spark", spark=lambda: spark_session(),
        bucket_rows=1_000, store=store,
    )  # fmt: skip
    try:
        assert staged.parts > 1 and len(staged.valid.parts) == staged.parts
        version = store.commit_parts(
            "validated", "demo", "orders", "2099-01-01", staged.valid.parts, schema=staged.valid.schema,
            staging_area=staged.valid.staging_area,
        )  # fmt: skip
    finally:
        staged.close()
    assert_same_rows(
        store.read_version(version).sort_by(lineage), pq.read_table(first["demo/validated_orders"]["path"])
    )
