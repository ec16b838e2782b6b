"""The Spark engine (local mode) gives the same validated, rejected and order_summary data as the in-process
engine (compared by lineage or key: Spark's versions are multi-part, laid out by key hash), under the same
asset keys, partition folders, metadata, checks and immutability rules; chosen per client (spec
``engine: spark``) or per run (run config); and Spark reads the partitioned feature root back in parallel,
pruning partitions."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import yaml

from retina_assets.definitions import build_definitions
from retina_assets.defs.jobs import engine_run_config
from retina_assets.engines.spark_features import build_on_spark
from retina_assets.features.order_summary import ORDER_SUMMARY, SCHEMA, summarize_orders
from retina_assets.model.naming import SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import load_client_spec
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.filesystem import sha256_file
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import materializations, run_partition
from retina_assets_tests.support.tables import assert_multipart, assert_same_rows

pytestmark = pytest.mark.slow
DAYS = ["2010-12-01", "2010-12-02"]
DATA_KEYS = ["demo/validated_orders", "demo/rejected_orders", "demo/order_summary"]
# how rows are compared across engines: by their lineage, or the feature's key
ORDER = {
    "demo/validated_orders": [(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")],
    "demo/rejected_orders": [(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")],
    "demo/order_summary": [("customer_id", "ascending")],
}


def run_day(
    env: LakeEnv, day: str, run_config: dict | None = None
) -> tuple[dict[str, dict], dict[str, bool]]:
    """Run the demo job for one day on a fresh instance: (metadata by asset key, {check: passed})."""
    with dg.instance_for_test() as instance:
        job = build_definitions(env.settings).resolve_job_def("demo_ingest")
        result = job.execute_in_process(partition_key=day, instance=instance, run_config=run_config)
        assert result.success
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        return materializations(result), checks


def test_spark_summary_matches_polars(lake_env: LakeEnv, demo_drops, instance, spark_local) -> None:
    meta = run_partition(lake_env, instance, DAYS[0])
    ref = DatasetRef(meta["demo/validated_orders"]["path"])
    expected = summarize_orders(ref.to_polars()).to_arrow().cast(SCHEMA)
    store = VersionedStore(str(lake_env.lake))
    staged, metadata = build_on_spark(ORDER_SUMMARY, spark_local, {"orders": ref}, store)
    version = store.commit_parts(
        "features", "demo", "order_summary", DAYS[1], staged.parts, schema=staged.schema,
        staging_area=staged.staging_area,
    )  # fmt: skip
    assert_same_rows(store.read_version(version).sort_by("customer_id"), expected)
    unattributed = metadata["order_lines_without_customer"]
    assert unattributed == meta["demo/order_summary"]["order_lines_without_customer"] > 0


def _spark_client_env(lake_env: LakeEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    """A second lake over the same landing zone, with a copy of clients/demo.yaml set to engine: spark."""
    spec = yaml.safe_load((lake_env.clients_dir / "demo.yaml").read_text(encoding="utf-8"))
    spec["engine"] = "spark"
    clients = tmp_path / "clients-spark"
    clients.mkdir()
    (clients / "demo.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    env = LakeEnv(tmp_path / "lake-spark", lake_env.landing, clients)
    env.lake.mkdir()
    monkeypatch.setenv("RETINA_LAKE_URI", str(env.lake))
    monkeypatch.setenv("RETINA_CLIENTS_DIR", str(env.clients_dir))
    return env


def test_spec_engine_spark_gives_the_same_lake(
    lake_env: LakeEnv,
    demo_drops,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spark_local,
) -> None:
    pandas_runs = {day: run_day(lake_env, day) for day in DAYS}
    spark_env = _spark_client_env(lake_env, tmp_path, monkeypatch)
    assert load_client_spec(spark_env.clients_dir / "demo.yaml").engine == "spark"
    defs = build_definitions(spark_env.settings)
    summary_node = defs.resolve_asset_graph().get(dg.AssetKey(["demo", "order_summary"]))
    assert "spark" in summary_node.kinds
    for day in DAYS:
        on_spark, checks = run_day(spark_env, day)
        in_process, pandas_checks = pandas_runs[day]
        assert checks == pandas_checks and len(checks) >= 5  # same checks, same results
        assert set(on_spark) == set(in_process)  # same asset keys
        assert on_spark["demo/validated_orders"]["retina/engine"] == "spark"
        assert on_spark["demo/order_summary"]["retina/engine"] == "spark"
        assert on_spark["demo/order_summary"]["retina/engine_detail"] == "spark local[2]"
        assert in_process["demo/order_summary"]["retina/engine"] == "pandas"
        for key in DATA_KEYS:
            spark_meta, pandas_meta = on_spark[key], in_process[key]
            assert set(spark_meta) == set(pandas_meta), key  # same metadata keys
            assert spark_meta["row_count"] == pandas_meta["row_count"], key
            # same partition folder relative to the lake root; the Spark version is a folder of parts
            # written by the executors, every name a content hash
            rel = Path(spark_meta["path"]).parent.relative_to(spark_env.lake)
            assert rel == Path(pandas_meta["path"]).parent.relative_to(lake_env.lake), key
            assert_multipart(spark_meta["path"], spark_meta["content_hash"])
            assert spark_meta["parts"] >= 1 == pandas_meta["parts"]
            # the same rows and types (compared in lineage or key order: the layouts differ)
            assert_same_rows(
                pq.read_table(spark_meta["path"]).sort_by(ORDER[key]),
                pq.read_table(pandas_meta["path"]).sort_by(ORDER[key]),
            )
        # raw conversion ran on Spark: executors wrote a multi-part version with the in-process rows
        raw_spark, raw_pandas = on_spark["demo/raw_orders"], in_process["demo/raw_orders"]
        assert (raw_spark["retina/engine"], raw_pandas["retina/engine"]) == ("spark", "pandas")
        assert raw_spark["retina/engine_detail"] == "spark local[2]"
        raw_ref = DatasetRef(raw_spark["path"], raw_spark["content_hash"])
        assert raw_ref.is_multipart and raw_spark["parts"] >= 1
        assert raw_spark["rows_per_file"] == raw_pandas["rows_per_file"]
        assert_same_rows(raw_ref.to_arrow(), pq.read_table(raw_pandas["path"]))
        assert (
            on_spark["demo/validated_orders"]["reject_rule_counts"]
            == (in_process["demo/validated_orders"]["reject_rule_counts"])
        )


def test_run_config_engine_spark_keeps_old_versions_and_reads_back_by_partition(
    lake_env: LakeEnv,
    demo_drops,
    instance: dg.DagsterInstance,
    spark_local,
) -> None:
    days = [*DAYS, "2010-12-03"]
    pandas_meta = {day: run_partition(lake_env, instance, day) for day in days}
    defs = build_definitions(lake_env.settings)
    demo = load_client_spec(lake_env.clients_dir / "demo.yaml")
    result = defs.resolve_job_def("demo_ingest").execute_in_process(
        partition_key=DAYS[0], instance=instance, run_config=engine_run_config(demo, "spark")
    )
    assert result.success
    spark_meta = materializations(result)
    before = pandas_meta[DAYS[0]]
    # each Spark output is its own (multi-part) version with the same rows; the in-process versions are
    # untouched (immutable)
    for key in DATA_KEYS:
        new, old = spark_meta[key], before[key]
        assert new["parts"] >= 1
        assert new["deduplicated"] is False and new["path"] != old["path"]
        assert sha256_file(old["path"]) == old["content_hash"]
        assert_multipart(new["path"], new["content_hash"])
        assert_same_rows(
            pq.read_table(new["path"]).sort_by(ORDER[key]), pq.read_table(old["path"]).sort_by(ORDER[key])
        )
    assert spark_meta["demo/order_summary"]["retina/engine"] == "spark"

    # Spark reads the hive-partitioned feature root in parallel, one file per as_of_date, and prunes
    root = str(lake_env.lake / "features" / "demo" / "order_summary")
    frame = spark_local.read.parquet(root)
    assert "as_of_date" in frame.columns
    assert len(frame.inputFiles()) == len(days)
    assert frame.rdd.getNumPartitions() > 1
    counts = {str(r["as_of_date"]): r["count"] for r in frame.groupBy("as_of_date").count().collect()}
    assert counts == {day: pandas_meta[day]["demo/order_summary"]["row_count"] for day in days}
    one_day = frame.filter(frame["as_of_date"] == DAYS[1])
    assert one_day.rdd.getNumPartitions() == 1  # only that partition's file is scanned
    assert one_day.count() == counts[DAYS[1]]
    plan = one_day._jdf.queryExecution().executedPlan().toString()
    assert "PartitionFilters: [isnotnull(as_of_date" in plan
