"""The quality checks are plain data: evaluated from a validation outcome and the partition's context, with
the client's severities, without Dagster."""

from __future__ import annotations

from retina_assets.catalog import load_client
from retina_assets.quality.checks import CheckContext, OutcomeSummary, evaluate_checks, failed_blocking
from retina_assets.settings import REPO_ROOT

SPEC = load_client(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]


def summary(raw: int, valid: int, rejected: int) -> OutcomeSummary:
    return OutcomeSummary(
        raw_rows=raw,
        validated_rows=valid,
        rejected_rows=rejected,
        rule_counts={"zero_price": rejected} if rejected else {},
        schema_errors=[],
        dropped_columns=[],
        null_counts={"customer_id": 0},
        key_duplicates=0,
        foreign_keys={},
    )


def test_results_carry_the_clients_severity_and_blocking_failures() -> None:
    ctx = CheckContext("2011-01-10", previous_row_counts=[1000, 1200, 1100], previous_partition="2011-01-02")
    results = {r.name: r for r in evaluate_checks(SPEC, summary(100, 80, 20), ctx)}
    assert results["reconciliation"].passed and results["reconciliation"].blocking
    assert not results["reject_fraction"].passed  # 20% > the demo's 10%
    assert results["reject_fraction"].metadata["threshold"] == 0.10
    assert not results["volume"].passed and not results["volume"].blocking  # warn only
    assert results["volume"].metadata["median_previous"] == 1100.0
    assert not results["freshness"].passed and results["freshness"].metadata["days_since_previous_drop"] == 8
    assert failed_blocking(list(results.values())) == ["reject_fraction"]


def test_a_partition_that_does_not_reconcile_fails_a_blocking_check() -> None:
    results = evaluate_checks(SPEC, summary(100, 80, 19), CheckContext("2011-01-10"))
    assert "reconciliation" in failed_blocking(results)
