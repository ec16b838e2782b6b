"""The ``<client>/raw_<dataset>`` assets: one drop partition landed as typed, immutable Parquet.

The work is the raw stage's (:func:`retina_assets.ingestion.raw_stage.convert_partition`; for an
``engine: spark`` client :func:`retina_assets.engines.spark_raw.convert_partition_on_spark`, whose executors
write the version's parts, committed by the IO manager); this asset adds
what only the Dagster instance knows (the previous partition's recorded drop schema, the reference for drift)
and turns the stage's errors into failures that name the file and are never retried. Each drop is first
kept in the lake's archive and the raw version records the archived drops as its inputs. The asset
depends on the dataset's landing source (``<client>/landing_<dataset>``, :mod:`retina_assets.defs.landing`),
so a corrected drop marks its partition stale. Each materialization
records the drop's schema (``drop_schema``), a ``schema_drift`` report against the previous partition, and the
drop files; with the dataset's ``drift`` policy ``warn`` the run log gets a warning, with ``fail`` nothing is
written.
"""

from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg
import pyarrow as pa

from retina_assets.defs.checks import drop_freshness_policy
from retina_assets.defs.instance import latest_metadata
from retina_assets.defs.io_manager import PROVENANCE
from retina_assets.defs.landing import landing_key
from retina_assets.defs.metadata import to_metadata
from retina_assets.defs.resources import LakeResource, LandingResource, SparkResource
from retina_assets.engines.spark_raw import convert_partition_on_spark
from retina_assets.ingestion.coercion import SchemaMismatchError
from retina_assets.ingestion.landing import IncompleteDropError
from retina_assets.ingestion.raw_stage import DriftPolicyError, NoDropError, convert_partition
from retina_assets.ingestion.readers import DropReadError
from retina_assets.model.naming import RAW, DatasetName
from retina_assets.model.provenance import stage_code_version
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.versioned_store import StagedVersion

PREVIOUS_LOOKBACK = 10


def previous_drop_schema(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> tuple[str | None, dict[str, str] | None]:
    """The recorded ``drop_schema`` of the latest earlier partition of ``key`` that has one (from the
    Dagster instance's event log), or ``(None, None)`` for the first drop."""
    earlier = sorted((p for p in instance.get_materialized_partitions(key) if p < partition), reverse=True)
    for candidate in earlier[:PREVIOUS_LOOKBACK]:
        value = latest_metadata(instance, key, candidate).get("drop_schema")
        if isinstance(value, dict):
            return candidate, {str(k): str(v) for k, v in value.items()}
    return None, None


def _failing_clearly(
    batches: Iterator[pa.RecordBatch], at_end: Callable[[], object]
) -> Iterator[pa.RecordBatch]:
    """The batches, with a drop that turns out unreadable half-way reported as a non-retried failure;
    ``at_end`` runs once every batch was read."""
    try:
        yield from batches
    except DropReadError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from None
    at_end()


def build_raw_asset(
    client: ClientSpec, dataset: str, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """The raw asset of one client dataset."""
    spec = client.datasets[dataset]
    name = DatasetName(RAW, client.client, dataset)

    @dg.asset(
        key=name.path,
        group_name=client.client,
        partitions_def=partitions_def,
        io_manager_key="lake_io_manager",
        kinds={"parquet", spec.format},
        description=(
            f"{client.display_name or client.client}: `{dataset}` drops ({spec.format}, pattern "
            f"`{spec.pattern}`) landed as typed Parquet with the client's column names, plus "
            "`_source_file`, `_source_row` and `_raw_errors` (values that did not parse)."
        ),
        metadata={"retina/zone": RAW, "retina/dataset": dataset, "retina/canonical": spec.canonical},
        freshness_policy=drop_freshness_policy(spec),
        code_version=stage_code_version(client, RAW, dataset),
        deps=[landing_key(client, dataset)],
    )
    def _raw(
        context: dg.AssetExecutionContext, landing: LandingResource, lake: LakeResource, spark: SparkResource
    ) -> dg.Output[Any]:  # a RecordBatchStream (in-process) or a StagedVersion (Spark)
        partition = context.partition_key
        previous = previous_drop_schema(context.instance, context.asset_key, partition)
        tags = context.run.tags
        # a run the sensor started converts the content the sensor hashed, or fails
        expected = (
            {tags["retina/drop"]: tags["retina/sha256"]}
            if "retina/drop" in tags and "retina/sha256" in tags and tags.get("retina/dataset") == dataset
            else None
        )
        try:
            if client.engine == "spark":  # Spark's executors read, type and write the rows
                context.log.info(f"raw conversion of {dataset} [{partition}] on {spark.describe()}")
                prepared = convert_partition_on_spark(
                    landing.filesystem(client), landing.client_uri(client), client, dataset, partition,
                    spark.session(), lake.lake_uri, lake.storage_options(), previous_schema=previous,
                    log=context.log.info, expected_sha256=expected,
                )  # fmt: skip
            else:
                prepared = convert_partition(
                    landing.filesystem(client), landing.client_uri(client), client, dataset, partition,
                    previous_schema=previous, log=context.log.info, archive=lake.store().fs,
                    expected_sha256=expected,
                )  # fmt: skip
        except (NoDropError, IncompleteDropError, DropReadError, SchemaMismatchError) as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        except DriftPolicyError as exc:
            raise dg.Failure(str(exc), metadata=to_metadata(exc.metadata), allow_retries=False) from None
        what = f"{client.client}/{dataset} [{partition}]: {prepared.drift.summary()}"
        if prepared.drift.has_drift and spec.drift == "warn":
            context.log.warning(f"{what} (drift policy 'warn')")
        else:
            context.log.info(what + (f" (drift policy {spec.drift!r})" if prepared.drift.has_drift else ""))
        stream = prepared.stream
        if isinstance(stream, StagedVersion):  # every row was already read and written by the executors
            engine, ran_on = "spark", spark.describe()
            lake.store_spec(client)
        else:
            engine, ran_on = "pandas", "in-process (pyarrow + polars)"
            # the spec document is stored once every batch was read: a drop refused half-way leaves nothing
            stream.batches = _failing_clearly(iter(stream.batches), lambda: lake.store_spec(client))
        basis = lake.provenance_basis(client, RAW, dataset, engine, store=False)
        basis["inputs"] = [drop.to_input() for drop in prepared.archived]
        return dg.Output(
            stream,
            metadata={
                PROVENANCE: dg.MetadataValue.json(basis),
                "retina/engine": engine,
                "retina/engine_detail": ran_on,
            },
        )

    return _raw
