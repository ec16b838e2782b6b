"""Backfill a client over a date range from the command line: the same asset backfill the UI's "Materialize"
on a partition selection creates, for the daemon to run in a few ranged runs.

The backfill selects the client's raw, validated, rejected and feature assets (production notebooks keep
one run per day: each fits a model) over the days of the range that have a drop of every dataset in the
landing location (``--all-days``: every day of the range; a day without a drop then fails its run, and in
a ranged run the whole run). The backfill daemon cuts the selection into runs of at most the spec's
``backfill.partitions_per_run`` contiguous days and submits them through the run queue, one run of the
client at a time. Usage (records the backfill in the instance at ``$DAGSTER_HOME``; a running daemon,
``scripts/start.sh`` or ``dagster-daemon run``, executes it; the UI shows it under Runs -> Backfills)::

    python -m retina_assets.defs.backfill --client demo --from 2010-12-01 --to 2011-12-09

Exit status: 0 the backfill was created, 2 bad usage (unknown client, empty selection).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from dataclasses import dataclass

import dagster as dg

from retina_assets.catalog import load_clients
from retina_assets.defs.definitions import build_definitions
from retina_assets.defs.resources import LandingResource, StorageCredentials
from retina_assets.ingestion.landing import discover_drops
from retina_assets.model.naming import FEATURES as FEATURE_ZONE
from retina_assets.model.naming import RAW, REJECTED, VALIDATED, DatasetName
from retina_assets.model.spec import ClientSpec
from retina_assets.settings import LakeSettings


class BackfillError(ValueError):
    """The backfill cannot be created (unknown client, nothing to backfill)."""


@dataclass(frozen=True)
class PlannedBackfill:
    """What :func:`plan_backfill` selected."""

    client: str
    assets: list[dg.AssetKey]
    days: list[str]
    left_out: list[str]  # days of the range without a drop of every dataset


def backfill_assets(client: ClientSpec) -> list[dg.AssetKey]:
    """The client's assets a backfill materializes: raw, validated and rejected of every dataset, and its
    features (not its production notebooks)."""
    keys = [
        dg.AssetKey(DatasetName(zone, client.client, dataset).path)
        for dataset in client.datasets
        for zone in (RAW, VALIDATED, REJECTED)
    ]
    keys += [dg.AssetKey(DatasetName(FEATURE_ZONE, client.client, f).path) for f in client.features]
    return keys


def days_with_drops(client: ClientSpec, landing: LandingResource) -> set[str]:
    """The ``as_of_date`` days for which every dataset of ``client`` has a drop in its landing location."""
    listed = landing.filesystem(client).list_files(landing.client_uri(client))
    drops, _ = discover_drops(listed, client).ready(client)
    per_dataset: dict[str, set[str]] = {dataset: set() for dataset in client.datasets}
    for drop in drops:
        per_dataset[drop.dataset].add(drop.as_of_date)
    return set.intersection(*per_dataset.values())


def plan_backfill(
    client_name: str,
    start: dt.date,
    end: dt.date,
    settings: LakeSettings | None = None,
    all_days: bool = False,
) -> PlannedBackfill:
    """The assets and days a backfill of ``client_name`` from ``start`` to ``end`` (inclusive) selects."""
    settings = settings or LakeSettings.from_env()
    clients = {c.client: c for c in load_clients(settings.clients_dir)}
    if client_name not in clients:
        raise BackfillError(f"unknown client {client_name!r}; clients are {sorted(clients)}")
    client = clients[client_name]
    span = [
        start + dt.timedelta(days=i)
        for i in range((end - start).days + 1)
        if client.has_partition(start + dt.timedelta(days=i))
    ]
    days = [d.isoformat() for d in span]
    left_out: list[str] = []
    if not all_days:
        landing = LandingResource(landing_uri=settings.landing_uri, credentials=StorageCredentials.from_env())
        dropped = days_with_drops(client, landing)
        left_out = [d for d in days if d not in dropped]
        days = [d for d in days if d in dropped]
    if not days:
        raise BackfillError(
            f"no day of {start}..{end} to backfill for {client_name}"
            + (" (no day with a drop of every dataset; --all-days selects them anyway)" if left_out else "")
        )
    return PlannedBackfill(client_name, backfill_assets(client), days, left_out)


def launch_backfill(
    instance: dg.DagsterInstance, plan: PlannedBackfill, settings: LakeSettings | None = None
) -> str:
    """Record ``plan`` as an asset backfill in ``instance`` (what the UI does); returns its id. The daemon
    runs it."""
    from dagster._core.execution.backfill import PartitionBackfill

    graph = build_definitions(settings or LakeSettings.from_env()).resolve_asset_graph()
    backfill_id = uuid.uuid4().hex[:8]
    instance.add_backfill(
        PartitionBackfill.from_asset_partitions(
            backfill_id=backfill_id,
            asset_graph=graph,
            partition_names=plan.days,
            asset_selection=plan.assets,
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            all_partitions=False,
            title=f"{plan.client} {plan.days[0]}..{plan.days[-1]}",
            description=None,
            run_config=None,
        )
    )
    return backfill_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client", required=True)
    parser.add_argument("--from", dest="start", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--to", dest="end", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    parser.add_argument("--all-days", action="store_true", help="also the days without a drop")
    args = parser.parse_args(argv)
    if not os.environ.get("DAGSTER_HOME"):
        print("DAGSTER_HOME is not set: point it at the instance the UI uses (see README)", file=sys.stderr)
        return 2
    try:
        plan = plan_backfill(args.client, args.start, args.end, all_days=args.all_days)
    except BackfillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with dg.DagsterInstance.get() as instance:
        backfill_id = launch_backfill(instance, plan)
    print(
        f"backfill {backfill_id}: {plan.client}, {len(plan.days)} day(s) {plan.days[0]}..{plan.days[-1]}, "
        f"{len(plan.assets)} assets; the daemon runs it (UI: Runs -> Backfills)"
    )
    if plan.left_out:
        print(
            f"left out {len(plan.left_out)} day(s) without a drop of every dataset: {', '.join(plan.left_out)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
