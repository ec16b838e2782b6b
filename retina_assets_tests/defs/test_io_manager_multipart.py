"""The IO manager commits an asset's :class:`StagedVersion` (parts its executors wrote) as one multi-part
version, records it on the materialization (``path`` = the folder, ``parts``), and hands the next asset a
reference that reads the folder as one dataset; a re-run with the same parts is deduplicated."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa

from retina_assets.defs.io_manager import LakeIOManager
from retina_assets.defs.resources import LakeResource
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import StagedVersion, stage_part
from retina_assets_tests.support.multipart import SCHEMA, rows

DAY = "2011-01-04"
PARTITIONS = dg.DailyPartitionsDefinition(start_date="2011-01-01")


@dg.asset(key=["demo", "validated_orders"], partitions_def=PARTITIONS, io_manager_key="lake_io_manager")
def validated_orders(lake: LakeResource) -> StagedVersion:
    store = lake.store()
    area = store.staging_area()
    parts = [
        stage_part(store.fs, area, i, t.to_batches(), SCHEMA)
        for i, t in enumerate([rows(0, 4), rows(4, 4), rows(8, 2)])
    ]
    return StagedVersion(parts, SCHEMA, area, metadata={"engine": "spark"})


@dg.asset(key=["demo", "order_count"], partitions_def=PARTITIONS, io_manager_key="lake_io_manager")
def order_count(validated_orders: DatasetRef) -> pa.Table:
    table = validated_orders.to_arrow()
    return pa.table({"orders": [table.num_rows], "ids": [sum(table.column("customer_id").to_pylist())]})


def test_a_staged_version_is_committed_recorded_and_read_downstream(tmp_path: Path) -> None:
    lake = LakeResource(lake_uri=str(tmp_path / "lake"))
    resources = {"lake": lake, "lake_io_manager": LakeIOManager(lake=lake)}
    with dg.instance_for_test() as instance:
        for run in (1, 2):
            result = dg.materialize(
                [validated_orders, order_count], partition_key=DAY, resources=resources, instance=instance
            )
            assert result.success
            [upstream, downstream] = result.get_asset_materialization_events()
            meta = upstream.materialization.metadata
            assert meta["parts"].value == 3 and meta["row_count"].value == 10
            assert meta["engine"].value == "spark"
            assert meta["deduplicated"].value == (run == 2)
            folder = str(meta["path"].value)
            version = lake.store().current("validated", "demo", "orders", DAY)
            assert folder == version.path and len(version.parts) == 3
            down = downstream.materialization.metadata
            assert down["parts"].value == 1 and down["input_paths"].value == [folder]
            summary = lake.store().read_version(lake.store().current("features", "demo", "order_count", DAY))
            assert summary.to_pylist() == [{"orders": 10, "ids": sum(range(10))}]
        assert not list(
            (tmp_path / "lake" / "_staging").glob("*/*")
        )  # the staging areas went with the commits
