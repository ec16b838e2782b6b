"""The quality checks as Dagster asset checks: declared on the validated asset, reported per partition.

Each check of :mod:`retina_assets.quality.checks` is declared on the validated asset itself
(``check_specs``), so it runs per partition and shows in the UI beside the materialization; ``error`` checks
are blocking. The freshness policy of each raw asset comes from the same ``freshness`` policy.

In a ranged run Dagster 1.13 cannot attach a yielded ``AssetCheckResult`` to one day: it records the
result without a partition (the step has no single partition key) against the asset's latest
materialization, and a failed blocking result fails the whole step, so no day of the range would get its
feature. :func:`report_partition_checks` therefore logs each day's results as ``AssetCheckEvaluation``
events carrying the day and that day's materialization, the same record a single-day run leaves. A failed
blocking check then does not fail the step; the gate keeps the feature off that day
(:mod:`retina_assets.defs.gate`).
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

# not exported by dagster 1.13 (pinned; covered by the ranged-run tests): where a logged evaluation points
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from retina_assets.defs.instance import latest_materialization_record
from retina_assets.defs.metadata import to_metadata
from retina_assets.model.spec import DatasetSpec
from retina_assets.quality.checks import DESCRIPTIONS, CheckResult, enabled_checks, policy


def check_specs(
    asset_key: dg.AssetKey,
    spec: DatasetSpec,
    has_references: bool,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> list[dg.AssetCheckSpec]:
    """The checks declared on a validated asset; ``error`` checks are blocking.

    With ``partitions_def`` (the asset's), each evaluation is recorded for its partition, so the UI and
    the instance show the check's status per ``as_of_date``, not only for the latest run.
    """
    specs = []
    for name in enabled_checks(spec, has_references):
        pol = policy(spec, name)
        threshold = f" (threshold {pol.threshold:g})" if pol.threshold is not None else ""
        with warnings.catch_warnings():
            # partitioned checks are a Dagster preview (1.13); pinned dagster version, covered by tests
            warnings.simplefilter("ignore", dg.PreviewWarning)
            specs.append(
                dg.AssetCheckSpec(
                    name=name,
                    asset=asset_key,
                    description=f"{DESCRIPTIONS[name]}{threshold}; severity {pol.severity}",
                    blocking=pol.severity == "error",
                    partitions_def=partitions_def,
                )
            )
    return specs


def asset_check_result(asset_key: dg.AssetKey, result: CheckResult) -> dg.AssetCheckResult:
    """One evaluated check as the asset check result Dagster records."""
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=result.name,
        passed=result.passed,
        severity=dg.AssetCheckSeverity.ERROR if result.blocking else dg.AssetCheckSeverity.WARN,
        metadata=to_metadata(result.metadata),
    )


def report_partition_checks(
    context: dg.AssetExecutionContext, asset_key: dg.AssetKey, results: dict[str, list[CheckResult]]
) -> None:
    """Record each day's check results (day -> results) of a ranged run as per-day check evaluations of
    ``asset_key`` (the selected checks only), each pointing at that day's latest materialization."""
    selected = context.selected_asset_check_keys
    for partition, day_results in results.items():
        record = latest_materialization_record(context.instance, asset_key, partition)
        target = (
            AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
            )
            if record is not None
            else None
        )
        for result in day_results:
            if dg.AssetCheckKey(asset_key, result.name) not in selected:
                continue
            evaluation = asset_check_result(asset_key, result)
            context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=asset_key,
                    check_name=result.name,
                    passed=result.passed,
                    metadata=evaluation.metadata,
                    target_materialization_data=target,
                    severity=evaluation.severity,
                    blocking=result.blocking,
                    partition=partition,
                )
            )


def drop_freshness_policy(spec: DatasetSpec) -> dg.FreshnessPolicy | None:
    """The Dagster freshness policy of a dataset's raw asset, from the same ``freshness`` policy as the check.

    The ``freshness`` check compares a partition with the previous one, so it only runs when a drop comes; the
    policy covers the drop that never comes: the daemon marks the raw asset *warn* when nothing was landed
    for ``threshold`` days (default 3) and *fail* one day later, and the UI shows it. ``None`` when the
    client switched the check off.
    """
    pol = policy(spec, "freshness")
    if pol.severity == "off":
        return None
    days = 3.0 if pol.threshold is None else float(pol.threshold)
    return dg.FreshnessPolicy.time_window(
        fail_window=timedelta(days=days + 1), warn_window=timedelta(days=days)
    )
