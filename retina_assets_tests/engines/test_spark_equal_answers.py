"""Spark and in-process give the same answers: validated, rejected and order_summary rows (compared by lineage,
or by the feature's key), their types, reject codes and reasons, and the check figures, on the three example
clients and on a generated drop large enough for the in-process engine's bounded buckets. The Spark outputs
are multi-part versions written by the executors and committed like any other version."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest

from retina_assets.catalog import load_clients
from retina_assets.defs.io_manager import write_output
from retina_assets.demo import write_example_drops
from retina_assets.engines.stages import build_feature, validate_partition
from retina_assets.example_clients import delivered_after
from retina_assets.features.order_summary import ORDER_SUMMARY
from retina_assets.model.naming import FEATURES, REJECTED, SOURCE_FILE, SOURCE_ROW, VALIDATED, DatasetName
from retina_assets.model.spec import ClientSpec
from retina_assets.quality.checks import check_context, evaluate_checks
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.quality import materialize

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
LINEAGE = [(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]
# client, dataset, partition: one day of each example client
EXAMPLES = [
    ("demo", "orders", "2010-12-01"),
    ("completejourney", "transactions", "2017-01-02"),
    ("cdnow", "purchases", "1997-01-02"),
]


def _raw(env: LakeEnv, instance: dg.DagsterInstance, client: str, dataset: str, partition: str) -> DatasetRef:
    result = materialize(env, instance, partition, f"{client}/raw_{dataset}")
    assert result.success
    event = result.get_asset_materialization_events()[0].materialization
    meta = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    return DatasetRef(meta["path"], meta["content_hash"], meta["row_count"], partition)


def _read(version: DatasetVersion) -> pa.Table:
    return DatasetRef(version.path, version.content_hash).to_arrow()


def _assert_same(spark_rows: pa.Table, local_rows: pa.Table, order: list[tuple[str, str]]) -> None:
    """Row for row (in ``order``), type for type, value for value."""
    assert spark_rows.schema == local_rows.schema
    assert spark_rows.sort_by(order).equals(local_rows.sort_by(order))


def _validate_both(
    spark: Any, lake: Path, spec: ClientSpec, dataset: str, raw: DatasetRef, bucket_rows: int
) -> dict[str, dict[str, DatasetVersion]]:
    """Validate ``raw`` in-process and on Spark (parts of ``bucket_rows`` rows) into two lakes; check that the
    figures and checks agree and return the committed versions by engine and zone."""
    out: dict[str, dict[str, DatasetVersion]] = {}
    figures = {}
    for engine in ("pandas", "spark"):
        store = VersionedStore(str(lake / engine))
        ctx = check_context(store, spec, dataset, spec.datasets[dataset], raw.partition or "")
        result = validate_partition(
            raw,
            spec.datasets[dataset],
            ctx,
            engine,
            spark=lambda: spark,
            bucket_rows=bucket_rows,
            store=store,
        )
        try:
            out[engine] = {
                zone: write_output(
                    store, DatasetName(zone, spec.client, dataset), raw.partition or "", rows, [raw.uri], None
                )[0]
                for zone, rows in ((VALIDATED, result.valid), (REJECTED, result.rejected))
            }
        finally:
            result.close()
        figures[engine] = (result.summary, evaluate_checks(spec.datasets[dataset], result.summary, ctx))
    assert figures["spark"] == figures["pandas"]
    assert figures["pandas"][0].reconciles
    return out


def _compare_validation(versions: dict[str, dict[str, DatasetVersion]]) -> None:
    for zone in (VALIDATED, REJECTED):
        spark_version, local_version = versions["spark"][zone], versions["pandas"][zone]
        assert spark_version.parts is not None  # written by the executors, one folder of parts
        _assert_same(_read(spark_version), _read(local_version), LINEAGE)


@pytest.mark.parametrize(("client", "dataset", "partition"), EXAMPLES)
def test_example_clients_validate_and_summarize_the_same_on_both_engines(
    lake_env: LakeEnv,
    instance: dg.DagsterInstance,
    tmp_path: Path,
    spark_local: Any,
    client: str,
    dataset: str,
    partition: str,
) -> None:
    write_example_drops(lake_env.landing, days=3, clients=(client,), sample=True)
    spec = next(s for s in load_clients(lake_env.clients_dir) if s.client == client)
    raw = _raw(lake_env, instance, client, dataset, partition)
    assert (raw.row_count or 0) > 100
    # small parts, so both outputs are several parts laid out by key hash
    versions = _validate_both(
        spark_local, tmp_path, spec, dataset, raw, bucket_rows=max(100, raw.row_count // 4)
    )
    assert len(versions["spark"][VALIDATED].parts or []) > 1
    _compare_validation(versions)

    # order_summary from each engine's validated version: the same rows and types
    built = {}
    for engine in ("pandas", "spark"):
        store = VersionedStore(str(tmp_path / engine))
        valid = versions[engine][VALIDATED]
        ref = DatasetRef(valid.path, valid.content_hash, valid.row_count, partition)
        rows, metadata = build_feature(
            ORDER_SUMMARY, {"orders": ref}, engine, spark=lambda: spark_local, store=store
        )
        version, _ = write_output(
            store, DatasetName(FEATURES, client, "order_summary"), partition, rows, [ref.uri], None
        )
        built[engine] = (_read(version), metadata, version)
    assert built["spark"][1] == built["pandas"][1]
    assert built["spark"][2].parts is not None
    _assert_same(built["spark"][0], built["pandas"][0], [("customer_id", "ascending")])
    assert built["pandas"][0].num_rows > 0


def test_a_generated_large_drop_gives_the_same_answers(
    lake_env: LakeEnv, instance: dg.DagsterInstance, tmp_path: Path, spark_local: Any
) -> None:
    """A generated demo drop (Online Retail repeated with new keys, benchmarks/generate.py) above the
    in-process bucket size: the in-process engine validates it window by window in key buckets, Spark in
    parts; the answers are the same."""
    from benchmarks.generate import generate
    from retina_assets.demo import SAMPLE

    drop = generate(120_000, data_dir=tmp_path / "generated", source=SAMPLE)
    landed = lake_env.landing / "demo" / drop.path.name
    landed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(drop.path, landed)
    os.utime(landed, (delivered_after(drop.partition),) * 2)  # a finished upload
    spec = next(s for s in load_clients(lake_env.clients_dir) if s.client == "demo")
    raw = _raw(lake_env, instance, "demo", "orders", drop.partition)
    assert raw.row_count == drop.rows
    versions = _validate_both(spark_local, tmp_path, spec, "orders", raw, bucket_rows=40_000)
    assert len(versions["spark"][VALIDATED].parts or []) == 3
    _compare_validation(versions)
