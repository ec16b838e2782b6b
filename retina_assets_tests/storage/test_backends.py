"""The lake's storage guarantees hold the same on local disk, S3 (moto server) and Azure Blob (Azurite):
immutable content-addressed paths, atomic visibility, dedupe, and hive reads of the feature root."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from retina_assets.storage import paths
from retina_assets.storage.filesystem import filesystem_for
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.backends import BACKENDS, backend_root

pytestmark = pytest.mark.parametrize("backend", BACKENDS)


@pytest.fixture
def lake_uri(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return backend_root(request, backend, tmp_path, "lake")


def _all_files(store: VersionedStore) -> dict[str, bytes]:
    """Every object/file under the lake (hidden staging included), with its bytes."""
    fs = store.fs
    found = fs.fs.find(fs._strip(store.lake_uri))
    return {name: fs.fs.cat_file(name) for name in found}


def test_paths_are_content_addressed_and_immutable(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    first = store.write("validated", "acme", "orders", "2024-01-05", pa.table({"x": [1, 2, 3]}))
    assert first.path == paths.join(
        lake_uri, "_versions/validated/acme/orders/as_of_date=2024-01-05", f"{first.content_hash}.parquet"
    )
    fs = store.fs
    first_bytes = fs.read_bytes(first.path)
    assert hashlib.sha256(first_bytes).hexdigest() == first.content_hash
    # publishing other bytes to an existing immutable path is refused, the file is untouched
    with fs.staged_file() as staged:
        pq.write_table(pa.table({"x": [9]}), staged)
        assert fs.publish_file(staged, first.path, replace=False) is False
    assert fs.read_bytes(first.path) == first_bytes

    second = store.write("validated", "acme", "orders", "2024-01-05", pa.table({"x": [1, 2, 4]}))
    assert second.path != first.path and not second.deduplicated
    assert fs.read_bytes(first.path) == first_bytes  # the old version stays, byte for byte
    assert [v.path for v in store.versions("validated", "acme", "orders", "2024-01-05")] == [
        first.path,
        second.path,
    ]
    assert store.current("validated", "acme", "orders", "2024-01-05").path == second.path


def test_identical_content_is_stored_once(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    first = store.write("raw", "acme", "orders", "2024-01-05", pa.table({"x": [1, 2, 3]}))
    before = _all_files(store)
    again = store.write("raw", "acme", "orders", "2024-01-05", pa.table({"x": [1, 2, 3]}))
    assert again.deduplicated and again.path == first.path
    assert _all_files(store) == before  # no new object, no new record


def test_nothing_half_written_is_ever_visible(lake_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = VersionedStore(lake_uri)
    schema = pa.schema([("a", pa.int64())])
    partition_dir = paths.partition_dir(lake_uri, "raw", "acme", "orders", "2024-01-06")

    def failing_stream() -> Iterator[pa.RecordBatch]:
        for i in range(3):
            yield pa.record_batch([pa.array(range(i * 1000, (i + 1) * 1000))], schema=schema)
        raise OSError("upload interrupted")

    with pytest.raises(OSError, match="upload interrupted"):
        store.write("raw", "acme", "orders", "2024-01-06", failing_stream(), schema=schema)
    visible = [name for name in _all_files(store) if "/." not in name]
    assert visible == []  # no partial parquet, no record: the partition does not exist
    assert store.current("raw", "acme", "orders", "2024-01-06") is None

    # while a version is being published, its partition holds nothing yet and the bytes come from a
    # staged file that lives outside the dataset folder
    seen: list[tuple[str, list[str]]] = []
    real_publish = store.fs.publish_file

    def spying_publish(local_path: str, uri: str, *, replace: bool) -> bool:
        if uri.endswith(".parquet"):
            seen.append((local_path, [f.uri for f in store.fs.list_files(partition_dir)]))
        return real_publish(local_path, uri, replace=replace)

    monkeypatch.setattr(store.fs, "publish_file", spying_publish)
    batches = [pa.record_batch([pa.array([1, 2])], schema=schema)]
    version = store.write("raw", "acme", "orders", "2024-01-06", iter(batches), schema=schema)
    [(staged, listed)] = seen
    assert listed == []
    assert not staged.startswith(partition_dir) and "/raw/" not in staged
    with store.fs.open_read(version.path) as fh:
        assert pq.read_table(fh).num_rows == 2


def test_feature_root_reads_as_a_hive_dataset(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    counts = {}
    for day, n in (("2024-01-01", 3), ("2024-01-02", 5), ("2024-01-03", 2)):
        table = pa.table({"customer_id": [f"c{i}" for i in range(n)], "revenue": [1.5] * n})
        store.write("features", "acme", "order_summary", day, table)
        counts[day] = n
    # a re-published (corrected) partition still appears once
    store.write(
        "features", "acme", "order_summary", "2024-01-02", pa.table({"customer_id": ["z"], "revenue": [2.0]})
    )
    counts["2024-01-02"] = 1
    root = paths.dataset_root(lake_uri, "features", "acme", "order_summary")
    fs = filesystem_for(root)

    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))
    dataset = ds.dataset(
        fs._strip(root).split("://", 1)[-1], filesystem=arrow_fs, format="parquet", partitioning="hive"
    )
    table = dataset.to_table()
    by_day: dict[str, int] = {}
    for value in table.column("as_of_date").to_pylist():
        by_day[str(value)] = by_day.get(str(value), 0) + 1
    assert by_day == counts

    con = duckdb.connect()
    if not fs.is_local:
        con.register_filesystem(fs.fs)
    rows = con.sql(
        f"select cast(as_of_date as varchar), count(*) from read_parquet('{root}/*/*.parquet', "
        "hive_partitioning=true) group by 1"
    ).fetchall()
    assert dict(rows) == counts


def test_listing_skips_hidden_staging_files_only(lake_uri: str) -> None:
    fs = filesystem_for(lake_uri)
    for name in ("orders_20240101.csv", "orders_20240102.csv.done", ".partial.tmp", "_staging.csv"):
        fs.write_bytes(f"{lake_uri}/landing/{name}", name.encode())
    fs.write_bytes(f"{lake_uri}/landing/_sub/x.csv", b"x")
    listed = [f.uri.rsplit("/", 1)[-1] for f in fs.list_files(f"{lake_uri}/landing")]
    assert listed == ["orders_20240101.csv", "orders_20240102.csv.done"]
    deep = [f.uri.rsplit("/", 1)[-1] for f in fs.list_files(lake_uri, recursive=True)]
    assert deep == listed
    # a file that appears after a listing is seen by the next listing (no stale directory cache)
    fs.write_bytes(f"{lake_uri}/landing/orders_20240103.csv", b"new")
    assert len(fs.list_files(f"{lake_uri}/landing")) == 3
