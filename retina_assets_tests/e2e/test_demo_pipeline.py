"""End to end, in-process: the demo client's drops go raw -> validated -> order_summary with immutable,
exact-path lineage and an accumulating hive feature store."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from retina_assets.definitions import build_definitions
from retina_assets.storage.filesystem import sha256_file
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.landing import settled
from retina_assets_tests.support.runs import run_partition

KEYS = ["demo/raw_orders", "demo/validated_orders", "demo/rejected_orders", "demo/order_summary"]


def test_definitions_have_the_contracted_keys_groups_and_partitions(lake_env: LakeEnv) -> None:
    defs = build_definitions(lake_env.settings)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert set(KEYS) <= keys
    for key in KEYS:
        node = graph.get(dg.AssetKey.from_user_string(key))
        assert node.group_name == "demo"
        assert node.partitions_def.get_partition_keys()[0] == "2010-12-01"
    validated = graph.get(dg.AssetKey.from_user_string("demo/validated_orders"))
    assert dg.AssetKey.from_user_string("demo/raw_orders") in validated.parent_keys
    summary = graph.get(dg.AssetKey.from_user_string("demo/order_summary"))
    assert summary.parent_keys == {dg.AssetKey.from_user_string("demo/validated_orders")}


def test_partition_flows_with_exact_paths_and_lineage(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    meta = run_partition(lake_env, instance, "2010-12-01")
    raw, valid, rejected, summary = (meta[k] for k in KEYS)
    drop = lake_env.landing / "demo" / "orders_20101201.csv"
    # the raw version's input is the drop's bytes as kept in the lake's archive, named by their hash
    assert raw["input_paths"] == [f"{lake_env.lake}/archive/demo/orders/{sha256_file(str(drop))}.csv"]
    assert raw["provenance"]["inputs"][0]["source"] == str(drop)
    assert valid["input_paths"] == [raw["path"]] and rejected["input_paths"] == [raw["path"]]
    assert summary["input_paths"] == [valid["path"]]
    for m in (raw, valid, rejected, summary):
        assert Path(m["path"]).name == f"{m['content_hash']}.parquet" == f"{sha256_file(m['path'])}.parquet"
        assert pq.ParquetFile(m["path"]).metadata.num_rows == m["row_count"]
    assert Path(raw["path"]).parent == lake_env.lake / "_versions/raw/demo/orders/as_of_date=2010-12-01"
    assert (
        Path(valid["path"]).parent == lake_env.lake / "_versions/validated/demo/orders/as_of_date=2010-12-01"
    )
    assert (
        Path(rejected["path"]).parent
        == lake_env.lake / "_versions/rejected/demo/orders/as_of_date=2010-12-01"
    )
    assert summary["published_path"] == str(
        lake_env.lake / "features/demo/order_summary/as_of_date=2010-12-01/part-0.parquet"
    )
    for m, zone in ((raw, "raw"), (valid, "validated"), (rejected, "rejected")):  # every zone has its view
        view = lake_env.lake / f"{zone}/demo/orders/as_of_date=2010-12-01/part-0.parquet"
        assert sha256_file(view) == m["content_hash"] and not view.samefile(m["path"])
    # nothing lost: every raw row is validated or quarantined; the drop file has all its lines
    data_lines = drop.read_bytes().count(b"\r\n") - 1
    assert raw["row_count"] == data_lines == valid["row_count"] + rejected["row_count"]
    # explicit types, no all-string tables
    schema = pq.read_schema(valid["path"])
    assert schema.field("quantity").type == pa.int64()
    assert schema.field("unit_price").type == pa.float64()
    assert schema.field("order_ts").type == pa.timestamp("us")
    raw_schema = pq.read_schema(raw["path"])
    assert raw_schema.field("Quantity").type == pa.int64() and raw_schema.field(
        "InvoiceDate"
    ).type == pa.timestamp("us")


def test_rerun_is_idempotent_and_nothing_is_overwritten(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    first = run_partition(lake_env, instance, "2010-12-02")
    snapshot = {p: p.read_bytes() for p in lake_env.lake.rglob("*.parquet")}
    second = run_partition(lake_env, instance, "2010-12-02")
    for key in KEYS:
        assert second[key]["path"] == first[key]["path"]
        assert second[key]["deduplicated"] is True
    after = {p: p.read_bytes() for p in lake_env.lake.rglob("*.parquet")}
    assert after == snapshot  # no new files, no changed bytes

    # a corrected drop for the same date is a new version; the old one stays, byte for byte
    drop = lake_env.landing / "demo" / "orders_20101202.csv"
    lines = drop.read_bytes().split(b"\r\n")
    drop.write_bytes(b"\r\n".join(lines[:-50]) + b"\r\n")
    settled(drop)
    third = run_partition(lake_env, instance, "2010-12-02")
    for key in ("demo/raw_orders", "demo/validated_orders", "demo/order_summary"):
        assert third[key]["path"] != first[key]["path"]
        assert third[key]["deduplicated"] is False
    for path, data in snapshot.items():
        if path.name != "part-0.parquet":  # a current-view file is replaceable; versions are not
            assert path.read_bytes() == data
    assert third["demo/raw_orders"]["row_count"] < first["demo/raw_orders"]["row_count"]


def test_downstream_loads_the_recorded_path_not_the_newest_file(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    meta = run_partition(lake_env, instance, "2010-12-01")
    recorded = meta["demo/raw_orders"]["path"]
    # a newer, different file appears in the raw partition folder (e.g. written by hand): it must be ignored
    decoy = Path(recorded).parent / ("f" * 64 + ".parquet")
    pq.write_table(pa.table({"junk": [1]}), decoy)
    defs = build_definitions(lake_env.settings)
    result = dg.materialize(
        [*defs.assets],  # type: ignore[list-item]
        selection=["demo/validated_orders", "demo/rejected_orders"],
        partition_key="2010-12-01",
        instance=instance,
        resources=defs.resources,
    )
    assert result.success
    [mat] = [
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.asset_key.to_user_string() == "demo/validated_orders"
    ]
    assert mat.metadata["input_paths"].value == [recorded]
    assert mat.metadata["deduplicated"].value is True


def test_feature_root_reads_as_one_hive_dataset_with_independent_readers(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    counts = {}
    for day in ("2010-12-01", "2010-12-02", "2010-12-03"):
        counts[day] = run_partition(lake_env, instance, day)["demo/order_summary"]["row_count"]
    run_partition(lake_env, instance, "2010-12-02")  # re-run: still one copy of each partition
    root = lake_env.lake / "features/demo/order_summary"

    table = ds.dataset(root, format="parquet", partitioning="hive").to_table()
    by_day = {str(k): v for k, v in pl.from_arrow(table).group_by("as_of_date").len().iter_rows()}
    assert by_day == counts

    duck = duckdb.sql(
        f"select cast(as_of_date as varchar) d, count(*) n from read_parquet('{root}/*/*.parquet', "
        "hive_partitioning=true) group by 1"
    ).fetchall()
    assert dict(duck) == counts

    frame = pl.scan_parquet(f"{root}/**/*.parquet", hive_partitioning=True).collect()
    assert frame.height == sum(counts.values()) and "as_of_date" in frame.columns
    assert {"customer_id", "orders", "items", "revenue", "returned_items", "refunds", "net_revenue"} <= set(
        frame.columns
    )
    assert frame.select(pl.struct("customer_id", "as_of_date").is_unique().all()).item()


def test_missing_drop_fails_with_a_clear_message(lake_env: LakeEnv, instance: dg.DagsterInstance) -> None:
    defs = build_definitions(lake_env.settings)
    result = defs.resolve_job_def("demo_ingest").execute_in_process(
        partition_key="2010-12-05", instance=instance, raise_on_error=False
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no `orders` drop for 2010-12-05" in failure.event_specific_data.error.to_string()
    assert not list(lake_env.lake.rglob("*.parquet"))
