"""One partitioned asset per registered feature a client asks for: ``<client>/<feature>``.

The asset's inputs are the client's validated datasets the feature reads (its registration in
:data:`retina_assets.features.FEATURES`): the same partition, or for a ``history`` feature every partition
up to it (an :class:`~retina_assets.defs.io_manager.InputHistory` of exact versions); it refuses inputs whose blocking quality checks failed
(:mod:`retina_assets.defs.gate`) and builds on the client's engine
(:func:`retina_assets.engines.stages.build_feature`; on Spark the executors write the rows as a multi-part
version, committed by the IO manager like any other). The lake publishes each feature partition to a hive
root, ``<lake>/features/<client>/<feature>/``, besides its immutable version.
"""

from typing import Any

import dagster as dg
import pyarrow as pa

from retina_assets.defs.gate import require_passed_checks
from retina_assets.defs.io_manager import HISTORY_INPUT, PROVENANCE, InputHistory
from retina_assets.defs.metadata import to_metadata
from retina_assets.defs.resources import EngineConfig, LakeResource, SparkResource
from retina_assets.engines.stages import build_feature
from retina_assets.features.registry import Feature, FeatureInput
from retina_assets.model.naming import FEATURES, VALIDATED, DatasetName
from retina_assets.model.provenance import stage_code_version
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.dataset_ref import DatasetRef


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
    )
    def _feature(
        context: dg.AssetExecutionContext,
        config: EngineConfig,
        spark: SparkResource,
        lake: LakeResource,
        **loaded: DatasetRef | InputHistory,
    ) -> dg.Output[Any]:
        # never build on a validated version whose blocking quality checks failed (a history input has
        # already left out earlier partitions that failed theirs, and names them)
        for key in inputs.values():
            require_passed_checks(context, key)
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
        rows, metadata = build_feature(
            feature, refs, engine, spark=spark.session, as_of_date=context.partition_key, store=lake.store()
        )
        if feature.history:
            metadata = {**metadata, "excluded_partitions": excluded}
        count = rows.num_rows if isinstance(rows, pa.Table) else sum(p.row_count for p in rows.parts)
        context.log.info(f"{feature.name} [{context.partition_key}] on {ran_on}: {count:,} rows")
        basis = lake.provenance_basis(client, FEATURES, feature.name, engine)
        return dg.Output(
            rows,
            metadata={
                **to_metadata({**metadata, "retina/engine": engine, "retina/engine_detail": ran_on}),
                PROVENANCE: dg.MetadataValue.json(basis),
            },
        )

    return _feature
