"""One partitioned asset per registered feature a client asks for: ``<client>/<feature>``.

The asset's inputs are the client's validated datasets the feature reads (its registration in
:data:`retina_assets.features.FEATURES`): the same partition, or for a ``history`` feature every partition
up to it (an :class:`~retina_assets.defs.io_manager.InputHistory` of exact versions); it refuses inputs whose blocking quality checks failed
(:mod:`retina_assets.defs.gate`) and builds on the client's engine
(:func:`retina_assets.engines.stages.build_feature`; on Spark the executors write the rows as a multi-part
version, committed by the IO manager like any other). The lake publishes each feature partition to a hive
root, ``<lake>/features/<client>/<feature>/``, besides its immutable version.

A ranged run (a backfill run over several days) builds each day in turn and records each built day as its
own materialization (the same metadata as a single-day run, the day's content hash as its data version,
the exact inputs as its input tags). A day whose input failed a blocking check, or whose build raises, gets
no materialization; the other days are built and recorded, and then the step fails naming every day it
did not build and why, so the backfill shows them failed.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa
from dagster._core.definitions.data_version import (
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)

from retina_assets.defs.gate import require_passed_checks
from retina_assets.defs.instance import latest_materialization_record
from retina_assets.defs.io_manager import (
    DATA_VERSION_TAG,
    HISTORY_INPUT,
    PROVENANCE,
    InputHistory,
    version_metadata,
    version_tags,
    write_output,
    written_message,
)
from retina_assets.defs.metadata import to_metadata
from retina_assets.defs.partitions import backfill_policy_for, run_partitions
from retina_assets.defs.resources import EngineConfig, LakeResource, SparkResource
from retina_assets.engines.stages import build_feature
from retina_assets.features.registry import Feature, FeatureInput
from retina_assets.model.naming import FEATURES, VALIDATED, DatasetName
from retina_assets.model.provenance import stage_code_version
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import VersionedStore


def feature_inputs(client: ClientSpec, feature: Feature) -> dict[str, dg.AssetKey]:
    """Canonical dataset read -> the client's validated asset that provides it (its first dataset of that
    kind; the spec loader made sure there is one)."""
    return {
        canonical: dg.AssetKey(DatasetName(VALIDATED, client.client, client.datasets_for(canonical)[0]).path)
        for canonical in feature.reads
    }


def build_feature_asset(
    client: ClientSpec,
    feature: Feature,
    partitions_def: dg.PartitionsDefinition,
    automation: dg.AutomationCondition | None = None,
) -> dg.AssetsDefinition:
    """The asset of one registered feature for one client."""
    name = DatasetName(FEATURES, client.client, feature.name)
    inputs = feature_inputs(client, feature)
    kinds = {"parquet", "polars", "spark"} if client.engine == "spark" else {"parquet", "polars"}

    @dg.asset(
        key=name.path,
        group_name=client.client,
        partitions_def=partitions_def,
        ins={
            canonical: dg.AssetIn(key=key, metadata={HISTORY_INPUT: True} if feature.history else None)
            for canonical, key in inputs.items()
        },
        io_manager_key="lake_io_manager",
        kinds=kinds,
        automation_condition=automation,
        description=(
            f"{feature.description} Accumulated as a hive dataset: read "
            f"`<lake>/features/{client.client}/{feature.name}/` to get every day with an `as_of_date` column."
        ),
        metadata={"retina/zone": FEATURES, "retina/dataset": feature.name},
        code_version=stage_code_version(client, FEATURES, feature.name),
        backfill_policy=backfill_policy_for(client),
        # a ranged run records each built day itself and yields no output (a blocked day gets nothing)
        output_required=False,
    )
    def _feature(
        context: dg.AssetExecutionContext,
        config: EngineConfig,
        spark: SparkResource,
        lake: LakeResource,
        **loaded: DatasetRef | InputHistory | dict[str, DatasetRef] | dict[str, InputHistory],
    ) -> Iterator[dg.Output[Any] | dg.AssetMaterialization]:
        partitions = run_partitions(context)
        if len(partitions) == 1:
            # never build on a validated version whose blocking quality checks failed (a history input has
            # already left out earlier partitions that failed theirs, and names them)
            for key in inputs.values():
                require_passed_checks(context, key)
            table, metadata = build_one(context, config, spark, lake, partitions[0], loaded)  # type: ignore[arg-type]
            yield dg.Output(table, metadata=metadata)
            return
        # a ranged run: each day on its own; a day that cannot be built is named at the end
        store = lake.store()
        not_built: dict[str, str] = {}
        for partition in partitions:
            day = {canonical: value[partition] for canonical, value in loaded.items()}  # type: ignore[index]
            try:
                for key in inputs.values():
                    require_passed_checks(context, key, partition)
                table, metadata = build_one(context, config, spark, lake, partition, day)
            except dg.Failure as exc:
                not_built[partition] = exc.description or str(exc)
                context.log.error(f"{name} [{partition}] not built: {not_built[partition]}")
                continue
            except Exception as exc:  # noqa: BLE001 - one day's error must not lose the other days
                not_built[partition] = f"{type(exc).__name__}: {exc}"
                context.log.error(f"{name} [{partition}] not built: {not_built[partition]}")
                continue
            yield record_feature_day(context, store, partition, table, metadata, day)
        if not_built:
            raise dg.Failure(
                f"{name}: {len(not_built)} of {len(partitions)} day(s) of the ranged run "
                f"{partitions[0]}..{partitions[-1]} not built (the others are recorded): "
                + "; ".join(f"[{day}] {why}" for day, why in not_built.items()),
                metadata={"not_built": dg.MetadataValue.json(not_built)},
                allow_retries=False,
            )

    def build_one(
        context: dg.AssetExecutionContext,
        config: EngineConfig,
        spark: SparkResource,
        lake: LakeResource,
        partition: str,
        loaded: dict[str, DatasetRef | InputHistory],
    ) -> tuple[Any, dict[str, Any]]:
        """The feature rows of one day (a table, or on Spark a StagedVersion the executors wrote) and its output metadata (with the provenance basis)."""
        refs: dict[str, FeatureInput] = {}
        excluded: dict[str, list[str]] = {}
        for canonical, value in loaded.items():
            if isinstance(value, InputHistory):
                refs[canonical] = value.refs
                excluded.update(value.excluded)
            else:
                refs[canonical] = value
        if excluded:
            context.log.warning(f"left out partitions whose blocking checks failed: {sorted(excluded)}")
        # a history feature reads many small versions and builds in-process on every client
        engine = "pandas" if feature.history else config.resolve(client)
        ran_on = spark.describe() if engine == "spark" else "in-process (polars)"
        table, metadata = build_feature(
            feature, refs, engine, spark=spark.session, as_of_date=partition, store=lake.store()
        )
        if feature.history:
            metadata = {**metadata, "excluded_partitions": excluded}
        count = table.num_rows if isinstance(table, pa.Table) else sum(p.row_count for p in table.parts)
        context.log.info(f"{feature.name} [{partition}] on {ran_on}: {count:,} rows")
        basis = lake.provenance_basis(client, FEATURES, feature.name, engine)
        return table, {
            **to_metadata({**metadata, "retina/engine": engine, "retina/engine_detail": ran_on}),
            PROVENANCE: dg.MetadataValue.json(basis),
        }

    def record_feature_day(
        context: dg.AssetExecutionContext,
        store: VersionedStore,
        partition: str,
        table: Any,
        metadata: dict[str, Any],
        day: dict[str, DatasetRef | InputHistory],
    ) -> dg.AssetMaterialization:
        """Write one day of a ranged run and its materialization: the metadata, data version and input
        tags a single-day run records for it."""
        paths = [
            ref.uri
            for value in day.values()
            for ref in (value.refs if isinstance(value, InputHistory) else (value,))
        ]
        basis = metadata[PROVENANCE].value
        version, extra = write_output(store, name, partition, table, paths, context.run_id, dict(basis))
        context.log.info(written_message(context.asset_key, partition, version))
        tags = version_tags(version)
        for key in inputs.values():  # what a single-day run's materialization records about its inputs
            record = latest_materialization_record(context.instance, key, partition)
            if record is not None and record.event_log_entry.tags.get(DATA_VERSION_TAG):
                tags[get_input_data_version_tag(key)] = record.event_log_entry.tags[DATA_VERSION_TAG]
                tags[get_input_event_pointer_tag(key)] = str(record.storage_id)
        return dg.AssetMaterialization(
            asset_key=context.asset_key,
            partition=partition,
            metadata={**metadata, **version_metadata(version), **to_metadata(extra)},
            tags=tags,
        )

    return _feature
