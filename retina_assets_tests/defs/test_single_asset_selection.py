"""Either output of the validation step can be selected alone (CLI ``--select``, the UI's Materialize): the
step still validates into both, so no quarantined row is lost and the pair stays consistent."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from retina_assets.model.naming import REJECTED, VALIDATED
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.quality import edit_spec, materialize, orders_quality, spec_env
from retina_assets_tests.support.runs import materializations

DAY = "2010-12-01"


@pytest.fixture
def landed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance):
    from retina_assets.demo import SAMPLE, write_drops

    env = spec_env(tmp_path, monkeypatch)
    write_drops(env.landing, source=SAMPLE, days=1)
    assert materialize(env, instance, DAY, "demo/raw_orders").success
    return env


@pytest.mark.parametrize(
    ("selected", "other"), [("validated_orders", "rejected"), ("rejected_orders", "validated")]
)
def test_one_output_selected_writes_and_records_both(
    landed, instance: dg.DagsterInstance, selected: str, other: str
) -> None:
    result = materialize(landed, instance, DAY, f"demo/{selected}")
    assert result.success
    meta = materializations(result)
    assert set(meta) == {"demo/validated_orders", "demo/rejected_orders"}
    store = VersionedStore(str(landed.lake))
    for zone in (VALIDATED, REJECTED):
        current = store.current(zone, "demo", "orders", DAY)
        assert current is not None
        assert meta[f"demo/{zone}_orders"]["path"] == current.path
        assert meta[f"demo/{zone}_orders"]["row_count"] == current.row_count
    raw_rows = meta["demo/validated_orders"]["raw_rows"]
    assert meta["demo/validated_orders"]["row_count"] + meta["demo/rejected_orders"]["row_count"] == raw_rows
    assert meta["demo/rejected_orders"]["row_count"] > 0  # the demo day has quarantined rows
    # the one not selected is recorded on the instance too (the IO manager loads from there)
    latest = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["demo", f"{other}_orders"]), asset_partitions=[DAY]),
        limit=1,
    ).records
    assert latest and latest[0].run_id == result.run_id


def test_checks_run_with_the_validated_asset_and_the_feature_builds_on_it(
    landed, instance: dg.DagsterInstance
) -> None:
    result = materialize(landed, instance, DAY, "demo/validated_orders")
    assert {e.check_name for e in result.get_asset_check_evaluations()} >= {"reconciliation", "key_unique"}
    feature = materialize(landed, instance, DAY, "demo/order_summary")
    assert feature.success


def test_a_blocked_partition_selected_through_rejected_still_blocks_the_feature(
    landed, instance: dg.DagsterInstance
) -> None:
    """Selecting only ``rejected`` after a stricter rule change records the validated version's failed
    blocking checks too, so the feature refuses to build on it."""
    edit_spec(
        landed,
        lambda data: orders_quality(data).update(max_reject_fraction={"severity": "error", "threshold": 0.0}),
    )
    assert materialize(landed, instance, DAY, "demo/rejected_orders").success
    feature = materialize(landed, instance, DAY, "demo/order_summary")
    assert not feature.success
    failure = next(e for e in feature.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "failed blocking quality check(s) ['reject_fraction']" in str(failure.event_specific_data.error)
