"""The ``<client>/validated_<dataset>`` and ``<client>/rejected_<dataset>`` assets.

One step reads the exact raw version, splits it into validated and quarantined rows on the client's engine
(:func:`retina_assets.engines.stages.validate_partition`: in-process, in bounded-memory buckets for large
partitions, or on Spark, whose executors write both outputs as multi-part versions), writes (commits) both as
immutable versions, and reports the asset checks of
:mod:`retina_assets.quality.checks` for the partition. The names of failed blocking checks are recorded on
the validated materialization (``failed_blocking_checks``) so later runs can refuse to build on it
(:mod:`retina_assets.defs.gate`).

Either asset can be selected alone (``--select demo/validated_orders``): the step always validates into both
outputs, since a quarantined row must never be lost; the one not selected is still written through the
same store and recorded as a materialization of its asset, so the two stay one consistent pair.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from retina_assets.defs.checks import asset_check_result, check_specs
from retina_assets.defs.gate import FAILED_BLOCKING
from retina_assets.defs.io_manager import PROVENANCE, version_metadata, version_tags, write_output
from retina_assets.defs.metadata import to_metadata
from retina_assets.defs.resources import EngineConfig, LakeResource, SparkResource
from retina_assets.engines.stages import validate_partition
from retina_assets.model.naming import RAW, REJECTED, VALIDATED, DatasetName
from retina_assets.model.provenance import stage_code_version
from retina_assets.model.spec import ClientSpec
from retina_assets.quality.checks import check_context, evaluate_checks, failed_blocking, reference_datasets
from retina_assets.storage.dataset_ref import DatasetRef


def build_validated_asset(
    client: ClientSpec,
    dataset: str,
    partitions_def: dg.PartitionsDefinition,
    automation: dg.AutomationCondition | None = None,
) -> dg.AssetsDefinition:
    """The multi-asset that validates one client dataset and quarantines its bad rows."""
    spec = client.datasets[dataset]
    names = {
        "validated": DatasetName(VALIDATED, client.client, dataset),
        "rejected": DatasetName(REJECTED, client.client, dataset),
    }
    keys = {output: dg.AssetKey(name.path) for output, name in names.items()}
    raw_key = dg.AssetKey(DatasetName(RAW, client.client, dataset).path)
    common = {"retina/dataset": dataset, "retina/canonical": spec.canonical}
    has_references = bool(reference_datasets(client, spec))

    @dg.multi_asset(
        name=f"{client.client}__validate_{dataset}",
        group_name=client.client,
        partitions_def=partitions_def,
        ins={"raw": dg.AssetIn(key=raw_key)},
        outs={
            "validated": dg.AssetOut(
                key=keys["validated"],
                io_manager_key="lake_io_manager",
                kinds={"parquet", "pandera"},
                description=f"`{dataset}` rows that pass the `{spec.canonical}` contract, canonical names.",
                metadata={**common, "retina/zone": VALIDATED},
                automation_condition=automation,
                code_version=stage_code_version(client, VALIDATED, dataset),
                is_required=False,  # subsettable: a run that selects one asset yields only that output
            ),
            "rejected": dg.AssetOut(
                key=keys["rejected"],
                io_manager_key="lake_io_manager",
                kinds={"parquet"},
                description=(
                    f"Quarantined `{dataset}` rows with `_reject_rules` and `_reject_reasons`; "
                    "re-validate after a rule change to release them."
                ),
                metadata={**common, "retina/zone": REJECTED},
                automation_condition=automation,
                code_version=stage_code_version(client, REJECTED, dataset),
                is_required=False,  # subsettable: a run that selects one asset yields only that output
            ),
        },
        check_specs=check_specs(keys["validated"], spec, has_references, partitions_def),
        can_subset=True,
    )
    def _validate(
        context: dg.AssetExecutionContext,
        config: EngineConfig,
        raw: DatasetRef,
        lake: LakeResource,
        spark: SparkResource,
    ) -> Iterator[dg.Output | dg.AssetMaterialization | dg.AssetCheckResult]:
        partition = context.partition_key
        engine = config.resolve(client)
        store = lake.store()
        ctx = check_context(store, client, dataset, spec, partition)
        if engine == "spark":
            context.log.info(f"validating {dataset} [{partition}] on {spark.describe()}")
        validated = validate_partition(
            raw, spec, ctx, engine, spark=spark.session, log=context.log.info, store=store
        )
        try:
            summary = validated.summary
            context.log.info(
                f"{dataset} [{partition}]: {summary.raw_rows:,} raw -> {summary.validated_rows:,} valid, "
                f"{summary.rejected_rows:,} quarantined {summary.rule_counts}"
            )
            results = evaluate_checks(spec, summary, ctx)
            metadata: dict[str, dict[str, Any]] = {
                "validated": {
                    "reject_rule_counts": summary.rule_counts,
                    "raw_rows": summary.raw_rows,
                    "rejected_rows": summary.rejected_rows,
                    FAILED_BLOCKING: failed_blocking(results),
                    "retina/engine": engine,
                },
                "rejected": {"reject_rule_counts": summary.rule_counts, "retina/engine": engine},
            }
            selected = context.selected_asset_keys
            for output, rows in (("validated", validated.valid), ("rejected", validated.rejected)):
                basis = lake.provenance_basis(client, names[output].zone, dataset, engine)
                if keys[output] in selected:
                    yield dg.Output(
                        rows,
                        output_name=output,
                        metadata={**to_metadata(metadata[output]), PROVENANCE: dg.MetadataValue.json(basis)},
                    )
                    continue
                # not selected: still written (the pair must stay consistent) and recorded as materialized
                version, extra = write_output(
                    store, names[output], partition, rows, [raw.uri], context.run_id, basis
                )
                context.log.info(f"{names[output]} [{partition}] (written with its pair): {version.path}")
                yield dg.AssetMaterialization(
                    asset_key=keys[output],
                    partition=partition,
                    metadata={**version_metadata(version), **to_metadata({**extra, **metadata[output]})},
                    tags=version_tags(version),
                )
            for result in results:
                if dg.AssetCheckKey(keys["validated"], result.name) in context.selected_asset_check_keys:
                    yield asset_check_result(keys["validated"], result)
        finally:
            validated.close()

    return _validate
