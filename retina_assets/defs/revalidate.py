"""Re-validate one partition after a contract, rule or threshold change.

Re-runs the ``<client>/validated_<dataset>`` + ``rejected_<dataset>`` step for one partition from the same
raw version (exactly the path the raw materialization recorded), with the client spec as it is *now*.
Rows that pass now leave the quarantine, rows that fail a new rule enter it; both outputs become new
immutable versions (old versions and their version records stay), and the checks are evaluated again,
so a partition that was blocked can be released. Identical results are deduplicated (nothing new written).

Usage (records the run in the Dagster instance at ``$DAGSTER_HOME``, visible in the UI)::

    python -m retina_assets.defs.revalidate --client demo --dataset orders --partition 2010-12-01

The same is available in the UI as the job ``<client>_revalidate`` (pick the partition), or
``dagster asset materialize -m retina_assets.definitions --select 'demo/validated_orders,demo/rejected_orders'
--partition 2010-12-01``. Exit status: 0 all blocking checks pass, 1 a blocking check failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

import dagster as dg

from retina_assets.defs.definitions import build_definitions
from retina_assets.defs.gate import failed_blocking_checks
from retina_assets.defs.partitions import client_lock_tags
from retina_assets.model.naming import RAW, REJECTED, SOURCE_FILE, SOURCE_ROW, VALIDATED, DatasetName
from retina_assets.settings import LakeSettings
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore


class RevalidationError(ValueError):
    """The partition cannot be re-validated (unknown client/dataset, or never landed as raw)."""


@dataclass
class Revalidation:
    """What a re-validation did to one partition."""

    client: str
    dataset: str
    partition: str
    success: bool
    validated_before: DatasetVersion | None
    validated_after: DatasetVersion | None
    rejected_before: DatasetVersion | None
    rejected_after: DatasetVersion | None
    released_rows: int = 0  # quarantined before, validated now
    newly_rejected_rows: int = 0  # validated before, quarantined now
    checks: dict[str, bool] = field(default_factory=dict)
    failed_blocking: list[str] = field(default_factory=list)

    def summary(self) -> str:
        def ver(v: DatasetVersion | None) -> str:
            return f"{v.row_count:,} rows {v.path}" if v else "-"

        lines = [
            f"re-validated {self.client}/{self.dataset} [{self.partition}]",
            f"  validated: {ver(self.validated_before)}",
            f"          -> {ver(self.validated_after)}",
            f"  rejected:  {ver(self.rejected_before)}",
            f"          -> {ver(self.rejected_after)}",
            f"  released from quarantine: {self.released_rows:,}; newly quarantined: {self.newly_rejected_rows:,}",
            "  checks: "
            + ", ".join(f"{k}={'pass' if v else 'FAIL'}" for k, v in sorted(self.checks.items())),
        ]
        if self.failed_blocking:
            lines.append(f"  BLOCKED: failed blocking checks {self.failed_blocking}; features will not build")
        return "\n".join(lines)


def _row_ids(store: VersionedStore, version: DatasetVersion | None) -> set[tuple[str, int]]:
    if version is None:
        return set()
    table = store.read_version(version, columns=[SOURCE_FILE, SOURCE_ROW])
    return set(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))


def revalidate(
    client: str,
    dataset: str,
    partition: str,
    instance: dg.DagsterInstance,
    settings: LakeSettings | None = None,
) -> Revalidation:
    """Materialize the validated/rejected assets of one partition again; see the module docstring."""
    settings = settings or LakeSettings.from_env()
    defs = build_definitions(settings)
    valid_key = dg.AssetKey(DatasetName(VALIDATED, client, dataset).path)
    rejected_key = dg.AssetKey(DatasetName(REJECTED, client, dataset).path)
    graph = defs.resolve_asset_graph()
    if not graph.has(valid_key):
        known = sorted(
            k.to_user_string()
            for k in graph.get_all_asset_keys()
            if DatasetName.parse(k.path).zone == VALIDATED
        )
        raise RevalidationError(f"no asset {valid_key.to_user_string()}; validated assets are {known}")
    store = VersionedStore(settings.lake_uri)
    if store.current(RAW, client, dataset, partition) is None:
        raise RevalidationError(
            f"{client}/raw_{dataset} has no version for {partition}: nothing to re-validate (land it first)"
        )
    before = (
        store.current(VALIDATED, client, dataset, partition),
        store.current(REJECTED, client, dataset, partition),
    )
    result = dg.materialize(
        [*defs.assets],  # type: ignore[list-item]
        selection=[valid_key, rejected_key],
        partition_key=partition,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
        tags={"retina/revalidation": "true", **client_lock_tags(client)},
    )
    after = (
        store.current(VALIDATED, client, dataset, partition),
        store.current(REJECTED, client, dataset, partition),
    )
    old_rejected, new_rejected = _row_ids(store, before[1]), _row_ids(store, after[1])
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    return Revalidation(
        client=client,
        dataset=dataset,
        partition=partition,
        success=result.success,
        validated_before=before[0],
        validated_after=after[0],
        rejected_before=before[1],
        rejected_after=after[1],
        released_rows=len(old_rejected - new_rejected) if before[1] else 0,
        newly_rejected_rows=len(new_rejected - old_rejected) if before[1] else 0,
        checks=checks,
        failed_blocking=failed_blocking_checks(instance, valid_key, partition),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--partition", required=True, help="as_of_date, YYYY-MM-DD")
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: point it at the instance the UI uses (see README)", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        try:
            outcome = revalidate(args.client, args.dataset, args.partition, instance)
        except (RevalidationError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(outcome.summary())
    return 1 if outcome.failed_blocking or not outcome.success else 0


if __name__ == "__main__":
    sys.exit(main())
