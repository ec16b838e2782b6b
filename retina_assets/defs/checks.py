"""The quality checks as Dagster asset checks: declared on the validated asset, reported per partition.

Each check of :mod:`retina_assets.quality.checks` is declared on the validated asset itself
(``check_specs``), so it runs per partition and shows in the UI beside the materialization; ``error`` checks
are blocking. The freshness policy of each raw asset comes from the same ``freshness`` policy.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import dagster as dg

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
