"""Growing the asset graph of one client from its spec."""

from __future__ import annotations

import dagster as dg

from retina_assets.clients.spec import ClientSpec
from retina_assets.features.order_summary import build_order_summary_asset
from retina_assets.ingestion.raw_assets import build_raw_asset
from retina_assets.quality.gate import feature_automation_condition
from retina_assets.quality.validated_assets import build_validated_asset
from retina_assets.sensors.drop_sensor import build_drop_sensor


def partitions_for(spec: ClientSpec) -> dg.DailyPartitionsDefinition:
    """Daily ``as_of_date`` partitions (``YYYY-MM-DD``) from the client's start date."""
    return dg.DailyPartitionsDefinition(
        start_date=spec.start_date.isoformat(),
        end_date=spec.end_date.isoformat() if spec.end_date else None,
        fmt="%Y-%m-%d",
    )


def build_client_definitions(spec: ClientSpec) -> dg.Definitions:
    """Assets, job and sensor of one client, all in the asset group named after the client."""
    partitions = partitions_for(spec)
    assets: list[dg.AssetsDefinition] = []
    for dataset, dataset_spec in spec.datasets.items():
        assets.append(build_raw_asset(spec, dataset, dataset_spec, partitions))
        assets.append(build_validated_asset(spec, dataset, dataset_spec, partitions, automation=None))
    orders = [name for name, d in spec.datasets.items() if d.canonical == "orders"]
    if "order_summary" in spec.features:
        assets.append(
            build_order_summary_asset(spec, orders[0], partitions, automation=feature_automation_condition())
        )
    job = dg.define_asset_job(
        name=f"{spec.client}_ingest",
        selection=dg.AssetSelection.groups(spec.client),
        partitions_def=partitions,
        description=f"Land, validate and build features for one as_of_date of client {spec.client}.",
    )
    revalidate = dg.define_asset_job(
        name=f"{spec.client}_revalidate",
        selection=dg.AssetSelection.assets(
            *[
                dg.AssetKey([spec.client, f"{zone}_{name}"])
                for name in spec.datasets
                for zone in ("validated", "rejected")
            ]
        ),
        description=(
            f"Re-validate one as_of_date of client {spec.client} from its recorded raw versions after a "
            "contract/rule/threshold change (reload the code location first): releases rows that now pass."
        ),
    )
    return dg.Definitions(assets=assets, jobs=[job, revalidate], sensors=[build_drop_sensor(spec, job)])
