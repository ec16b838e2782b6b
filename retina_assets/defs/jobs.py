"""The jobs of a client, and run config that puts a run on one engine."""

from __future__ import annotations

from typing import Any

import dagster as dg

from retina_assets.defs.partitions import client_lock_tags
from retina_assets.engines.stages import check_engine
from retina_assets.features import FEATURES
from retina_assets.model.naming import REJECTED, VALIDATED, DatasetName
from retina_assets.model.spec import ClientSpec


def ingest_job(
    client: ClientSpec, partitions_def: dg.PartitionsDefinition
) -> dg.UnresolvedAssetJobDefinition:
    """``<client>_ingest``: land, validate and build features for one ``as_of_date`` (what the drop sensor
    runs, with the assets of the dropped dataset selected)."""
    return dg.define_asset_job(
        name=f"{client.client}_ingest",
        # production notebooks (kind "jupyter": model fits) are not part of ingestion: they are
        # materialized from the UI or by their automation condition, not on every drop
        selection=dg.AssetSelection.groups(client.client) - dg.AssetSelection.kind("jupyter"),
        partitions_def=partitions_def,
        description=f"Land, validate and build features for one as_of_date of client {client.client}.",
        # one process for the whole run: the code location's executor (see defs.definitions)
        # the client's queue lane (a PartitionedConfig cannot set it: Dagster refuses one on a job whose
        # assets take ranged runs)
        tags=client_lock_tags(client.client),
    )


def revalidate_job(client: ClientSpec) -> dg.UnresolvedAssetJobDefinition:
    """``<client>_revalidate``: the validated and rejected assets of every dataset, from the recorded raw
    versions, with the spec as it is now."""
    keys = [
        dg.AssetKey(DatasetName(zone, client.client, dataset).path)
        for dataset in client.datasets
        for zone in (VALIDATED, REJECTED)
    ]
    return dg.define_asset_job(
        name=f"{client.client}_revalidate",
        selection=dg.AssetSelection.assets(*keys),
        description=(
            f"Re-validate one as_of_date of client {client.client} from its recorded raw versions after a "
            "contract/rule/threshold change (reload the code location first): releases rows that now pass."
        ),
    )


def engine_op_names(client: ClientSpec) -> list[str]:
    """Names of the client's steps that take an engine config (validation per dataset, features)."""
    names = [f"{client.client}__validate_{dataset}" for dataset in client.datasets]
    # history features run in-process whatever the engine (see defs.features)
    names += [f"{client.client}__{feature}" for feature in client.features if not FEATURES[feature].history]
    return names


def engine_run_config(client: ClientSpec, engine: str) -> dict[str, Any]:
    """Run config that puts every engine-aware step of ``client`` on ``engine`` for one run."""
    check_engine(engine)
    return {"ops": {name: {"config": {"engine": engine}} for name in engine_op_names(client)}}
