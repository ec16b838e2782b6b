"""The data-scientist API reads the lake alone (no Dagster instance) with exact versions."""

from __future__ import annotations

import json
import subprocess
import sys

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from retina_assets import lake
from retina_assets.storage.versioned_store import DatasetVersion
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import run_partition

DAYS = ["2010-12-01", "2010-12-02"]


@pytest.fixture
def filled_lake(lake_env: LakeEnv, demo_drops, instance: dg.DagsterInstance) -> dict[str, dict[str, dict]]:
    """Two days of the demo client; returns each day's materialization metadata by asset key."""
    runs = {day: run_partition(lake_env, instance, day) for day in DAYS}
    lake.connect(str(lake_env.lake))
    return runs


def test_load_current_in_every_frame_type(filled_lake: dict[str, dict[str, dict]]) -> None:
    assert lake.partitions("demo/order_summary") == DAYS
    summary = lake.load("demo/order_summary")
    assert isinstance(summary, pd.DataFrame)
    expected_rows = sum(filled_lake[d]["demo/order_summary"]["row_count"] for d in DAYS)
    assert len(summary) == expected_rows
    assert summary.groupby("as_of_date").size().to_dict() == {
        d: filled_lake[d]["demo/order_summary"]["row_count"] for d in DAYS
    }
    as_polars = lake.load("demo/order_summary", as_="polars")
    as_arrow = lake.load("demo/order_summary", as_="arrow")
    assert isinstance(as_polars, pl.DataFrame) and isinstance(as_arrow, pa.Table)
    assert lake.load("demo/order_summary", engine="polars").equals(as_polars)  # older spelling
    assert as_arrow.schema.field("revenue").type == pa.float64()
    assert as_arrow.schema.field("as_of_date").type == pa.string()
    assert (
        as_polars.to_arrow().to_pylist()
        == as_arrow.to_pylist()
        == pa.Table.from_pandas(summary, preserve_index=False).to_pylist()
    )


def test_partition_version_by_hash_and_path_and_lineage(filled_lake: dict[str, dict[str, dict]]) -> None:
    day = DAYS[0]
    meta = filled_lake[day]
    one = lake.load("demo/validated_orders", partition=day)
    assert set(one["as_of_date"]) == {day} and len(one) == meta["demo/validated_orders"]["row_count"]
    found = lake.versions("demo/validated_orders", partition=day)
    assert [v.path for v in found] == [meta["demo/validated_orders"]["path"]]
    version = found[0]
    assert version.input_paths == [meta["demo/raw_orders"]["path"]]
    assert version.run_id and version.created_at and version.content_hash in version.path
    by_hash = lake.load("demo/validated_orders", version=version.content_hash[:16])
    by_path = lake.load(version.path)
    assert by_hash.drop(columns="as_of_date").equals(by_path)
    assert by_hash.equals(one)

    chain = lake.lineage(meta["demo/order_summary"]["published_path"])
    assert [c.zone if isinstance(c, DatasetVersion) else "landing" for c in chain] == [
        "features",
        "validated",
        "raw",
        "landing",
    ]
    assert "/archive/demo/orders/" in chain[-1]  # the drop itself, as kept in the lake's archive


def test_old_versions_stay_loadable(filled_lake: dict[str, dict[str, dict]], lake_env: LakeEnv) -> None:
    from retina_assets.storage.versioned_store import VersionedStore

    day = DAYS[1]
    old = lake.load("demo/order_summary", partition=day, as_="arrow")
    newer = old.slice(0, 3).drop_columns(["as_of_date"])
    VersionedStore(str(lake_env.lake)).write("features", "demo", "order_summary", day, newer)
    versions = lake.versions("demo/order_summary", partition=day)
    assert len(versions) == 2
    assert lake.load("demo/order_summary", partition=day, as_="arrow").num_rows == 3  # current = newest
    first = lake.load("demo/order_summary", version=versions[0].content_hash, as_="arrow")
    assert first.equals(old)


def test_clear_errors(filled_lake: dict[str, dict[str, dict]]) -> None:
    with pytest.raises(lake.LakeLookupError, match="unknown dataset"):
        lake.load("demo/validated_nothing")
    with pytest.raises(lake.LakeLookupError, match="unknown partition '1999-01-01'"):
        lake.load("demo/validated_orders", partition="1999-01-01")
    with pytest.raises(lake.LakeLookupError, match="content hash"):
        lake.load("demo/validated_orders", version="ffffffffffff0000")
    with pytest.raises(ValueError, match="as_='excel'"):
        lake.load("demo/order_summary", as_="excel")  # type: ignore[arg-type]


def test_works_from_the_lake_alone_without_dagster(
    filled_lake: dict[str, dict[str, dict]], lake_env: LakeEnv
) -> None:
    script = (
        "import json, sys\n"
        "from retina_assets import lake\n"
        "frame = lake.load('demo/order_summary')\n"
        "print(json.dumps({'rows': len(frame), 'dagster_imported': 'dagster' in sys.modules}))\n"
    )
    env = {"RETINA_LAKE_URI": str(lake_env.lake), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {
        "rows": sum(filled_lake[d]["demo/order_summary"]["row_count"] for d in DAYS),
        "dagster_imported": False,
    }


@pytest.mark.slow
def test_load_as_spark(filled_lake: dict[str, dict[str, dict]], spark_local) -> None:
    frame = lake.load("demo/order_summary", as_="spark", spark=spark_local)
    expected = lake.load("demo/order_summary", as_="arrow")
    rows = sorted(frame.toArrow().select(expected.schema.names).cast(expected.schema).to_pylist(), key=str)
    assert rows == sorted(expected.to_pylist(), key=str)
    assert frame.rdd.getNumPartitions() > 1  # one task per version file
    one = lake.load("demo/validated_orders", partition=DAYS[1], as_="spark", spark=spark_local)
    assert one.count() == filled_lake[DAYS[1]]["demo/validated_orders"]["row_count"]
    assert {r["as_of_date"] for r in one.select("as_of_date").distinct().collect()} == {DAYS[1]}
