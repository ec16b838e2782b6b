"""Growing the asset graph of one client from its spec: the one place the client's Dagster parts are
assembled."""

from __future__ import annotations

import dagster as dg

from retina_assets.defs.features import build_feature_asset
from retina_assets.defs.gate import feature_automation_condition
from retina_assets.defs.jobs import ingest_job, revalidate_job
from retina_assets.defs.landing import build_landing_source
from retina_assets.defs.notebooks import build_notebook_asset, notebooks_for
from retina_assets.defs.partitions import partitions_for
from retina_assets.defs.raw import build_raw_asset
from retina_assets.defs.sensors import build_drop_sensor
from retina_assets.defs.validated import build_validated_asset
from retina_assets.features import FEATURES
from retina_assets.model.spec import ClientSpec
from retina_assets.notebooks import PRODUCTION_NOTEBOOKS


def build_client_definitions(spec: ClientSpec) -> dg.Definitions:
    """Assets, jobs and sensor of one client, all in the asset group named after the client."""
    partitions = partitions_for(spec)
    assets: list[dg.AssetsDefinition | dg.SourceAsset] = []
    for dataset in spec.datasets:
        assets.append(build_landing_source(spec, dataset, partitions))
        assets.append(build_raw_asset(spec, dataset, partitions))
        assets.append(build_validated_asset(spec, dataset, partitions))
    for feature in spec.features:
        assets.append(
            build_feature_asset(
                spec, FEATURES[feature], partitions, automation=feature_automation_condition()
            )
        )
    for notebook in notebooks_for(spec, PRODUCTION_NOTEBOOKS):
        assets.append(
            build_notebook_asset(spec, notebook, partitions, automation=feature_automation_condition())
        )
    job = ingest_job(spec, partitions)
    return dg.Definitions(
        assets=assets, jobs=[job, revalidate_job(spec)], sensors=[build_drop_sensor(spec, job)]
    )
