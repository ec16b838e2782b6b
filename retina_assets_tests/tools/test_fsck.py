"""fsck on multi-part versions, on local disk, S3 (moto server) and Azure (Azurite): every part is hashed, a
missing, damaged or extra part is reported, a current view of several files is checked file by file and
repaired from its commit, and stale staging areas are reported and removed by ``--repair``."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from retina_assets.fsck import fsck
from retina_assets.storage import paths
from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.versioned_store import VersionedStore, stage_part
from retina_assets_tests.support.backends import BACKENDS, backend_root
from retina_assets_tests.support.multipart import CLIENT, DATASET, PARTITION, SCHEMA, ZONE, rows, write_parts

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> VersionedStore:
    return VersionedStore(backend_root(request, backend, tmp_path, "lake"))


def _put(fs: LakeFileSystem, uri: str, data: bytes) -> None:
    """Write ``data`` at ``uri`` behind the lake's back (local files may be read-only: lift that first)."""
    if fs.is_local:
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        if Path(uri).exists():
            Path(uri).chmod(0o644)
        Path(uri).write_bytes(data)
    else:
        fs.fs.pipe_file(fs._strip(uri), data)
        fs.fs.invalidate_cache()


def _parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _kinds(report) -> list[tuple[str, str]]:
    return sorted((p.kind, p.uri.rsplit("/", 1)[-1]) for p in report.problems)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_part_is_checked(store: VersionedStore) -> None:
    old = write_parts(store, [rows(0, 3), rows(3, 3)])
    head = write_parts(store, [rows(0, 4), rows(4, 4), rows(8, 4)])
    clean = fsck(store.lake_uri)
    assert clean.problems == [] and clean.versions_checked == 2 and clean.views_checked == 1

    fs = store.fs
    damaged = paths.join(old.path, old.parts[1]["name"])
    _put(fs, damaged, _parquet(rows(3, 4)))
    extra = paths.join(old.path, "part-00002-" + "a" * 64 + ".parquet")
    _put(fs, extra, _parquet(rows(0, 1)))
    missing = paths.join(head.path, head.parts[2]["name"])
    fs.delete(missing)
    report = fsck(store.lake_uri, repair=True)
    assert _kinds(report) == sorted(
        [
            ("corrupt part", old.parts[1]["name"]),
            ("extra part", extra.rsplit("/", 1)[-1]),
            ("missing part", head.parts[2]["name"]),
        ]
    ), report.summary()
    assert report.damaged and not any(p.repaired for p in report.problems)
    assert fs.exists(extra)  # reported, never deleted
    assert "2 versions and 1 current views checked, 3 problems" in report.summary()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_multipart_view_is_checked_file_by_file_and_repaired_from_its_commit(store: VersionedStore) -> None:
    write_parts(store, [rows(0, 2)])
    head = write_parts(store, [rows(0, 4), rows(4, 4), rows(8, 4)])
    fs = store.fs
    view = list(store.view_files(head))
    view_dir = view[0].rsplit("/", 1)[0]
    _put(fs, view[1], _parquet(rows(50, 2)))  # changed by hand
    fs.delete(view[2])  # a writer killed while replacing the view
    _put(fs, paths.join(view_dir, "part-3.parquet"), _parquet(rows(90, 2)))  # left by a bigger version

    report = fsck(store.lake_uri)
    [problem] = report.problems
    assert problem.kind == "stale view" and report.damaged
    for note in ("part-1.parquet has", "part-2.parquet is missing", "part-3.parquet is left"):
        assert note in problem.detail

    repaired = fsck(store.lake_uri, repair=True)
    assert [p.repaired for p in repaired.problems] == [True]
    assert fsck(store.lake_uri).problems == []
    fs.fs.invalidate_cache()
    assert [f.uri for f in fs.list_files(view_dir)] == view
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))
    root = fs._strip(paths.dataset_root(store.lake_uri, ZONE, CLIENT, DATASET)).split("://", 1)[-1]
    table = ds.dataset(root, filesystem=arrow_fs, partitioning="hive").to_table()
    assert table.drop_columns("as_of_date").sort_by("customer_id").equals(rows(0, 12))


@pytest.mark.parametrize("backend", BACKENDS)
def test_stale_staging_areas_are_reported_and_repair_removes_them(store: VersionedStore) -> None:
    write_parts(store, [rows(0, 2), rows(2, 2)])
    area = store.staging_area()
    stage_part(store.fs, area, 0, rows(0, 5).to_batches(), SCHEMA)
    assert fsck(store.lake_uri).problems == []  # a young area may belong to a writer still at work
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
    report = fsck(store.lake_uri, now=later)
    assert [(p.kind, p.uri, p.repaired) for p in report.problems] == [("stale staging", area, False)]
    assert store.fs.list_files(area)
    repaired = fsck(store.lake_uri, now=later, repair=True)
    assert [(p.kind, p.repaired) for p in repaired.problems] == [("stale staging", True)]
    assert not store.fs.list_files(area) and fsck(store.lake_uri, now=later).problems == []
    assert store.read_version(store.current(ZONE, CLIENT, DATASET, PARTITION)).num_rows == 4


def test_the_cli_exits_1_on_a_damaged_part(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path / "lake"))
    version = write_parts(store, [rows(0, 2), rows(2, 2)])
    cmd = [sys.executable, "-m", "retina_assets.fsck", "--lake", store.lake_uri]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "ok: 1 versions" in ok.stdout, ok.stdout + ok.stderr
    store.fs.delete(paths.join(version.path, version.parts[0]["name"]))
    bad = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 1 and "[missing part]" in bad.stdout, bad.stdout + bad.stderr
