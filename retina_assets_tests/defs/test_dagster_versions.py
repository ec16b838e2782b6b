"""Dagster's versions tell the truth, as the instance reports them (CachingStaleStatusResolver, what the UI
shows): identical re-runs leave everything fresh, a rule change in one client's YAML marks exactly that
client's validated/rejected partitions stale, a corrected drop marks its raw partition stale until rebuilt;
and a recorded version can be rebuilt into the lake by the retina_rebuild_version job."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.definitions.observe import observe  # not exported by dagster 1.13
from dagster._core.loader import LoadingContextForTest

from retina_assets.definitions import build_definitions
from retina_assets.settings import LakeSettings
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.landing import settled
from retina_assets_tests.support.runs import materializations

DAYS = ("2010-12-01", "2010-12-02")
LANDING = dg.AssetKey(["demo", "landing_orders"])
RAW, VALID, REJECTED, SUMMARY = (
    dg.AssetKey(["demo", n]) for n in ("raw_orders", "validated_orders", "rejected_orders", "order_summary")
)
OTHER = dg.AssetKey(["cdnow", "validated_purchases"])


def status(
    defs: dg.Definitions, instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> StaleStatus:
    resolver = CachingStaleStatusResolver(
        instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    return resolver.get_status(key, partition)


def observe_landing(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    source = next(a for a in defs.assets if isinstance(a, dg.SourceAsset) and a.key == LANDING)  # type: ignore[union-attr]
    assert observe([source], instance=instance, resources=defs.resources).success


def ingest(defs: dg.Definitions, instance: dg.DagsterInstance, day: str) -> dict[str, dict]:
    result = defs.resolve_job_def("demo_ingest").execute_in_process(partition_key=day, instance=instance)
    assert result.success
    return materializations(result)


def test_staleness_after_identical_reruns_spec_changes_and_corrected_drops(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    defs = build_definitions(lake_env.settings)
    observe_landing(defs, instance)
    observation = (
        instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=LANDING, asset_partitions=[DAYS[0]]), limit=1
        )
        .records[0]
        .asset_observation
    )
    assert observation.metadata["drops"].value[0]["name"] == demo_drops[0].name
    assert len(observation.metadata["drops"].value[0]["sha256"]) == 64
    first = {day: ingest(defs, instance, day) for day in DAYS}
    keys = (RAW, VALID, REJECTED, SUMMARY)
    assert {status(defs, instance, k, d) for k in keys for d in DAYS} == {StaleStatus.FRESH}

    # an identical re-run (deduplicated) changes no data version: everything stays fresh
    again = ingest(defs, instance, DAYS[0])
    assert again["demo/raw_orders"]["deduplicated"] and again["demo/order_summary"]["deduplicated"]
    observe_landing(defs, instance)
    assert {status(defs, instance, k, d) for k in keys for d in DAYS} == {StaleStatus.FRESH}

    # a rule change in the demo client's YAML: its validated and rejected partitions are stale (code version)
    clients = tmp_path / "clients"
    shutil.copytree(lake_env.clients_dir, clients)
    demo = clients / "demo.yaml"
    demo.write_text(demo.read_text().replace("reject_zero_price: true", "reject_zero_price: false"))
    changed = build_definitions(LakeSettings(str(lake_env.lake), str(lake_env.landing), str(clients)))
    resolver = CachingStaleStatusResolver(
        instance, changed.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    for day in DAYS:
        assert resolver.get_status(VALID, day) == StaleStatus.STALE
        assert resolver.get_status(REJECTED, day) == StaleStatus.STALE
        assert [c.reason for c in resolver.get_stale_causes(VALID, day)] == ["has a new code version"]
        assert resolver.get_status(RAW, day) == StaleStatus.FRESH
        assert resolver.get_status(SUMMARY, day) == StaleStatus.FRESH
    assert status(defs, instance, VALID, DAYS[0]) == StaleStatus.FRESH  # unchanged spec: still fresh

    # a corrected drop: its raw partition is stale once the landing is observed, the other day is not
    demo_drops[1].write_bytes(demo_drops[1].read_bytes().replace(b"United Kingdom", b"United Kingdon", 1))
    settled(demo_drops[1])  # a finished upload (a run refuses a drop still in its quiet period)
    observe_landing(defs, instance)
    assert status(defs, instance, RAW, DAYS[1]) == StaleStatus.STALE
    assert status(defs, instance, RAW, DAYS[0]) == StaleStatus.FRESH
    rebuilt = ingest(defs, instance, DAYS[1])
    assert rebuilt["demo/raw_orders"]["content_hash"] != first[DAYS[1]]["demo/raw_orders"]["content_hash"]
    assert {status(defs, instance, k, DAYS[1]) for k in keys} == {StaleStatus.FRESH}
    assert status(defs, instance, OTHER, "1997-01-02") == StaleStatus.MISSING


def test_rebuild_job_restores_a_recorded_version(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    defs = build_definitions(lake_env.settings)
    good = ingest(defs, instance, DAYS[0])["demo/validated_orders"]
    # a bad rule change makes a new current version
    clients = tmp_path / "clients"
    shutil.copytree(lake_env.clients_dir, clients)
    demo = clients / "demo.yaml"
    demo.write_text(demo.read_text().replace("reject_zero_price: true", "reject_zero_price: false"))
    bad_defs = build_definitions(LakeSettings(str(lake_env.lake), str(lake_env.landing), str(clients)))
    bad = ingest(bad_defs, instance, DAYS[0])["demo/validated_orders"]
    assert bad["content_hash"] != good["content_hash"]
    store = VersionedStore(str(lake_env.lake))
    assert store.current("validated", "demo", "orders", DAYS[0]).content_hash == bad["content_hash"]
    # the landing file is gone meanwhile: the rebuild uses the recorded inputs only
    demo_drops[0].unlink()
    result = defs.resolve_job_def("retina_rebuild_version").execute_in_process(
        run_config={"ops": {"rebuild_version": {"config": {"path": good["path"]}}}}, instance=instance
    )
    assert result.success
    meta = materializations(result)
    restored = meta["demo/validated_orders"]
    assert restored["path"] == good["path"] and restored["matches_recorded"] is True
    assert restored["provenance"]["rebuilt_from"] == good["path"]
    assert "demo/rejected_orders" in meta  # rebuilt with its pair
    assert store.current("validated", "demo", "orders", DAYS[0]).content_hash == good["content_hash"]
    event = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=VALID, asset_partitions=[DAYS[0]]), limit=1
    ).records[0]
    assert event.asset_materialization.tags["dagster/data_version"] == good["content_hash"]
    # the feature sees the restored version as a new upstream data version
    assert status(defs, instance, SUMMARY, DAYS[0]) == StaleStatus.STALE
