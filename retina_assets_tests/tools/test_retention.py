"""Retention on a lake with many versions, pins and lineage: the dry run lists exactly what the real run
deletes; current, pinned, young and lineage-needed versions stay; deleted versions leave tombstones.
On local disk, S3 (moto server) and Azure (Azurite); the CLI defaults to a dry run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from retina_assets import lake as lake_api
from retina_assets.fsck import fsck
from retina_assets.model.spec import ClientSpec, RetentionPolicy
from retina_assets.retention import apply_retention, plan_retention
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore
from retina_assets_tests.support.backends import BACKENDS, backend_root

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = "2024-03-01"


def _spec_text(retention: str) -> str:
    """The demo client's spec renamed ``acme``, with a ``retention:`` block."""
    demo = (REPO_ROOT / "clients" / "demo.yaml").read_text()
    return demo.replace("client: demo", "client: acme", 1) + f"\nretention: {retention}\n"


def _client(policy: RetentionPolicy) -> ClientSpec:
    spec = yaml.safe_load(_spec_text("{}"))
    return ClientSpec.model_validate({**spec, "retention": policy.model_dump()})


def _fill(store: VersionedStore) -> dict[str, list[DatasetVersion]]:
    """Six raw versions of one day; validated v1..v6 each built from the raw version of its run; a feature
    built from validated v2 only (so validated v2 and raw v2 are in its lineage)."""
    out: dict[str, list[DatasetVersion]] = {"raw": [], "validated": [], "features": []}
    for i in range(6):
        raw = store.write("raw", "acme", "orders", DAY, pa.table({"n": [i] * (i + 1)}))
        out["raw"].append(raw)
        valid = store.write("validated", "acme", "orders", DAY, pa.table({"n": [i]}), input_paths=[raw.path])
        out["validated"].append(valid)
    feature = store.write(
        "features", "acme", "summary", DAY, pa.table({"total": [1]}), input_paths=[out["validated"][1].path]
    )
    out["features"].append(feature)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_dry_run_then_real_run(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> None:
    store = VersionedStore(backend_root(request, backend, tmp_path, "lake"))
    made = _fill(store)
    lake = lake_api.Lake(store.lake_uri)
    lake.pin(made["raw"][0].path, "regulator asked for the first drop")
    lake.pin(made["validated"][3].path, "model v1")
    lake.unpin(made["validated"][3].path, "model v1 retired")
    client = _client(RetentionPolicy(keep_last=2, keep_days=0, zones={"rejected": {"keep_days": 365}}))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    # an empty temp folder of its own: the machine's temp folder holds other processes' live work folders
    # (``retina-*``), which a real run two days "later" would delete
    temp = str(tmp_path / "no-temp")

    # nothing younger than the grace period goes, whatever the policy
    assert [
        r for r in plan_retention(store, [client], local_temp_dir=temp).removals if r.kind == "version"
    ] == []
    plan = plan_retention(store, [client], now=later, local_temp_dir=temp)
    planned = sorted(r.uri for r in plan.removals if r.kind == "version")
    kept = {v.path for v in (made["raw"][0], made["raw"][1], made["validated"][1])}  # pinned, lineage
    kept |= {v.path for zone in ("raw", "validated") for v in made[zone][-2:]}  # the last 2 (with current)
    expected = sorted(v.path for zone in ("raw", "validated") for v in made[zone] if v.path not in kept)
    assert planned == expected and len(planned) == 5
    assert plan.num_bytes == sum(r.num_bytes for r in plan.removals) > 0
    assert all(store.fs.exists(p) for p in planned)  # a dry run deletes nothing

    done = apply_retention(store, plan)
    assert sorted(r.uri for r in done.removals if r.kind == "version") == planned
    assert not any(store.fs.exists(p) for p in planned)
    assert all(store.fs.exists(p) for p in kept)
    deleted = [v for v in lake.versions("acme/validated_orders") if v.deleted_at]
    assert {v.path for v in deleted} == {p for p in planned if "/validated/" in p}
    assert all("keep_last=2" in (v.deleted_reason or "") for v in deleted)
    history = lake.history("acme/raw_orders")
    assert [e.action for e in history].count("tombstone") == 2 and history[-1].by == "retention"
    # the data is intact: current views, lineage and a second run that has nothing left to do
    assert not fsck(store.lake_uri).damaged
    assert len(lake.load("acme/raw_orders")) == 6
    assert [
        r
        for r in plan_retention(store, [client], now=later, local_temp_dir=temp).removals
        if r.kind == "version"
    ] == []
    with pytest.raises(lake_api.LakeLookupError, match="was deleted at"):
        lake.load("acme/raw_orders", version=made["raw"][2].content_hash)


def test_without_a_policy_nothing_is_deleted_and_the_cli_defaults_to_a_dry_run(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path / "lake"))
    made = _fill(store)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    temp = tmp_path / "tmp"
    temp.mkdir()
    policy = [_client(RetentionPolicy())]
    assert plan_retention(store, policy, now=later, local_temp_dir=str(temp)).removals == []
    clients = tmp_path / "clients"
    clients.mkdir()
    (clients / "acme.yaml").write_text(_spec_text("{keep_last: 1}"))
    cmd = [
        sys.executable,
        "-m",
        "retina_assets.retention",
        "--lake",
        store.lake_uri,
        "--clients",
        str(clients),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TMPDIR": str(temp)}
    # every version is younger than the grace period: a grace of 0 hours lets the policy decide
    dry = subprocess.run([*cmd, "--grace-hours", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert "would free 8 files" in dry.stdout and "dry run" in dry.stdout
    assert all(Path(v.path).exists() for zone in ("raw", "validated") for v in made[zone])
    real = subprocess.run(
        [*cmd, "--grace-hours", "0", "--apply"], capture_output=True, text=True, env=env, timeout=120
    )
    assert real.returncode == 0 and "freed 8 files" in real.stdout, real.stdout + real.stderr
    assert [Path(v.path).exists() for v in made["raw"]] == [False, True, False, False, False, True]
