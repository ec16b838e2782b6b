"""Where the data enters the lineage: one observable source asset per client dataset, ``<client>/landing_<dataset>``.

An observation lists the client's landing location, hashes each drop of the dataset (SHA-256) and records,
per ``as_of_date`` partition, the drops seen with their hashes (metadata ``drops``) and a data version made
from them (:func:`landing_data_version`). The raw asset of the dataset depends on it, so Dagster marks a raw
partition stale when a corrected drop changes its landing partition's data version, and fresh again once
it was rebuilt. Observations come from the UI (*Observe sources*) and from the drop
sensor, which reports one for each drop it starts a run for.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable

import dagster as dg

from retina_assets.defs.resources import LandingResource
from retina_assets.ingestion.landing import Drop, discover_drops
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.filesystem import LakeFileSystem

DATA_VERSION_TAG = "dagster/data_version"


def landing_key(client: ClientSpec, dataset: str) -> dg.AssetKey:
    """The landing source of one client dataset: ``[client, landing_<dataset>]``."""
    return dg.AssetKey([client.client, f"landing_{dataset}"])


def sha256_of_file(fs: LakeFileSystem, uri: str, size: int | None = None) -> str:
    """SHA-256 of a landing file, streamed (the filesystem's one hashing of stored bytes); ``size`` as
    listed lets a small object be read in one request."""
    return fs.sha256(uri, size=size)


def landing_data_version(drops: Iterable[tuple[str, str]]) -> str:
    """The data version of one landing partition: a hash of its drops' ``(name, sha256)``, in name order."""
    text = "\n".join(f"{name}:{sha}" for name, sha in sorted(drops))
    return hashlib.sha256(text.encode()).hexdigest()


def landing_observation(
    key: dg.AssetKey, partition: str, drops: list[tuple[Drop, str]]
) -> dg.AssetObservation:
    """The observation of one landing partition from its drops and their hashes."""
    return dg.AssetObservation(
        asset_key=key,
        partition=partition,
        tags={DATA_VERSION_TAG: landing_data_version((d.name, sha) for d, sha in drops)},
        metadata={
            "drops": dg.MetadataValue.json(
                [{"name": d.name, "uri": d.uri, "bytes": d.size, "sha256": sha} for d, sha in drops]
            ),
        },
    )


def build_landing_source(
    client: ClientSpec, dataset: str, partitions_def: dg.PartitionsDefinition
) -> dg.SourceAsset:
    """The observable landing source of one client dataset."""
    key = landing_key(client, dataset)
    spec = client.datasets[dataset]
    with warnings.catch_warnings():  # observable source assets are marked beta in Dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _landing_source(client, dataset, partitions_def, key, spec.pattern)


def _landing_source(
    client: ClientSpec, dataset: str, partitions_def: dg.PartitionsDefinition, key: dg.AssetKey, pattern: str
) -> dg.SourceAsset:
    @dg.observable_source_asset(
        key=key,
        group_name=client.client,
        partitions_def=partitions_def,
        description=(
            f"{client.display_name or client.client}: `{dataset}` drops as they land (pattern "
            f"`{pattern}`). Each observation records, per as_of_date, the drops seen and their SHA-256."
        ),
        metadata={"retina/zone": "landing", "retina/dataset": dataset},
    )
    def _observe(context: dg.OpExecutionContext, landing: LandingResource) -> dg.DataVersionsByPartition:
        fs = landing.filesystem(client)
        discovery = discover_drops(fs.list_files(landing.client_uri(client)), client)
        ready, _ = discovery.ready(client)
        by_partition: dict[str, list[tuple[Drop, str]]] = {}
        for drop in ready:
            if drop.dataset == dataset:
                by_partition.setdefault(drop.as_of_date, []).append(
                    (drop, sha256_of_file(fs, drop.uri, drop.size))
                )
        for partition, drops in sorted(by_partition.items()):
            # logged one by one to carry each partition's drops as metadata (DataVersionsByPartition cannot)
            context.log_event(landing_observation(key, partition, drops))
        context.log.info(f"{key.to_user_string()}: {len(by_partition)} partition(s) with drops observed")
        return dg.DataVersionsByPartition({})

    return _observe
