"""Same answers at scale, small: the benchmark's generated drop (Online Retail copied with new keys) run
through the demo client's Dagster assets on the in-process engine, on local Spark and on a Spark Connect
server gives the same raw, validated, rejected and ``order_summary`` rows and types (sorted by
``_source_file``, ``_source_row`` or the feature's key), the same rows quarantined with the same codes and
reasons. This is the check ``python -m benchmarks.spark_scale`` makes on the 5 M-row drop
(:func:`benchmarks.spark_scale.compare_outputs`), here on a drop small enough for the suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from benchmarks.generate import GeneratedDrop, generate
from benchmarks.spark_scale import SORT_KEYS, client_specs, compare_outputs, run_lake_stages
from retina_assets.demo import SAMPLE
from retina_assets.engines.spark import SPARK_REMOTE_ENV
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.landing import settled

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROWS = 30_000  # more than the bundled sample's 25,281 lines: the second copy has new order and customer ids


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDrop:
    generated = generate(ROWS, tmp_path_factory.mktemp("drops"), source=SAMPLE)
    settled(generated.path)  # a finished upload: past the demo client's quiet period
    return generated


def pipeline(drop: GeneratedDrop, engine: str, work: Path) -> dict[str, Any]:
    """The demo client (set to ``engine``) run through raw, validation and order_summary into a fresh lake."""
    clients = client_specs(work / "clients", engine)
    stages = run_lake_stages(str(drop.landing), str(work / "lake"), str(clients), drop.partition)
    assert [s["error"] for s in stages.values()] == [None, None, None]
    return {"stages": stages}


@pytest.fixture(scope="module")
def in_process(drop: GeneratedDrop, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return pipeline(drop, "pandas", tmp_path_factory.mktemp("pandas"))


def assert_same(left: dict[str, Any], right: dict[str, Any]) -> dict[str, dict[str, Any]]:
    comparison = compare_outputs(left, right)
    assert set(comparison) == set(SORT_KEYS)
    for asset, entry in comparison.items():
        assert entry["same"], (asset, entry["differences"])
    return comparison


def test_local_spark_writes_the_same_versions_as_in_process(
    drop: GeneratedDrop, in_process: dict[str, Any], tmp_path: Path, spark_local: Any
) -> None:
    comparison = assert_same(in_process, pipeline(drop, "spark", tmp_path))
    assert comparison["demo/raw_orders"]["rows"] == [ROWS, ROWS]
    rejected = comparison["demo/rejected_orders"]
    assert rejected["rows"][0] > 0
    # the generated drop quarantines rows for several reasons, all counted alike on both engines
    assert {"duplicate_key", "zero_price"} <= set(rejected["codes"])
    assert sum(rejected["codes"].values()) >= rejected["rows"][0]


def test_spark_connect_writes_the_same_versions_as_in_process(
    drop: GeneratedDrop,
    in_process: dict[str, Any],
    tmp_path: Path,
    spark_connect_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SPARK_REMOTE_ENV, spark_connect_url)
    comparison = assert_same(in_process, pipeline(drop, "spark", tmp_path))
    assert comparison["demo/rejected_orders"]["rows"][0] > 0


def test_the_comparison_finds_a_changed_value_a_changed_type_and_a_missing_row(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path / "lake"))
    rows = {"_source_file": ["a.csv", "a.csv", "a.csv"], "_source_row": [3, 1, 2], "qty": [3, 1, 2]}

    def version(name: str, table: pa.Table) -> dict[str, Any]:
        written = store.write("raw", name, "orders", "2010-12-01", table)
        return {"stages": {"raw": {"outputs": {"demo/raw_orders": {"path": written.path}}}}}

    base = version("base", pa.table(rows))
    # same rows in another order: equal once sorted by file and line
    shuffled = version("shuffled", pa.table({k: list(reversed(v)) for k, v in rows.items()}))
    assert compare_outputs(base, shuffled)["demo/raw_orders"]["same"]

    changed = version("changed", pa.table({**rows, "qty": [3, 1, 5]}))
    entry = compare_outputs(base, changed)["demo/raw_orders"]
    assert not entry["same"] and "qty" in entry["differences"][0]

    retyped = version("retyped", pa.table({**rows, "qty": pa.array([3, 1, 2], pa.int32())}))
    entry = compare_outputs(base, retyped)["demo/raw_orders"]
    assert not entry["same_schema"] and not entry["same"]

    shorter = version("shorter", pa.table({k: v[:2] for k, v in rows.items()}))
    assert compare_outputs(base, shorter)["demo/raw_orders"]["rows"] == [3, 2]
    assert not compare_outputs(base, shorter)["demo/raw_orders"]["same"]
