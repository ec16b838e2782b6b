"""pyarrow, DuckDB, polars and Spark read the same feature root and agree row for row."""

from __future__ import annotations

import dagster as dg
import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.landing import settled
from retina_assets_tests.support.runs import run_partition

pytestmark = pytest.mark.slow
DAYS = ["2010-12-01", "2010-12-02", "2010-12-03"]
KEY = ["as_of_date", "customer_id"]


def _rows(records: list[dict]) -> list[tuple]:
    out = []
    for r in records:
        d = dict(r)
        d["as_of_date"] = str(d["as_of_date"])
        out.append(tuple(round(v, 6) if isinstance(v, float) else v for _, v in sorted(d.items())))
    return sorted(out, key=lambda t: tuple(str(x) for x in t))


def test_four_readers_agree(lake_env: LakeEnv, demo_drops, instance: dg.DagsterInstance, spark_local) -> None:
    expected_counts = {
        day: run_partition(lake_env, instance, day)["demo/order_summary"]["row_count"] for day in DAYS
    }
    root = str(lake_env.lake / "features" / "demo" / "order_summary")

    arrow = ds.dataset(root, format="parquet", partitioning="hive").to_table().to_pylist()
    duck = duckdb.sql(f"select * from read_parquet('{root}/*/*.parquet', hive_partitioning=true)")
    duck_rows = [dict(zip(duck.columns, row, strict=True)) for row in duck.fetchall()]
    polars_rows = pl.read_parquet(f"{root}/**/*.parquet", hive_partitioning=True).to_dicts()
    spark_rows = [r.asDict() for r in spark_local.read.parquet(root).collect()]

    assert len(arrow) == sum(expected_counts.values())
    reference = _rows(arrow)
    for name, rows in {"duckdb": duck_rows, "polars": polars_rows, "spark": spark_rows}.items():
        assert _rows(rows) == reference, name
    # one copy of each partition: per-day counts equal what each run wrote
    counts: dict[str, int] = {}
    for r in spark_rows:
        counts[str(r["as_of_date"])] = counts.get(str(r["as_of_date"]), 0) + 1
    assert counts == expected_counts


def test_every_zone_root_after_a_corrected_drop(
    lake_env: LakeEnv, demo_drops, instance: dg.DagsterInstance, spark_local
) -> None:
    """A corrected drop replaces its day in the raw, validated and rejected views too: Spark, DuckDB and
    pyarrow count exactly the current versions (what lake.load gives), not every version ever written."""
    from retina_assets import lake

    day = DAYS[0]
    run_partition(lake_env, instance, day)
    drop = lake_env.landing / "demo" / "orders_20101201.csv"
    lines = drop.read_bytes().split(b"\r\n")
    drop.write_bytes(b"\r\n".join(lines[:-100]) + b"\r\n")
    settled(drop)  # a finished upload (a run refuses a drop still in its quiet period)
    latest = run_partition(lake_env, instance, day)
    api = lake.Lake(str(lake_env.lake))
    for zone in ("raw", "validated", "rejected"):
        root = str(lake_env.lake / zone / "demo" / "orders")
        current = latest[f"demo/{zone}_orders"]["row_count"]
        assert len(api.versions(f"demo/{zone}_orders")) == 2 or zone == "rejected"
        assert spark_local.read.parquet(root).count() == current, zone
        duck = duckdb.sql(f"select count(*) from read_parquet('{root}/**/*.parquet', hive_partitioning=true)")
        assert duck.fetchall()[0][0] == current, zone
        assert ds.dataset(root, format="parquet", partitioning="hive").count_rows() == current, zone
        assert len(api.load(f"demo/{zone}_orders")) == current, zone
