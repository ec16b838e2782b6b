"""The immutable store: content-addressed paths, dedupe, atomic publish, version records."""

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from retina_assets.storage.filesystem import sha256_file
from retina_assets.storage.versioned_store import VersionedStore, table_from_any
from retina_assets_tests.support.lake_env import LakeEnv


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def test_write_is_content_addressed_and_typed(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path))
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]})
    version = store.write("raw", "demo", "orders", "2011-01-05", table)
    path = Path(version.path)
    assert path.parent == tmp_path / "_versions/raw/demo/orders/as_of_date=2011-01-05"
    assert path.name == f"{sha256_file(path)}.parquet" == f"{version.content_hash}.parquet"
    assert version.row_count == 2 and not version.deduplicated
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(path).field("id").type == pa.int64()
    assert list((tmp_path / ".tmp").iterdir()) == []  # staging is cleaned


def test_identical_rewrite_is_deduplicated_and_changed_data_is_a_new_version(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path))
    first = store.write("validated", "demo", "orders", "2011-01-05", pa.table({"x": [1, 2, 3]}))
    before = _files(tmp_path)
    again = store.write("validated", "demo", "orders", "2011-01-05", pa.table({"x": [1, 2, 3]}))
    assert again.deduplicated and again.path == first.path
    assert _files(tmp_path) == before  # no new copy, no new record

    old_bytes = Path(first.path).read_bytes()
    changed = store.write("validated", "demo", "orders", "2011-01-05", pa.table({"x": [1, 2, 4]}))
    assert changed.path != first.path and not changed.deduplicated
    assert Path(first.path).read_bytes() == old_bytes  # the old version is untouched
    versions = store.versions("validated", "demo", "orders", "2011-01-05")
    assert [v.path for v in versions] == [first.path, changed.path]
    assert store.current("validated", "demo", "orders", "2011-01-05").path == changed.path


def test_streamed_batches_need_a_schema_and_write_empty_versions(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path))
    schema = pa.schema([("a", pa.int64())])
    with pytest.raises(ValueError, match="schema is required"):
        store.write("raw", "demo", "orders", "2011-01-05", iter([]))
    empty = store.write("raw", "demo", "orders", "2011-01-05", iter([]), schema=schema)
    assert empty.row_count == 0 and pq.read_schema(empty.path).field("a").type == pa.int64()
    batches = [pa.record_batch([pa.array([i, i + 1])], schema=schema) for i in range(0, 10, 2)]
    full = store.write("raw", "demo", "orders", "2011-01-06", iter(batches), schema=schema)
    assert pq.read_table(full.path).column("a").to_pylist() == list(range(10))


def test_feature_partitions_are_replaced_and_read_as_one_hive_dataset(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path))
    v1 = store.write("features", "demo", "order_summary", "2011-01-05", pa.table({"c": ["a"], "n": [1]}))
    store.write("features", "demo", "order_summary", "2011-01-06", pa.table({"c": ["b"], "n": [2]}))
    v3 = store.write(
        "features", "demo", "order_summary", "2011-01-05", pa.table({"c": ["a", "z"], "n": [1, 9]})
    )
    root = tmp_path / "features/demo/order_summary"
    assert sorted(p.relative_to(root).as_posix() for p in _files(root)) == [
        "as_of_date=2011-01-05/part-0.parquet",
        "as_of_date=2011-01-06/part-0.parquet",
    ]
    table = ds.dataset(root, format="parquet", partitioning="hive").to_table().sort_by("c")
    assert table.num_rows == 3
    assert [str(d) for d in table.column("as_of_date").to_pylist()] == [
        "2011-01-05",
        "2011-01-06",
        "2011-01-05",
    ]
    # every version stays readable at its immutable path
    assert Path(v1.path).exists() and Path(v3.path).exists() and v1.path != v3.path
    assert pq.read_table(v1.path).num_rows == 1


def test_version_records_carry_lineage(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path))
    v = store.write(
        "raw",
        "demo",
        "orders",
        "2011-01-05",
        pa.table({"a": [1]}),
        input_paths=["/landing/x.csv"],
        run_id="r1",
    )
    [record] = store.versions("raw", "demo", "orders", "2011-01-05")
    assert record.input_paths == ["/landing/x.csv"] and record.run_id == "r1" and record.path == v.path
    assert record.columns == {"a": "int64"}
    assert store.partitions("raw", "demo", "orders") == ["2011-01-05"]


def test_untyped_empty_pandas_columns_are_stored_as_strings(tmp_path: Path) -> None:
    """An empty (or all-None) object column has no Arrow type; it is stored as string, not Parquet null."""
    import pandas as pd

    store = VersionedStore(str(tmp_path / "lake"))
    frame = pd.DataFrame({"id": pd.Series([], dtype=object), "n": pd.Series([], dtype="int64")})
    version = store.write("rejected", "demo", "orders", "2011-01-05", table_from_any(frame))
    schema = pq.read_schema(version.path)
    assert schema.field("id").type == pa.string()
    assert schema.field("n").type == pa.int64()


@pytest.mark.parametrize("bad_partition", ["../../etc", "2010-12-01|x"])
def test_hostile_partition_keys_never_reach_the_filesystem(lake_env: LakeEnv, bad_partition: str) -> None:
    from retina_assets.model.naming import UnsafeNameError
    from retina_assets.storage.versioned_store import VersionedStore

    with pytest.raises(UnsafeNameError):
        VersionedStore(str(lake_env.lake)).write("raw", "demo", "orders", bad_partition, pa.table({"a": [1]}))
    assert not list(lake_env.lake.rglob("*.parquet"))
