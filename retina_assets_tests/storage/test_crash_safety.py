"""A writer killed (SIGKILL) at every step of a write leaves no visible half file and no current pointer to
missing data; hive readers and the lake API agree once fsck repaired a view left behind its commit; the
leftovers go with retention after the grace period. On local disk, S3 (moto server) and Azure (Azurite)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from retina_assets import lake as lake_api
from retina_assets.fsck import fsck
from retina_assets.retention import apply_retention, plan_retention
from retina_assets.storage import paths
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.backends import BACKENDS, backend_root

REPO_ROOT = Path(__file__).resolve().parents[2]

# (where the writer dies, "before"/"after" the call) - every step of VersionedStore.write in order
STEPS = [
    ("retina_assets.storage.versioned_store:prefetch", "during"),  # half-written staging file
    ("retina_assets.storage.versioned_store:sha256_file", "after"),  # staged, not published
    ("retina_assets.storage.filesystem:LakeFileSystem.publish_file", "after"),  # published, uncommitted
    ("retina_assets.storage.filesystem:LakeFileSystem.create_exclusive", "before"),
    ("retina_assets.storage.filesystem:LakeFileSystem.create_exclusive", "after"),  # committed, old view
    ("retina_assets.storage.filesystem:shutil.copyfile", "after"),  # view copy staged beside the view
    ("retina_assets.storage.filesystem:LakeFileSystem.replace_with_copy", "after"),  # view replaced
]

WRITER = textwrap.dedent(
    """
    import importlib, os, signal, sys
    import pyarrow as pa
    from retina_assets.storage.versioned_store import VersionedStore

    lake, target, when = sys.argv[1], sys.argv[2], sys.argv[3]
    module_name, attr = target.split(":")
    owner = importlib.import_module(module_name)
    *path, name = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    real = getattr(owner, name)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def hooked(*args, **kwargs):
        if when == "before":
            die()
        if when == "during":
            def half():
                for i, batch in enumerate(real(*args, **kwargs)):
                    if i == 1:
                        die()
                    yield batch
            return half()
        result = real(*args, **kwargs)
        die()
        return result

    setattr(owner, name, hooked)
    schema = pa.schema([("order_id", pa.string()), ("quantity", pa.int64())])
    batches = [pa.record_batch([pa.array([f"new{i}" for i in range(k, k + 10)]), pa.array(range(10))],
               schema=schema) for k in range(0, 50, 10)]
    VersionedStore(lake).write("raw", "acme", "orders", "2024-02-01", iter(batches), schema=schema)
    print("not killed")
    """
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_at_every_step_of_a_write(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # the writer's local staging (object stores) lands here
    for index, (target, when) in enumerate(STEPS):
        if backend != "local" and "shutil" in target:
            continue  # object stores publish the view in one upload
        # a fresh lake per step (on object stores too, where no local folder counts the steps)
        lake_uri = backend_root(request, backend, tmp_path, f"lake-{index}")
        store = VersionedStore(lake_uri)
        old = store.write(
            "raw", "acme", "orders", "2024-02-01", pa.table({"order_id": ["old"], "quantity": [1]})
        )
        done = subprocess.run(
            [sys.executable, "-c", WRITER, lake_uri, target, when],
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        step = f"{target} {when}"
        assert done.returncode == -9, f"{step}: {done.stdout}{done.stderr}"
        root = paths.dataset_root(lake_uri, "raw", "acme", "orders")
        fs = store.fs
        # no half file is visible: the view folder holds only the view file (hidden staging aside)
        visible = [f.uri.rsplit("/", 1)[-1] for f in fs.list_files(root, recursive=True)]
        assert visible == ["part-0.parquet"], step
        current = store.current("raw", "acme", "orders", "2024-02-01")
        assert current is not None and fs.sha256(current.path) == current.content_hash, step
        api_rows = lake_api.Lake(store.lake_uri).load("acme/raw_orders")["order_id"].tolist()
        assert api_rows in (["old"], [f"new{i}" for i in range(50)]), step
        if current.content_hash == old.content_hash:
            assert api_rows == ["old"], step
        # the view is the committed version, or (killed between commit and view) repaired from it
        report = fsck(store.lake_uri, repair=True)
        assert all(p.repaired for p in report.problems), (step, report.summary())
        fs.fs.invalidate_cache()  # fsck replaced the view through another client: forget cached ETags
        arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))
        hive = ds.dataset(fs._strip(root).split("://", 1)[-1], filesystem=arrow_fs, partitioning="hive")
        assert hive.to_table().column("order_id").to_pylist() == api_rows, step
        # leftovers of the killed writer go once the grace period is over, nothing committed does
        later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=25)
        plan = apply_retention(store, plan_retention(store, [], now=later, local_temp_dir=str(temp)))
        assert {r.kind for r in plan.removals} <= {"staging", "uncommitted"}, step
        assert not fsck(store.lake_uri).problems, step
        if fs.is_local:
            assert not os.listdir(Path(lake_uri) / ".tmp"), step
        assert not [n for n in os.listdir(temp) if n.startswith("retina-") and n != "retina-staging"], step
        assert lake_api.Lake(store.lake_uri).load("acme/raw_orders")["order_id"].tolist() == api_rows, step
