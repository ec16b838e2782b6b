"""A failed blocking check keeps features off the bad partition: in the same run (Dagster's blocking
checks) and in later runs (the gate reads the recorded failure), until the partition is re-validated."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from retina_assets.defs.revalidate import revalidate
from retina_assets.demo import SAMPLE, write_drops
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.quality import (
    check_results,
    edit_spec,
    materialize,
    orders_quality,
    run_job,
    spec_env,
)
from retina_assets_tests.support.runs import materializations

DAY = "2010-12-01"  # 54 of 3,108 lines quarantined (1.7%)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    env = spec_env(tmp_path, monkeypatch)
    write_drops(env.landing, source=SAMPLE, days=1)
    return env


def _strict(threshold: float):
    return lambda d: orders_quality(d).update(
        max_reject_fraction={"severity": "error", "threshold": threshold}
    )


def test_blocking_failure_stops_features_in_the_run_and_in_later_runs(
    env: LakeEnv, instance: dg.DagsterInstance
) -> None:
    edit_spec(env, _strict(0.01))
    result = run_job(env, instance, DAY)
    assert not result.success
    meta = materializations(result)
    # the validated and rejected versions are written and recorded (nothing lost) ...
    assert {"demo/raw_orders", "demo/validated_orders", "demo/rejected_orders"} <= set(meta)
    assert meta["demo/validated_orders"]["failed_blocking_checks"] == ["reject_fraction"]
    assert not check_results(result)["reject_fraction"].passed
    # ... but the feature is not built in this run
    assert "demo/order_summary" not in meta
    feature_dir = env.lake / "features" / "demo" / "order_summary"
    assert not feature_dir.exists()

    # a later run asking for the feature alone refuses to build on the blocked partition
    later = materialize(env, instance, DAY, "demo/order_summary")
    assert not later.success
    [failure] = [e for e in later.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.to_string()
    assert "failed blocking quality check(s) ['reject_fraction']" in message
    assert "retina_assets.defs.revalidate" in message
    assert not feature_dir.exists()

    # the client's threshold is relaxed; re-validating releases the partition and the feature builds
    edit_spec(env, _strict(0.05))
    outcome = revalidate("demo", "orders", DAY, instance, env.settings)
    assert outcome.success and outcome.failed_blocking == []
    # same rows, same bytes: dedupe keeps the version, but the new materialization records the pass
    assert outcome.validated_after == outcome.validated_before
    built = materialize(env, instance, DAY, "demo/order_summary")
    assert built.success
    assert (feature_dir / f"as_of_date={DAY}" / "part-0.parquet").exists()


def test_warning_checks_do_not_block(env: LakeEnv, instance: dg.DagsterInstance) -> None:
    edit_spec(
        env, lambda d: orders_quality(d).update(max_reject_fraction={"severity": "warn", "threshold": 0.01})
    )
    result = run_job(env, instance, DAY)
    assert result.success
    assert not check_results(result)["reject_fraction"].passed
    meta = materializations(result)
    assert meta["demo/validated_orders"]["failed_blocking_checks"] == []
    assert "demo/order_summary" in meta


def test_feature_automation_waits_for_blocking_checks(env: LakeEnv, instance: dg.DagsterInstance) -> None:
    """``eager() & all_deps_blocking_checks_passed()`` on the feature: a failed upstream check is no trigger."""
    from retina_assets.definitions import build_definitions

    # one partition only, so DAY is the latest time partition (eager() looks only at the latest)
    edit_spec(env, lambda d: d.update(end_date="2010-12-02"))
    edit_spec(env, _strict(0.01))
    summary = dg.AssetKey(["demo", "order_summary"])

    def evaluate(cursor=None):  # type: ignore[no-untyped-def]
        return dg.evaluate_automation_conditions(
            defs=build_definitions(env.settings),
            instance=instance,
            asset_selection=dg.AssetSelection.assets(summary),
            cursor=cursor,
        )

    first = evaluate()
    assert first.total_requested == 0  # nothing upstream yet
    result = materialize(
        env, instance, DAY, "demo/raw_orders", "demo/validated_orders", "demo/rejected_orders"
    )
    assert not result.success  # reject_fraction (blocking) failed
    blocked = evaluate(first.cursor)
    assert blocked.total_requested == 0

    edit_spec(env, _strict(0.05))
    assert revalidate("demo", "orders", DAY, instance, env.settings).failed_blocking == []
    released = evaluate(blocked.cursor)
    assert released.get_requested_partitions(summary) == {DAY}
