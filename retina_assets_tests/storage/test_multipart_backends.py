"""Multi-part versions behave the same on local disk, S3 (moto server) and Azure Blob (Azurite): parts staged
and committed as one content-addressed folder, deduplicated, refused when a part is changed, missing or
added, the current view swapped between layouts, the folder deleted as a whole; and the two filesystem
operations they rely on (server-side ``copy``, recursive ``delete``)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from retina_assets.storage import paths
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.integrity import ContentHashMismatchError, verify
from retina_assets.storage.parts import combined_hash
from retina_assets.storage.paths import PART_STAGING_DIR
from retina_assets.storage.versioned_store import VersionedStore, stage_part
from retina_assets_tests.support.backends import BACKENDS, backend_root
from retina_assets_tests.support.multipart import (
    CLIENT,
    DATASET,
    PARTITION,
    SCHEMA,
    ZONE,
    rows,
    write_parts,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


@pytest.fixture
def lake_uri(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return backend_root(request, backend, tmp_path, "lake")


def _objects(fs: LakeFileSystem, root: str) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones included) with its bytes."""
    fs.fs.invalidate_cache()
    return {name: fs.fs.cat_file(name) for name in fs.fs.find(fs._strip(root))}


def _overwrite(fs: LakeFileSystem, uri: str, data: bytes) -> None:
    """Change a file behind the lake's back (local files are read-only: lift that first)."""
    if fs.is_local:
        Path(uri).chmod(0o644)
        Path(uri).write_bytes(data)
    else:
        fs.fs.pipe_file(fs._strip(uri), data)
        fs.fs.invalidate_cache()


def _view_files(store: VersionedStore) -> list[str]:
    view_dir = paths.partition_dir(store.lake_uri, ZONE, CLIENT, DATASET, PARTITION)
    return [f.uri.rsplit("/", 1)[-1] for f in store.fs.list_files(view_dir)]


def _hive_rows(store: VersionedStore) -> list[dict]:
    """The dataset's current view read as a hive dataset by pyarrow (through the lake's own fsspec client)."""
    fs = store.fs
    fs.fs.invalidate_cache()
    root = fs._strip(paths.dataset_root(store.lake_uri, ZONE, CLIENT, DATASET)).split("://", 1)[-1]
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))
    table = ds.dataset(root, filesystem=arrow_fs, format="parquet", partitioning="hive").to_table()
    assert set(table.column("as_of_date").to_pylist()) == {PARTITION}
    return table.drop_columns("as_of_date").sort_by("customer_id").to_pylist()


def test_copy_is_whole_and_recursive_delete_removes_only_the_folder(lake_uri: str) -> None:
    fs = filesystem_for(lake_uri)
    src, dest = f"{lake_uri}/a/src.bin", f"{lake_uri}/b/dest.bin"
    fs.write_bytes(src, b"first bytes")
    fs.copy(src, dest)
    assert fs.read_bytes(dest) == b"first bytes" and fs.read_bytes(src) == b"first bytes"
    fs.write_bytes(f"{lake_uri}/a/other.bin", b"other", replace=True)
    fs.copy(f"{lake_uri}/a/other.bin", dest)  # replaces the destination
    assert fs.read_bytes(dest) == b"other"
    assert [f.uri for f in fs.list_files(f"{lake_uri}/b")] == [dest]  # no temporary beside it

    # a folder and its sibling that shares its name as a prefix (object stores have no folders)
    for name in ("ver/x.parquet", "ver/deep/y.parquet", "version2/z.parquet"):
        fs.write_bytes(f"{lake_uri}/{name}", name.encode())
    fs.delete(f"{lake_uri}/ver", recursive=True)
    left = sorted(f.uri.removeprefix(lake_uri + "/") for f in fs.list_files(lake_uri, recursive=True))
    assert left == ["a/other.bin", "a/src.bin", "b/dest.bin", "version2/z.parquet"]
    fs.delete(f"{lake_uri}/ver", recursive=True)  # already gone: not an error
    fs.delete(f"{lake_uri}/nothing-here.bin")


def test_parts_commit_as_one_version_and_identical_parts_dedupe(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    tables = [rows(0, 10), rows(10, 25), rows(35, 3)]
    version = write_parts(store, tables)
    names = [p["name"] for p in version.parts]
    assert version.path == paths.join(
        paths.version_dir(store.lake_uri, ZONE, CLIENT, DATASET, PARTITION), combined_hash(names)
    )
    assert [f.uri.rsplit("/", 1)[-1] for f in store.fs.list_files(version.path)] == names
    assert version.row_count == 38
    whole = pa.concat_tables(tables)
    assert store.read_version(version).equals(whole)
    assert DatasetRef(version.path, version.content_hash).to_arrow().equals(whole)
    assert _view_files(store) == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert _hive_rows(store) == whole.to_pylist()
    assert not store.fs.list_files(paths.join(store.lake_uri, PART_STAGING_DIR), recursive=True)

    before = _objects(store.fs, store.lake_uri)
    again = write_parts(store, [rows(0, 10), rows(10, 25), rows(35, 3)])
    assert again.deduplicated and again.path == version.path
    assert _objects(store.fs, store.lake_uri) == before  # no new part, record, view file or staging left
    assert len(store.versions(ZONE, CLIENT, DATASET, PARTITION)) == 1


def test_a_changed_missing_or_extra_part_is_refused(lake_uri: str, tmp_path: Path) -> None:
    store = VersionedStore(lake_uri)
    version = write_parts(store, [rows(0, 5), rows(5, 5), rows(10, 5)])
    fs = store.fs
    first, second, _ = (paths.join(version.path, p["name"]) for p in version.parts)

    _overwrite(fs, second, pq_bytes(rows(5, 6)))  # a part changed: its name no longer matches its bytes
    with pytest.raises(ContentHashMismatchError, match=version.parts[1]["name"]):
        store.read_version(version)
    with pytest.raises(ContentHashMismatchError):
        verify(fs, version.path, version.content_hash)
    with pytest.raises(ContentHashMismatchError):
        DatasetRef(version.path, version.content_hash).local_copy(str(tmp_path))

    fs.delete(second)
    with pytest.raises(ContentHashMismatchError, match="from its parts"):  # a part missing
        store.read_version(version)

    staged = store.staging_area()
    part = stage_part(fs, staged, 1, rows(5, 5).to_batches(max_chunksize=7), SCHEMA)  # the same bytes again
    assert part.name == version.parts[1]["name"]
    fs.copy(part.uri, second)
    assert store.read_version(version).num_rows == 15
    fs.copy(first, paths.join(version.path, "part-00003-" + "0" * 64 + ".parquet"))  # an extra part
    with pytest.raises(ContentHashMismatchError, match="from its parts"):
        store.read_version(version)
    fs.delete(staged, recursive=True)


def test_a_staged_part_whose_bytes_differ_from_its_report_is_not_committed(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    area = store.staging_area()
    good = stage_part(store.fs, area, 0, rows(0, 5).to_batches(), SCHEMA)
    bad = stage_part(store.fs, area, 1, rows(5, 5).to_batches(), SCHEMA)
    _overwrite(store.fs, bad.uri, pq_bytes(rows(5, 6)))
    with pytest.raises(ValueError, match="not to the"):
        store.commit_parts(ZONE, CLIENT, DATASET, PARTITION, [good, bad], schema=SCHEMA, staging_area=area)
    assert store.current(ZONE, CLIENT, DATASET, PARTITION) is None
    assert _view_files(store) == []
    assert not store.fs.exists(area) or not store.fs.list_files(area, recursive=True)


def test_the_view_swaps_between_three_parts_one_file_and_back(
    lake_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = VersionedStore(lake_uri)
    if not store.fs.is_local:  # an object store copies parts into the view itself: no download, no upload

        def no_round_trip(*args: object, **kwargs: object) -> None:
            raise AssertionError("a multi-part view went through this process")

        monkeypatch.setattr(store.fs, "download", no_round_trip)
        monkeypatch.setattr(store.fs, "replace_with_copy", no_round_trip)
    three = write_parts(store, [rows(0, 4), rows(4, 4), rows(8, 4)])
    assert _view_files(store) == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert _hive_rows(store) == rows(0, 12).to_pylist()

    single = write_parts(store, [rows(100, 6)])  # a one-part version: one view file
    assert _view_files(store) == ["part-0.parquet"]
    assert _hive_rows(store) == rows(100, 6).to_pylist()

    monkeypatch.undo()
    one_file = store.write(ZONE, CLIENT, DATASET, PARTITION, rows(200, 3))  # the single-file layout
    assert _view_files(store) == ["part-0.parquet"] and _hive_rows(store) == rows(200, 3).to_pylist()

    back = write_parts(store, [rows(0, 4), rows(4, 4), rows(8, 4)])
    assert back.content_hash == three.content_hash and not back.deduplicated
    assert _view_files(store) == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert _hive_rows(store) == rows(0, 12).to_pylist()
    assert [v.content_hash for v in store.versions(ZONE, CLIENT, DATASET, PARTITION)] == [
        three.content_hash,
        single.content_hash,
        one_file.content_hash,
        three.content_hash,
    ]


def test_deleting_a_multipart_version_removes_its_folder_only(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    old = write_parts(store, [rows(0, 5), rows(5, 5)])
    new = write_parts(store, [rows(0, 6), rows(6, 1)])
    store.delete_version(old, reason="retention test")
    assert not store.fs.list_files(old.path)
    assert store.read_version(new).num_rows == 7
    assert store.versions(ZONE, CLIENT, DATASET, PARTITION)[0].deleted_reason == "retention test"


def pq_bytes(table: pa.Table) -> bytes:
    """``table`` as Parquet bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
