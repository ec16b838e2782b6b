"""The ``<client>/raw_<dataset>`` assets: one drop partition landed as typed, immutable Parquet."""

import dagster as dg

from retina_assets.clients.spec import ClientSpec, DatasetSpec
from retina_assets.ingestion.coercion import SchemaMismatchError
from retina_assets.ingestion.landing import drops_for_partition
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.readers import DropReadError
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.io_managers import RecordBatchStream


class LandingResource(dg.ConfigurableResource):
    """Where clients' drops land: a local folder, ``s3://bucket/prefix`` or ``abfs://container/prefix``.

    A client's drops are in ``<landing_uri>/<client>/`` unless its spec names its own ``landing``.
    """

    landing_uri: str

    def filesystem(self, client: ClientSpec) -> LakeFileSystem:
        return filesystem_for(self.client_uri(client))

    def client_uri(self, client: ClientSpec) -> str:
        return client.landing_uri(self.landing_uri)


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
        except (DropReadError, SchemaMismatchError) as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None

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
            },
            after_write=lambda: {
                "rows_with_unparseable_values": dg.MetadataValue.int(conversion.stats.rows_with_errors),
                "rows_per_file": dg.MetadataValue.json(conversion.stats.rows_per_file),
                "conversion_seconds": dg.MetadataValue.float(round(conversion.stats.seconds, 3)),
            },
        )

    return _raw
