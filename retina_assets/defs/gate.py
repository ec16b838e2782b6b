"""Keeping features off data whose blocking quality checks failed, within a run and across runs.

Within one run Dagster does it: blocking (``severity: error``) checks on the validated asset stop the
downstream steps. Across runs it does not: the validated version is written and recorded even when a
check fails. So the validated asset records the names of its failed blocking checks on its
materialization (``failed_blocking_checks``), and every feature built on it calls
:func:`require_passed_checks` first. It reads the *same* materialization the IO manager will load (the
latest of that partition), so a feature never builds from a version whose blocking checks failed; after a
fix and a re-validation (``python -m retina_assets.defs.revalidate``) the new version passes and the
feature builds again.

For declarative automation, :func:`feature_automation_condition` combines ``eager()`` with
``all_deps_blocking_checks_passed()`` (``eager()`` alone would trigger on a failed upstream).

In a ranged run (a backfill run over several days) the check results are recorded per day without failing
the validation step (:func:`retina_assets.defs.checks.report_partition_checks`), so the feature step runs
and calls :func:`require_passed_checks` for each day: a blocked day gets no feature, the others do.
"""

from __future__ import annotations

import dagster as dg

from retina_assets.defs.instance import latest_metadata
from retina_assets.model.naming import DatasetName

FAILED_BLOCKING = "failed_blocking_checks"


def feature_automation_condition() -> dg.AutomationCondition:
    """Eager, but only when every upstream's blocking checks passed."""
    return dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


def failed_blocking_checks(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> list[str]:
    """Blocking checks that failed on the latest materialization of ``key``/``partition`` ([] if none)."""
    return list(latest_metadata(instance, key, partition).get(FAILED_BLOCKING) or [])


def require_passed_checks(
    context: dg.AssetExecutionContext, upstream: dg.AssetKey, partition: str | None = None
) -> None:
    """Raise :class:`dagster.Failure` if the upstream ``partition`` this step loads (default: the run's one
    partition; a ranged run passes each day) failed a blocking check."""
    partition = context.partition_key if partition is None else partition
    failed = failed_blocking_checks(context.instance, upstream, partition)
    if failed:
        name = DatasetName.parse(upstream.path)
        raise dg.Failure(
            f"{upstream.to_user_string()} [{partition}] failed blocking quality check(s) {failed}: not "
            "building on it. Fix the drop or the client's quality policy, then re-validate with "
            f"`python -m retina_assets.defs.revalidate --client {name.client} --dataset {name.dataset} "
            f"--partition {partition}`.",
            metadata={"failed_blocking_checks": dg.MetadataValue.json(failed)},
            allow_retries=False,
        )
