"""Issue 6: the data-scientist API reads the lake alone (no Dagster instance) with exact versions."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from retina_assets import lake
from retina_assets_tests.conftest import LakeEnv
from retina_assets_tests.test_walking_skeleton import run_partition

DAYS = ["2010-12-01", "2010-12-02"]


@pytest.fixture
def filled_lake(lake_env: LakeEnv, demo_drops, instance: dg.DagsterInstance) -> LakeEnv:
    for day in DAYS:
        run_partition(lake_env, instance, day)
    lake.connect(str(lake_env.lake))
    return lake_env


def test_load_current_partition_version_and_lineage(filled_lake: LakeEnv) -> None:
    days = lake.partitions("demo/order_summary")
    assert days == DAYS
    summary = lake.load("demo/order_summary")
    assert isinstance(summary, pd.DataFrame)
    assert sorted(summary["as_of_date"].unique()) == days
    assert len(lake.load("demo/order_summary", engine="polars")) == len(summary)
    assert lake.load("demo/order_summary", engine="arrow").num_rows == len(summary)

    one = lake.load("demo/validated_orders", partition=days[0])
    assert set(one["as_of_date"]) == {days[0]}
    found = lake.versions("demo/validated_orders", partition=days[0])
    assert len(found) == 1
    version = found[0]
    assert version.input_paths and version.run_id and version.created_at
    by_hash = lake.load("demo/validated_orders", version=version.content_hash[:16])
    by_path = lake.load(version.path)
    assert len(by_hash) == len(by_path) == len(one) == version.row_count


def test_clear_errors(filled_lake: LakeEnv) -> None:
    with pytest.raises(lake.LakeLookupError, match="unknown dataset"):
        lake.load("demo/validated_nothing")
    with pytest.raises(lake.LakeLookupError, match="unknown partition '1999-01-01'"):
        lake.load("demo/validated_orders", partition="1999-01-01")
    with pytest.raises(lake.LakeLookupError, match="content hash"):
        lake.load("demo/validated_orders", version="ffffffffffff0000")
