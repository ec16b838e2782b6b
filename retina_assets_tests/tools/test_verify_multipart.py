"""verify on multi-part versions: a version written as parts (as a Spark job's executors write it, rows in
their own order) that an in-process rebuild writes as one file is compared on its rows and types, not on
bytes, and the verdict names both layouts; a version whose rows or types differ is DIFFERENT; a feature
built from a multi-part input rebuilds from a local copy of its parts, and a changed part is named."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retina_assets.features import FEATURES
from retina_assets.features.registry import build_in_process
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore, stage_part
from retina_assets.verify import DIFFERENT, IDENTICAL, main, verify
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import run_partition

PARTITION = "2010-12-01"


def _as_parts(store: VersionedStore, like: DatasetVersion, table: pa.Table, count: int) -> DatasetVersion:
    """Commit ``table`` as a ``count``-part version of ``like``'s partition, with ``like``'s provenance."""
    area = store.staging_area()
    size = -(-table.num_rows // count)
    parts = [
        stage_part(store.fs, area, i, table.slice(i * size, size).to_batches(), table.schema)
        for i in range(count)
    ]
    return store.commit_parts(
        like.zone, like.client, like.dataset, like.partition, parts, schema=table.schema,
        input_paths=like.input_paths, provenance=like.provenance, staging_area=area,
    )  # fmt: skip


@pytest.fixture
def lake(lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance) -> VersionedStore:
    run_partition(lake_env, instance, PARTITION)
    return VersionedStore(str(lake_env.lake))


def test_a_multipart_version_rebuilt_as_one_file_is_compared_on_rows_and_types(lake: VersionedStore) -> None:
    single = lake.current("validated", "demo", "orders", PARTITION)
    rows = lake.read_version(single)
    shuffled = rows.sort_by([("product_id", "descending"), ("_source_row", "descending")])
    parts = _as_parts(lake, single, shuffled, 3)
    [verdict] = verify(lake.lake_uri, parts.path)
    assert verdict.status == IDENTICAL, verdict.report()
    assert "layout: a folder of 3 parts recorded, one file rebuilt" in verdict.details
    assert any(d.startswith(f"rows and types: identical ({rows.num_rows:,} rows") for d in verdict.details)
    assert verdict.rebuilt_hash == single.content_hash  # the in-process rebuild is the one-file version
    assert main([parts.path]) == 0

    one_less = _as_parts(lake, single, shuffled.slice(1), 2)
    [verdict] = verify(lake.lake_uri, one_less.path)
    assert verdict.status == DIFFERENT
    assert "layout: a folder of 2 parts recorded, one file rebuilt" in verdict.details
    assert f"rows: {rows.num_rows - 1:,} recorded, {rows.num_rows:,} rebuilt" in verdict.details

    index = rows.schema.get_field_index("quantity")
    narrowed = shuffled.set_column(index, "quantity", pc.cast(shuffled.column("quantity"), pa.int32()))
    other_type = _as_parts(lake, single, narrowed, 3)
    [verdict] = verify(lake.lake_uri, other_type.path)
    assert verdict.status == DIFFERENT
    assert "schema: column 'quantity': int32 recorded, int64 rebuilt" in verdict.details


def test_a_feature_built_from_a_multipart_input_rebuilds_from_its_parts(lake: VersionedStore) -> None:
    single = lake.current("validated", "demo", "orders", PARTITION)
    parts = _as_parts(lake, single, lake.read_version(single), 3)
    summary = lake.current("features", "demo", "order_summary", PARTITION)
    feature = FEATURES["order_summary"]
    table, _ = build_in_process(feature, {"orders": DatasetRef(parts.path, parts.content_hash)})
    provenance = dict(summary.provenance or {})
    provenance["inputs"] = [{"path": parts.path, "sha256": parts.content_hash}]
    # the same bytes as the current summary: commit something else first, so this is a commit of its own
    lake.write("features", "demo", "order_summary", PARTITION, table.slice(0, 1))
    built = lake.write(
        "features", "demo", "order_summary", PARTITION, table, input_paths=[parts.path], provenance=provenance
    )
    assert built.content_hash == summary.content_hash and not built.deduplicated
    verdicts = verify(lake.lake_uri, built.path, recursive=True)
    assert [v.status for v in verdicts] == [IDENTICAL] * 4, "\n".join(v.report() for v in verdicts)
    assert verdicts[2].path == parts.path and verdicts[-1].path == built.path

    part = Path(parts.path) / parts.parts[1]["name"]
    part.chmod(0o644)
    part.write_bytes(part.read_bytes()[:-8] + bytes(8))  # one part of the input damaged
    [verdict] = verify(lake.lake_uri, built.path)
    assert verdict.status == DIFFERENT
    assert any(f"input {parts.path} was changed" in d for d in verdict.details), verdict.report()


def test_layouts_are_named_even_when_the_bytes_match(lake: VersionedStore) -> None:
    single = lake.current("validated", "demo", "orders", PARTITION)
    one_part = _as_parts(lake, single, lake.read_version(single), 1)
    assert len(one_part.parts) == 1
    [verdict] = verify(lake.lake_uri, one_part.path)
    assert verdict.status == IDENTICAL
    assert verdict.details[0] == "layout: a folder of 1 part recorded, one file rebuilt"
