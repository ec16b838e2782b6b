"""Running the demo client's job in-process and reading what it materialized."""

from __future__ import annotations

import dagster as dg

from retina_assets.definitions import build_definitions
from retina_assets_tests.support.lake_env import LakeEnv


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Asset key (``client/asset``) -> metadata values of each materialization in a run result."""
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def run_partition(env: LakeEnv, instance: dg.DagsterInstance, partition: str) -> dict[str, dict]:
    """Run the demo ingest job for one partition; return each asset's materialization metadata."""
    defs = build_definitions(env.settings)
    result = defs.resolve_job_def("demo_ingest").execute_in_process(
        partition_key=partition, instance=instance
    )
    assert result.success
    return materializations(result)
