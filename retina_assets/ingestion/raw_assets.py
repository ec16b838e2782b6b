"""The ``<client>/raw_<dataset>`` assets: one drop partition landed as typed, immutable Parquet.

Each materialization also records the drop's schema (``drop_schema``: column -> type as the drop carries
it) and a ``schema_drift`` report against the previous partition's recorded schema; the dataset's
``drift`` policy decides what drift does: ``accept`` (report only), ``warn`` (report and a warning in the
run log) or ``fail`` (the step fails with the report and nothing is written).
"""

from typing import Any

import dagster as dg

from retina_assets.clients.spec import ClientSpec, DatasetSpec
from retina_assets.ingestion.coercion import SchemaMismatchError
from retina_assets.ingestion.drift import DriftReport, compare_schemas, merge_schemas
from retina_assets.ingestion.landing import drops_for_partition
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.readers import DropReadError
from retina_assets.quality.checks import drop_freshness_policy
from retina_assets.storage.credentials import StorageCredentials
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.io_managers import RecordBatchStream


class LandingResource(dg.ConfigurableResource):
    """Where clients' drops land: a local folder, ``s3://bucket/prefix`` or ``abfs://container/prefix``.

    A client's drops are in ``<landing_uri>/<client>/`` unless its spec names its own ``landing``.
    """

    landing_uri: str
    credentials: StorageCredentials = StorageCredentials()

    def filesystem(self, client: ClientSpec) -> LakeFileSystem:
        uri = self.client_uri(client)
        return filesystem_for(uri, self.credentials.storage_options(uri))

    def client_uri(self, client: ClientSpec) -> str:
        return client.landing_uri(self.landing_uri)


PREVIOUS_LOOKBACK = 10


def previous_drop_schema(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> tuple[str | None, dict[str, str] | None]:
    """The recorded ``drop_schema`` of the latest earlier partition of ``key`` that has one (from the
    Dagster instance's event log), or ``(None, None)`` for the first drop."""
    earlier = sorted((p for p in instance.get_materialized_partitions(key) if p < partition), reverse=True)
    for candidate in earlier[:PREVIOUS_LOOKBACK]:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[candidate]), limit=1
        ).records
        mat = records[0].asset_materialization if records else None
        if mat is not None and "drop_schema" in mat.metadata:
            value = mat.metadata["drop_schema"].value
            if isinstance(value, dict):
                return candidate, {str(k): str(v) for k, v in value.items()}
    return None, None


def apply_drift_policy(
    context: dg.AssetExecutionContext, spec: DatasetSpec, report: DriftReport, what: str
) -> dict[str, Any]:
    """Act on ``report`` as ``spec.drift`` says; returns the materialization metadata describing it.

    ``fail`` raises :class:`dagster.Failure` (before anything is written) when there is drift.
    """
    meta = {
        "schema_drift": dg.MetadataValue.json({**report.to_dict(), "policy": spec.drift}),
        "schema_drift_summary": dg.MetadataValue.text(report.summary()),
    }
    if not report.has_drift:
        context.log.info(f"{what}: {report.summary()}")
        return meta
    if spec.drift == "fail":
        raise dg.Failure(
            f"{what}: {report.summary()}. The dataset's drift policy is 'fail', so nothing was written: "
            "update the client spec (columns, or drift: warn|accept) and re-run.",
            metadata=meta,
            allow_retries=False,
        )
    if spec.drift == "warn":
        context.log.warning(f"{what}: {report.summary()} (drift policy 'warn')")
    else:
        context.log.info(f"{what}: {report.summary()} (drift policy 'accept')")
    return meta


def build_raw_asset(
    client: ClientSpec, dataset: str, spec: DatasetSpec, partitions_def: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    """The raw asset of one client dataset."""

    @dg.asset(
        key=[client.client, f"raw_{dataset}"],
        group_name=client.client,
        partitions_def=partitions_def,
        io_manager_key="lake_io_manager",
        kinds={"parquet", spec.format},
        description=(
            f"{client.display_name or client.client}: `{dataset}` drops ({spec.format}, pattern "
            f"`{spec.pattern}`) landed as typed Parquet with the client's column names, plus "
            "`_source_file`, `_source_row` and `_raw_errors` (values that did not parse)."
        ),
        metadata={"retina/zone": "raw", "retina/dataset": dataset, "retina/canonical": spec.canonical},
        freshness_policy=drop_freshness_policy(spec),
    )
    def _raw(context: dg.AssetExecutionContext, landing: LandingResource) -> RecordBatchStream:
        partition = context.partition_key
        fs = landing.filesystem(client)
        landing_uri = landing.client_uri(client)
        drops = drops_for_partition(fs, landing_uri, dataset, spec, partition)
        if not drops:
            raise dg.Failure(
                f"no `{dataset}` drop for {partition} in {landing_uri} (pattern {spec.pattern!r})",
                allow_retries=False,
            )
        context.log.info(f"converting {len(drops)} drop(s): {[d.name for d in drops]}")
        try:
            conversion = DropConversion(drops, spec, fs, progress=context.log.info)
            drop_schemas = conversion.drop_schemas()
        except (DropReadError, SchemaMismatchError) as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        schema = merge_schemas(list(drop_schemas.values()))
        previous_partition, previous = previous_drop_schema(context.instance, context.asset_key, partition)
        report = compare_schemas(previous, schema, previous_partition)
        drift_meta = apply_drift_policy(context, spec, report, f"{client.client}/{dataset} [{partition}]")

        def batches():
            try:
                yield from conversion.batches()
            except DropReadError as exc:
                raise dg.Failure(str(exc), allow_retries=False) from None

        return RecordBatchStream(
            schema=conversion.schema,
            batches=batches(),
            input_paths=[d.uri for d in drops],
            metadata={
                "drop_files": dg.MetadataValue.json(
                    [{"name": d.name, "uri": d.uri, "bytes": d.size, "token": d.token} for d in drops]
                ),
                "drop_columns": dg.MetadataValue.json(conversion.stats.drop_columns),
                "extra_columns": dg.MetadataValue.json(conversion.extra_columns),
                "drop_schema": dg.MetadataValue.json(schema),
                "declared_types": dg.MetadataValue.json({n: c.type for n, c in spec.columns.items()}),
                **drift_meta,
            },
            after_write=lambda: {
                "rows_with_unparseable_values": dg.MetadataValue.int(conversion.stats.rows_with_errors),
                "rows_per_file": dg.MetadataValue.json(conversion.stats.rows_per_file),
                "conversion_seconds": dg.MetadataValue.float(round(conversion.stats.seconds, 3)),
            },
        )

    return _raw
