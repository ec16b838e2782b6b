"""Multi-part versions: parts staged where they are written, committed as one content-addressed version."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.integrity import ContentHashMismatchError
from retina_assets.storage.parts import combined_hash, is_multipart_uri, parse_part_name
from retina_assets.storage.versioned_store import VersionedStore, stage_part

SCHEMA = pa.schema([("customer_id", pa.int64()), ("amount", pa.float64()), ("note", pa.string())])


def _rows(start: int, count: int) -> pa.Table:
    ids = list(range(start, start + count))
    return pa.table(
        {"customer_id": ids, "amount": [i * 1.5 for i in ids], "note": [f"n{i}" for i in ids]}, schema=SCHEMA
    )


def _write_parts(store: VersionedStore, tables: list[pa.Table], partition: str = "2011-01-04"):
    area = store.staging_area()
    staged = [
        stage_part(store.fs, area, i, t.to_batches(max_chunksize=7), SCHEMA) for i, t in enumerate(tables)
    ]
    return store.commit_parts(
        "validated", "demo", "orders", partition, staged, schema=SCHEMA, run_id="r1", staging_area=area
    )


def test_parts_commit_as_one_version_read_by_every_engine(tmp_path):
    store = VersionedStore(str(tmp_path))
    tables = [_rows(0, 10), _rows(10, 25), _rows(35, 3)]
    version = _write_parts(store, tables)

    names = [p["name"] for p in version.parts]
    assert [parse_part_name(n)[0] for n in names] == [0, 1, 2]
    assert version.content_hash == combined_hash(names)
    assert is_multipart_uri(version.path) and version.path.endswith(version.content_hash)
    assert version.row_count == 38 and version.num_bytes == sum(p["num_bytes"] for p in version.parts)
    assert not os.path.exists(os.path.join(tmp_path, "_staging")) or not os.listdir(tmp_path / "_staging")

    whole = pa.concat_tables(tables)
    ref = DatasetRef(version.path, version.content_hash, version.row_count)
    assert ref.to_arrow().equals(whole)
    assert ref.to_arrow_schema() == SCHEMA
    assert store.read_version(version).equals(whole)
    assert pq.read_table(version.path).sort_by("customer_id").equals(whole)
    duck = (
        duckdb.sql(
            f"select * from read_parquet('{version.path}/*.parquet', hive_partitioning=false) order by customer_id"
        )
        .arrow()
        .read_all()
    )
    assert duck.to_pylist() == whole.to_pylist()
    assert (
        pl.read_parquet(f"{version.path}/*.parquet", hive_partitioning=False)
        .sort("customer_id")
        .to_arrow()
        .to_pylist()
        == whole.to_pylist()
    )

    # the current view holds the parts as part-0, part-1, part-2; the zone root reads as the version's rows
    view_dir = os.path.dirname(store.view_path("validated", "demo", "orders", "2011-01-04"))
    assert sorted(os.listdir(view_dir)) == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    zone = pq.read_table(os.path.join(tmp_path, "validated", "demo", "orders"))
    assert zone.drop_columns("as_of_date").sort_by("customer_id").equals(whole)


def test_identical_parts_dedupe_and_a_one_file_version_replaces_the_view(tmp_path):
    store = VersionedStore(str(tmp_path))
    first = _write_parts(store, [_rows(0, 5), _rows(5, 5)])
    again = _write_parts(store, [_rows(0, 5), _rows(5, 5)])
    assert again.deduplicated and again.content_hash == first.content_hash
    assert len(store.versions("validated", "demo", "orders", "2011-01-04")) == 1

    single = store.write("validated", "demo", "orders", "2011-01-04", _rows(0, 4))
    view_dir = os.path.dirname(single.published_path)
    assert os.listdir(view_dir) == ["part-0.parquet"]
    assert pq.read_table(view_dir).num_rows == 4

    back = _write_parts(store, [_rows(0, 5), _rows(5, 5)])
    assert back.content_hash == first.content_hash and not back.deduplicated
    assert pq.read_table(view_dir).num_rows == 10


def test_a_damaged_missing_or_extra_part_is_refused(tmp_path):
    store = VersionedStore(str(tmp_path))
    version = _write_parts(store, [_rows(0, 5), _rows(5, 5), _rows(10, 5)])
    ref = DatasetRef(version.path, version.content_hash)
    part = os.path.join(version.path, version.parts[1]["name"])

    os.chmod(part, 0o644)
    path = Path(part)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ContentHashMismatchError, match=version.parts[1]["name"]):
        ref.to_arrow()

    os.remove(part)
    with pytest.raises(ContentHashMismatchError, match="from its parts"):
        DatasetRef(version.path, version.content_hash).to_arrow()


def test_delete_version_removes_the_whole_folder(tmp_path):
    store = VersionedStore(str(tmp_path))
    old = _write_parts(store, [_rows(0, 5), _rows(5, 5)])
    _write_parts(store, [_rows(0, 6)])
    store.delete_version(old, reason="retention test")
    assert not os.path.exists(old.path)
    assert store.versions("validated", "demo", "orders", "2011-01-04")[0].deleted_reason == "retention test"
