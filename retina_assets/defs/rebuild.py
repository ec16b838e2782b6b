"""Re-run from a recorded version: rebuild a historical version into the lake as a Dagster run.

The job ``retina_rebuild_version`` (run config ``ops: {rebuild_version: {config: {path: <version path>}}}``)
rebuilds the version at ``path`` from its recorded inputs (raw: the archived drops) with its recorded client
spec and engine (:func:`retina_assets.verify.restore`), writes it through the versioned store so it is the
partition's current version again, and records it as a materialization of its asset with the usual
metadata (path, content hash as data version, provenance with ``rebuilt_from``). A validated or rejected
version is rebuilt with its pair. Use it to restore a partition after a bad rule change; downstream assets
then show as stale until they are rebuilt from it.
"""

from collections.abc import Iterator

import dagster as dg

from retina_assets.defs.io_manager import version_metadata, version_tags
from retina_assets.defs.resources import LakeResource, SparkResource
from retina_assets.model.naming import DatasetName
from retina_assets.verify import CannotVerify, restore


class RebuildConfig(dg.Config):
    """Which version to rebuild: its path, as recorded on a materialization or listed by ``lake.versions``."""

    path: str


@dg.op(
    name="rebuild_version",
    out={},
    description="Rebuild one recorded version into the lake from its recorded inputs and spec.",
)
def rebuild_version(
    context: dg.OpExecutionContext, config: RebuildConfig, lake: LakeResource, spark: SparkResource
) -> Iterator[dg.AssetMaterialization]:
    try:
        recorded, written = restore(
            lake.store().lake_uri, config.path, run_id=context.run_id, spark=spark.session,
            storage_options=lake.storage_options(),
        )  # fmt: skip
    except CannotVerify as exc:
        raise dg.Failure(f"cannot rebuild {config.path}: {exc}", allow_retries=False) from None
    for version in written:
        name = DatasetName(version.zone, version.client, version.dataset)
        same = version.content_hash == recorded.content_hash if version.zone == recorded.zone else None
        context.log.info(f"{name} [{version.partition}]: rebuilt {version.path}")
        yield dg.AssetMaterialization(
            asset_key=dg.AssetKey(name.path),
            partition=version.partition,
            metadata={
                **version_metadata(version),
                "rebuilt_from": dg.MetadataValue.path(recorded.path),
                **({"matches_recorded": dg.MetadataValue.bool(same)} if same is not None else {}),
            },
            tags=version_tags(version),
        )


@dg.job(
    name="retina_rebuild_version",
    description="Rebuild a historical version into the lake from its recorded inputs and spec (config: path).",
)
def retina_rebuild_version() -> None:
    rebuild_version()
