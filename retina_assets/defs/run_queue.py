"""The run queue's client lanes: every queued run that writes one client's assets carries the client's lock tag.

Runs of the ingest job, the drop sensor and re-validation set the tag themselves. Runs launched from the
asset graph (Materialize in the UI, a backfill's runs from the backfill daemon, ``dagster asset
materialize``) go through Dagster's implicit asset job, which sets no tags of ours; this run coordinator
adds the tag when such a run is submitted, before it is queued, so ``dagster.yaml``'s
``tag_concurrency_limits`` holds a ranged backfill run and a single-day run of the same client apart.
Configured in ``dagster.yaml`` (``run_coordinator``); otherwise it is Dagster's queued run coordinator.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext

from retina_assets.defs.partitions import CLIENT_LOCK_TAG, client_lock_tags


def run_clients(run: dg.DagsterRun) -> set[str]:
    """The clients whose assets a run selects (the first part of every asset key is the client), or the
    client of a ``<client>_ingest`` / ``<client>_revalidate`` job run; empty for runs of no client."""
    keys = set(run.asset_selection or ()) | {check.asset_key for check in run.asset_check_selection or ()}
    clients = {key.path[0] for key in keys if len(key.path) > 1}
    if not clients:
        for suffix in ("_ingest", "_revalidate"):
            if run.job_name.endswith(suffix):
                clients.add(run.job_name.removesuffix(suffix))
    return clients


def lane_tags(run: dg.DagsterRun) -> dict[str, str]:
    """The lock tag a run should carry: its client's, when it writes exactly one client's assets and has
    none yet. A run over several clients cannot hold several lanes (one value per tag); it gets none and
    only the storage commit check guards it."""
    if CLIENT_LOCK_TAG in run.tags:
        return {}
    clients = run_clients(run)
    return client_lock_tags(next(iter(clients))) if len(clients) == 1 else {}


class ClientLaneRunCoordinator(QueuedRunCoordinator):
    """Dagster's queued run coordinator that first tags each run with its client's lane (:func:`lane_tags`)."""

    def submit_run(self, context: SubmitRunContext) -> dg.DagsterRun:
        tags = lane_tags(context.dagster_run)
        if tags:
            self._instance.add_run_tags(context.dagster_run.run_id, tags)
            run = self._instance.get_run_by_id(context.dagster_run.run_id)
            context = SubmitRunContext(run or context.dagster_run.with_tags(tags), context.workspace)
        return super().submit_run(context)
