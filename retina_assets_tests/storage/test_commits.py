"""Commits, current views, verified reads and time travel, on local disk, S3 (moto server) and Azure
(Azurite): every zone root reads as exactly the current versions, racing writers end with one version in
view, log and API, damaged bytes are refused with both hashes, and fsck finds and repairs what it can."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from retina_assets import lake as lake_api
from retina_assets.fsck import fsck
from retina_assets.storage import paths
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.integrity import ContentHashMismatchError
from retina_assets.storage.versioned_store import CommitConflictError, VersionedStore
from retina_assets_tests.support.backends import BACKENDS, backend_root

pytestmark = pytest.mark.parametrize("backend", BACKENDS)
ZONES = ("raw", "validated", "rejected", "features")


@pytest.fixture
def lake_uri(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    return backend_root(request, backend, tmp_path, "lake")


def _orders(n: int, tag: str) -> pa.Table:
    return pa.table({"order_id": [f"{tag}{i}" for i in range(n)], "quantity": list(range(n))})


def _overwrite(fs: LakeFileSystem, uri: str, data: bytes) -> None:
    """Change a file behind the lake's back (as a user or a faulty tool would)."""
    if fs.is_local:
        path = Path(uri)
        path.chmod(0o644)
        path.write_bytes(data)
    else:
        fs.fs.pipe_file(fs._strip(uri), data)
        fs.fs.invalidate_cache()


def _hive_counts(root: str) -> dict[str, dict[str, int]]:
    """Rows per as_of_date as pyarrow, DuckDB and polars read the hive folder ``root``."""
    fs = filesystem_for(root)
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))
    table = ds.dataset(
        fs._strip(root).split("://", 1)[-1], filesystem=arrow_fs, format="parquet", partitioning="hive"
    ).to_table()
    by_arrow: dict[str, int] = {}
    for value in table.column("as_of_date").to_pylist():
        by_arrow[str(value)] = by_arrow.get(str(value), 0) + 1
    con = duckdb.connect()
    if not fs.is_local:
        con.register_filesystem(fs.fs)
    by_duckdb = dict(
        con.sql(
            f"select cast(as_of_date as varchar), count(*)::int from read_parquet('{root}/**/*.parquet', "
            "hive_partitioning=true) group by 1"
        ).fetchall()
    )
    if fs.is_local:
        frame = pl.read_parquet(f"{root}/**/*.parquet", hive_partitioning=True)
    else:
        frame = pl.from_arrow(table)  # polars reads object stores through fsspec-less clients: use Arrow's
    by_polars = {str(k): v for k, v in frame.group_by("as_of_date").len().iter_rows()}
    return {"pyarrow": by_arrow, "duckdb": by_duckdb, "polars": by_polars}


def test_every_zone_root_reads_exactly_the_current_versions(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    expected = {}
    for zone in ZONES:
        store.write(zone, "acme", "orders", "2024-01-01", _orders(3, "a"))
        store.write(zone, "acme", "orders", "2024-01-02", _orders(5, "b"))
        store.write(zone, "acme", "orders", "2024-01-02", _orders(2, "corrected"))  # a corrected drop
        expected = {"2024-01-01": 3, "2024-01-02": 2}
        counts = _hive_counts(paths.dataset_root(lake_uri, zone, "acme", "orders"))
        assert counts == {"pyarrow": expected, "duckdb": expected, "polars": expected}, zone
        # the immutable versions stay, outside the view, and are what the API names
        assert len(store.versions(zone, "acme", "orders", "2024-01-02")) == 2
        assert store.current(zone, "acme", "orders", "2024-01-02").row_count == 2
    loaded = lake_api.Lake(store.lake_uri).load("acme/validated_orders")
    assert loaded.groupby("as_of_date").size().to_dict() == expected


def test_racing_writers_end_with_one_version_everywhere(
    lake_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers of one partition, both past their read of the log before either commits (an injected
    delay): exactly one commits, the other fails naming the partition and the winner, and the view, the
    log and the lake API agree on the winner."""
    base = VersionedStore(lake_uri)
    base.write("validated", "acme", "orders", "2024-01-03", _orders(1, "base"))
    both_staged = threading.Barrier(2, timeout=60)
    real_publish = VersionedStore._publish_version

    def publish_after_both_staged(self: VersionedStore, staged: str, uri: str, digest: str) -> None:
        both_staged.wait()  # each writer has read the log and staged its file
        real_publish(self, staged, uri, digest)

    monkeypatch.setattr(VersionedStore, "_publish_version", publish_after_both_staged)
    outcomes: dict[str, object] = {}

    def writer(tag: str, rows: int, delay: float) -> None:
        store = VersionedStore(lake_uri)
        original = store.fs.create_exclusive

        def delayed(uri: str, data: bytes) -> bool:
            time.sleep(delay)
            return original(uri, data)

        store.fs.create_exclusive = delayed  # type: ignore[method-assign]
        try:
            outcomes[tag] = store.write(
                "validated", "acme", "orders", "2024-01-03", _orders(rows, tag), run_id=tag
            )
        except Exception as exc:  # noqa: BLE001 - the outcome is asserted below
            outcomes[tag] = exc

    threads = [threading.Thread(target=writer, args=a) for a in (("fast", 4, 0.0), ("slow", 7, 1.0))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    winner, loser = outcomes["fast"], outcomes["slow"]
    assert not isinstance(winner, Exception), winner
    assert isinstance(loser, CommitConflictError), loser
    message = str(loser)
    assert "validated/acme/orders [2024-01-03]" in message and winner.content_hash in message
    current = base.current("validated", "acme", "orders", "2024-01-03")
    assert current.content_hash == winner.content_hash and current.run_id == "fast"
    view = base.view_path("validated", "acme", "orders", "2024-01-03")
    assert base.fs.sha256(view) == winner.content_hash
    loaded = lake_api.Lake(base.lake_uri).load("acme/validated_orders", partition="2024-01-03")
    assert sorted(loaded["order_id"]) == sorted(f"fast{i}" for i in range(4))
    assert [v.run_id for v in base.versions("validated", "acme", "orders", "2024-01-03")] == [None, "fast"]


def test_views_settle_on_the_last_commit_when_view_writes_interleave(lake_uri: str) -> None:
    """A writer whose view copy lands after a later commit's (a slow upload) puts the head back."""
    store = VersionedStore(lake_uri)
    first = store.write("features", "acme", "summary", "2024-01-04", _orders(2, "one"))
    second = store.write("features", "acme", "summary", "2024-01-04", _orders(3, "two"))
    # the first writer's late view copy overwrites the second's, then it re-checks the log
    with store.fs.staged_file() as staged:
        pq.write_table(_orders(2, "one"), staged)
        store.fs.replace_with_copy(staged, first.published_path)
    store._settle_view("features", "acme", "summary", "2024-01-04", first.content_hash)
    assert store.fs.sha256(second.published_path) == second.content_hash


def test_damaged_bytes_are_refused_with_the_path_and_both_hashes(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    version = store.write("validated", "acme", "orders", "2024-01-05", _orders(50, "x"))
    original = store.fs.read_bytes(version.path)
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    _overwrite(store.fs, version.path, bytes(flipped))
    lake = lake_api.Lake(store.lake_uri)
    ref = DatasetRef(version.path, version.content_hash, version.row_count, "2024-01-05")
    for read in (
        lambda: lake.load("acme/validated_orders"),
        lambda: lake.load(version.path),
        lambda: ref.to_arrow(),
        lambda: ref.to_arrow_schema(),
        lambda: store.read_version(version),
    ):
        with pytest.raises(ContentHashMismatchError) as caught:
            read()
        assert version.path in str(caught.value) and version.content_hash in str(caught.value)
        assert caught.value.actual != version.content_hash and caught.value.actual in str(caught.value)
    report = fsck(store.lake_uri, repair=True)
    assert report.damaged and [p.kind for p in report.problems] == ["corrupt version"]
    # a replaced file (other valid Parquet) is refused the same way
    with store.fs.staged_file() as staged:
        pq.write_table(_orders(50, "evil"), staged)
        _overwrite(store.fs, version.path, Path(staged).read_bytes())
    with pytest.raises(ContentHashMismatchError):
        lake.load("acme/validated_orders", partition="2024-01-05")
    _overwrite(store.fs, version.path, original)
    assert len(lake.load("acme/validated_orders")) == 50 and not fsck(store.lake_uri).damaged


def test_fsck_repairs_a_view_changed_in_place_from_its_commit(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    version = store.write("features", "acme", "summary", "2024-01-06", _orders(4, "f"))
    version_bytes = store.fs.read_bytes(version.path)
    with store.fs.staged_file() as staged:
        pq.write_table(_orders(40, "tampered"), staged)
        _overwrite(store.fs, version.published_path, Path(staged).read_bytes())
    assert store.fs.read_bytes(version.path) == version_bytes  # the version is a separate file
    report = fsck(store.lake_uri)
    assert report.damaged and [(p.kind, p.uri) for p in report.problems] == [
        ("stale view", version.published_path)
    ]
    repaired = fsck(store.lake_uri, repair=True)
    assert not repaired.damaged and repaired.problems[0].repaired
    assert store.fs.sha256(version.published_path) == version.content_hash
    assert not fsck(store.lake_uri).problems


def test_time_travel_and_history_come_from_the_commit_log(lake_uri: str) -> None:
    store = VersionedStore(lake_uri)
    first = store.write("validated", "acme", "orders", "2024-01-07", _orders(1, "v1"))
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    second = store.write("validated", "acme", "orders", "2024-01-07", _orders(2, "v2"))
    store.write("validated", "acme", "orders", "2024-01-08", _orders(3, "later"))
    lake = lake_api.Lake(store.lake_uri)
    then = lake.load("acme/validated_orders", as_of=between)
    assert then["order_id"].tolist() == ["v10"]  # the other partition did not exist yet
    assert len(lake.load("acme/validated_orders", as_of=between.isoformat())) == 1
    now = lake.load("acme/validated_orders")
    assert sorted(now["order_id"]) == sorted(["v20", "v21", "later0", "later1", "later2"])
    lake.pin(first.path, "audit 2024")
    history = lake.history("acme/validated_orders", partition="2024-01-07")
    assert [(e.seq, e.action, e.target_hash) for e in history] == [
        (1, "commit", first.content_hash),
        (2, "commit", second.content_hash),
        (3, "pin", first.content_hash),
    ]
    assert history[2].reason == "audit 2024" and history[2].by
    with pytest.raises(lake_api.LakeLookupError, match="no committed version"):
        lake.load("acme/validated_orders", as_of=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
