"""The ``<client>/validated_<dataset>`` and ``<client>/rejected_<dataset>`` assets.

One step reads the exact raw version, splits it into validated and quarantined rows
(:func:`~retina_assets.quality.validation.validate_dataset`), writes both as immutable versions, and reports
the asset checks of :mod:`retina_assets.quality.checks` for the partition.
"""

from collections.abc import Iterator

import dagster as dg

from retina_assets.clients.spec import ClientSpec, DatasetSpec
from retina_assets.engines.choice import EngineConfig
from retina_assets.engines.spark import SparkResource
from retina_assets.quality.checks import check_specs, evaluate_checks
from retina_assets.quality.validation import validate_dataset
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.lake_resource import LakeResource

VOLUME_LOOKBACK = 7


def _previous_row_counts(lake: LakeResource, client: str, dataset: str, partition: str) -> list[int]:
    store = lake.store()
    earlier = [p for p in store.partitions("validated", client, dataset) if p < partition]
    counts = []
    for key in earlier[-VOLUME_LOOKBACK:]:
        current = store.current("validated", client, dataset, key)
        if current is not None:
            counts.append(current.row_count)
    return counts


def build_validated_asset(
    client: ClientSpec,
    dataset: str,
    spec: DatasetSpec,
    partitions_def: dg.PartitionsDefinition,
    automation: dg.AutomationCondition | None,
) -> dg.AssetsDefinition:
    """The multi-asset that validates one client dataset and quarantines its bad rows."""
    valid_key = dg.AssetKey([client.client, f"validated_{dataset}"])
    rejected_key = dg.AssetKey([client.client, f"rejected_{dataset}"])
    raw_key = dg.AssetKey([client.client, f"raw_{dataset}"])
    common = {"retina/dataset": dataset, "retina/canonical": spec.canonical}

    @dg.multi_asset(
        name=f"{client.client}__validate_{dataset}",
        group_name=client.client,
        partitions_def=partitions_def,
        ins={"raw": dg.AssetIn(key=raw_key)},
        outs={
            "validated": dg.AssetOut(
                key=valid_key,
                io_manager_key="lake_io_manager",
                kinds={"parquet", "pandera"},
                description=f"`{dataset}` rows that pass the `{spec.canonical}` contract, canonical names.",
                metadata={**common, "retina/zone": "validated"},
                automation_condition=automation,
            ),
            "rejected": dg.AssetOut(
                key=rejected_key,
                io_manager_key="lake_io_manager",
                kinds={"parquet"},
                description=(
                    f"Quarantined `{dataset}` rows with `_reject_rules` and `_reject_reasons`; "
                    "re-validate after a rule change to release them."
                ),
                metadata={**common, "retina/zone": "rejected"},
                automation_condition=automation,
            ),
        },
        check_specs=check_specs(valid_key, spec),
        can_subset=False,
    )
    def _validate(
        context: dg.AssetExecutionContext,
        config: EngineConfig,
        raw: DatasetRef,
        lake: LakeResource,
        spark: SparkResource,
    ) -> Iterator[dg.Output | dg.AssetCheckResult]:
        partition = context.partition_key
        engine = config.resolve(client)
        if engine == "spark":  # issue 6: same rules and outputs, computed on Spark
            from retina_assets.engines.spark_validation import validate_on_spark

            context.log.info(f"validating {dataset} [{partition}] on {spark.describe()}")
            outcome = validate_on_spark(spark.session(), raw.uri, raw.to_arrow_schema(), spec)
        else:
            outcome = validate_dataset(raw.to_pandas(), spec)
        context.log.info(
            f"{dataset} [{partition}]: {outcome.raw_rows:,} raw -> {len(outcome.valid):,} valid, "
            f"{len(outcome.rejected):,} quarantined {outcome.rule_counts}"
        )
        yield dg.Output(
            outcome.valid,
            output_name="validated",
            metadata={
                "reject_rule_counts": dg.MetadataValue.json(outcome.rule_counts),
                "retina/engine": engine,
            },
        )
        yield dg.Output(outcome.rejected, output_name="rejected")
        previous = _previous_row_counts(lake, client.client, dataset, partition)
        yield from evaluate_checks(valid_key, spec, outcome, previous)

    return _validate
