"""The partitions of a client's assets: one per ``as_of_date`` day."""

from __future__ import annotations

import dagster as dg

from retina_assets.model.spec import ClientSpec


def partitions_for(spec: ClientSpec) -> dg.DailyPartitionsDefinition:
    """Daily ``as_of_date`` partitions (``YYYY-MM-DD``) from the client's start date; the same days as
    :meth:`ClientSpec.has_partition <retina_assets.model.spec.ClientSpec.has_partition>`."""
    return dg.DailyPartitionsDefinition(
        start_date=spec.start_date.isoformat(),
        end_date=spec.end_date.isoformat() if spec.end_date else None,
        fmt="%Y-%m-%d",
    )


# Runs of one client partition carry this tag; dagster.yaml's `tag_concurrency_limits` lets the run queue
# start at most one run per value at a time (the storage commit check still guards writers outside it).
PARTITION_LOCK_TAG = "retina/client_partition"


def partition_lock_tags(client: str, partition: str) -> dict[str, str]:
    """The run tags that put a run of ``client``'s ``partition`` in its one-at-a-time queue lane."""
    return {PARTITION_LOCK_TAG: f"{client}.{partition}"}
