"""The Dagster layer over the committed lake: a downstream run refuses a tampered upstream version (path and
both hashes), the run queue holds a second run of one client back, and the retention job runs."""

from __future__ import annotations

import tempfile
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._utils.tags import TagConcurrencyLimitsCounter

from retina_assets.definitions import build_definitions
from retina_assets.defs.partitions import CLIENT_LOCK_TAG
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import run_partition

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = "2010-12-01"


def test_a_run_refuses_a_tampered_upstream_version(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    meta = run_partition(lake_env, instance, DAY)
    valid = Path(meta["demo/validated_orders"]["path"])
    assert not valid.stat().st_mode & 0o222  # versions are read-only
    valid.chmod(0o644)
    data = bytearray(valid.read_bytes())
    data[len(data) // 2] ^= 0xFF
    valid.write_bytes(bytes(data))
    defs = build_definitions(lake_env.settings)
    result = defs.resolve_job_def("demo_ingest").execute_in_process(
        partition_key=DAY,
        instance=instance,
        asset_selection=[dg.AssetKey(["demo", "order_summary"])],
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = str(failure.event_specific_data.error.to_string())
    assert "ContentHashMismatchError" in message and str(valid) in message
    assert meta["demo/validated_orders"]["content_hash"] in message


def test_the_queue_runs_one_run_per_client_at_a_time(lake_env: LakeEnv) -> None:
    limits = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]["runs"]
    job = build_definitions(lake_env.settings).resolve_job_def("demo_ingest")
    tags = {**job.tags, "dagster/partition": DAY}
    assert tags[CLIENT_LOCK_TAG] == "demo"
    running = dg.DagsterRun(job_name="demo_ingest", run_id="a" * 8, tags=tags)
    counter = TagConcurrencyLimitsCounter(limits["tag_concurrency_limits"], [running])
    same = dg.DagsterRun(job_name="demo_ingest", run_id="b" * 8, tags=tags)
    other_day = dg.DagsterRun(
        job_name="demo_ingest",
        run_id="c" * 8,
        tags={**job.tags, "dagster/partition": "2010-12-02"},
    )
    other_client = dg.DagsterRun(job_name="shop_ingest", run_id="d" * 8, tags={CLIENT_LOCK_TAG: "shop"})
    # another day of the same client waits too: a ranged run of that client could cover both days
    assert counter.is_blocked(same) and counter.is_blocked(other_day)
    assert not counter.is_blocked(other_client)


def test_the_retention_job_runs_without_deleting_unpoliced_versions(
    lake_env: LakeEnv,
    demo_drops: list[Path],
    instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # sweep only this test's temp folder
    meta = run_partition(lake_env, instance, DAY)
    defs = build_definitions(lake_env.settings)
    assert defs.resolve_schedule_def("retention_schedule").default_status == dg.DefaultScheduleStatus.RUNNING
    result = defs.resolve_job_def("retention").execute_in_process(
        instance=instance, run_config={"ops": {"apply_retention": {"config": {"grace_hours": 0}}}}
    )
    assert result.success
    assert all(Path(m["path"]).exists() for m in meta.values())  # the demo spec sets no keep_last
