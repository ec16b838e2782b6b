"""The ``<client>/validated_<dataset>`` and ``<client>/rejected_<dataset>`` assets.

One step reads the exact raw version, splits it into validated and quarantined rows
(:func:`~retina_assets.quality.validation.validate_dataset`, or its Spark twin for ``engine: spark``
clients; above ``BUCKET_ROWS`` raw rows in key-hash buckets with bounded memory and the same result,
:mod:`retina_assets.quality.bucketed_validation`), writes both as immutable versions, and reports the asset
checks of :mod:`retina_assets.quality.checks` for the partition. The names of failed blocking checks are recorded on
the validated materialization (``failed_blocking_checks``) so later runs can refuse to build on it
(:mod:`retina_assets.quality.gate`).
"""

from collections.abc import Iterator

import dagster as dg
import pyarrow.compute as pc

from retina_assets.clients.spec import ClientSpec, DatasetSpec
from retina_assets.engines.choice import EngineConfig
from retina_assets.engines.spark import SparkResource
from retina_assets.quality.bucketed_validation import BUCKET_ROWS, validate_in_buckets
from retina_assets.quality.checks import (
    CheckContext,
    OutcomeSummary,
    Reference,
    check_specs,
    evaluate_checks,
    failed_blocking,
)
from retina_assets.quality.contracts import FOREIGN_KEYS
from retina_assets.quality.gate import FAILED_BLOCKING
from retina_assets.quality.validation import ValidationOutcome, validate_dataset
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.io_managers import RecordBatchStream
from retina_assets.storage.lake_resource import LakeResource
from retina_assets.storage.versioned_store import VersionedStore

VOLUME_LOOKBACK = 7


def reference_datasets(client: ClientSpec, spec: DatasetSpec) -> dict[str, str]:
    """Foreign-key column -> the client's dataset that holds the referenced keys (only those it sends)."""
    out = {}
    for column, canonical in FOREIGN_KEYS.get(spec.canonical, {}).items():
        names = [name for name, d in client.datasets.items() if d.canonical == canonical]
        if names:
            out[column] = names[0]
    return out


def check_context(
    store: VersionedStore, client: ClientSpec, dataset: str, spec: DatasetSpec, partition: str
) -> CheckContext:
    """Look up, in the lake's version records, what the checks compare a partition with."""
    earlier = [p for p in store.partitions("raw", client.client, dataset) if p < partition]
    counts = []
    for key in earlier[-VOLUME_LOOKBACK:]:
        current = store.current("raw", client.client, dataset, key)
        if current is not None:
            counts.append(current.row_count)
    references = []
    # the referenced key column has the foreign key's name (customers.customer_id, products.product_id)
    for column, ref_dataset in reference_datasets(client, spec).items():
        parts = [p for p in store.partitions("validated", client.client, ref_dataset) if p <= partition]
        if not parts:
            references.append(Reference(column, ref_dataset, None))
            continue
        current = store.current("validated", client.client, ref_dataset, parts[-1])
        assert current is not None
        table = store.read_table(current.path, columns=[column])
        keys = frozenset(str(v) for v in pc.unique(table.column(column)).to_pylist() if v is not None)
        references.append(Reference(column, ref_dataset, parts[-1], keys))
    return CheckContext(
        partition=partition,
        previous_row_counts=counts,
        previous_partition=earlier[-1] if earlier else None,
        references=references,
    )


def run_validation(
    spec: DatasetSpec, raw: DatasetRef, engine: str = "pandas", spark: SparkResource | None = None
) -> ValidationOutcome:
    """Validate a raw version in-process or, for ``engine="spark"``, on Spark (local or Spark Connect).

    The Spark path (:mod:`retina_assets.engines.spark_validation`) runs the same ``validate_dataset`` in
    Spark tasks, so rows, types, codes and reasons are identical to in-process.
    """
    if engine == "spark":
        from retina_assets.engines.spark import spark_resource
        from retina_assets.engines.spark_validation import validate_on_spark

        session = (spark or spark_resource()).session()
        return validate_on_spark(session, raw.uri, raw.to_arrow_schema(), spec)
    return validate_dataset(raw.to_pandas(), spec)


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
    has_references = bool(reference_datasets(client, spec))

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
        check_specs=check_specs(valid_key, spec, has_references, partitions_def),
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
        engine = config.resolve(client)  # issue 6: the spec's engine, or this run's
        ctx = check_context(lake.store(), client, dataset, spec, partition)
        bucketed = None
        if engine == "spark":
            context.log.info(f"validating {dataset} [{partition}] on {spark.describe()}")
        elif (raw.row_count or 0) > BUCKET_ROWS:  # too large for one pandas frame: bounded memory
            bucketed = validate_in_buckets(raw, spec, ctx, bucket_rows=BUCKET_ROWS, log=context.log)
        try:
            if bucketed is not None:
                summary = bucketed.summary
                valid: object = RecordBatchStream(
                    bucketed.valid_schema, bucketed.valid_batches(), table_layout=True
                )
                rejected: object = RecordBatchStream(
                    bucketed.rejected_schema, bucketed.rejected_batches(), table_layout=True
                )
            else:
                outcome = run_validation(spec, raw, engine, spark)
                summary = OutcomeSummary.of(outcome, spec, ctx)
                valid, rejected = outcome.valid, outcome.rejected
            context.log.info(
                f"{dataset} [{partition}]: {summary.raw_rows:,} raw -> {summary.validated_rows:,} valid, "
                f"{summary.rejected_rows:,} quarantined {summary.rule_counts}"
            )
            results = evaluate_checks(valid_key, spec, summary, ctx)
            failed = failed_blocking(spec, results)
            yield dg.Output(
                valid,
                output_name="validated",
                metadata={
                    "reject_rule_counts": dg.MetadataValue.json(summary.rule_counts),
                    "raw_rows": dg.MetadataValue.int(summary.raw_rows),
                    "rejected_rows": dg.MetadataValue.int(summary.rejected_rows),
                    FAILED_BLOCKING: dg.MetadataValue.json(failed),
                    "retina/engine": engine,
                },
            )
            yield dg.Output(
                rejected,
                output_name="rejected",
                metadata={"reject_rule_counts": dg.MetadataValue.json(summary.rule_counts)},
            )
            yield from results
        finally:
            if bucketed is not None:
                bucketed.close()

    return _validate
