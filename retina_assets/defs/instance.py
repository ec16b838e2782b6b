"""What the Dagster instance knows about an asset partition: its latest materialization and what it recorded.

The one query of "the latest materialization of this asset partition", used by the IO manager (which
version to load), the gate (failed blocking checks) and the raw asset (the previous drop schema).
"""

from __future__ import annotations

from typing import Any

import dagster as dg


def latest_materialization_record(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dg.EventLogRecord | None:
    """The event-log record (storage id, run, time, event) of the latest materialization of ``key`` for
    ``partition``, or ``None``."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0] if records else None


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str
) -> dg.AssetMaterialization | None:
    """The latest materialization of ``key`` for ``partition`` in the instance's event log, or ``None``."""
    record = latest_materialization_record(instance, key, partition)
    return record.asset_materialization if record is not None else None


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> dict[str, Any]:
    """The metadata values (plain Python values) of :func:`latest_materialization`; ``{}`` if none."""
    materialization = latest_materialization(instance, key, partition)
    if materialization is None:
        return {}
    return {name: entry.value for name, entry in materialization.metadata.items()}


def latest_materializations_up_to(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str, page: int = 1000
) -> dict[str, dg.AssetMaterialization]:
    """Partition -> its latest materialization of ``key``, for every partition up to and including
    ``partition`` (daily keys ``YYYY-MM-DD`` order as strings), oldest partition first."""
    latest: dict[str, dg.AssetMaterialization] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key), limit=page, cursor=cursor, ascending=False
        )
        for record in result.records:
            materialization = record.asset_materialization
            key_of = materialization.partition if materialization is not None else None
            if key_of is not None and key_of <= partition and key_of not in latest:
                latest[key_of] = materialization  # newest first: the first one seen is the latest
        if not result.has_more:
            break
        cursor = result.cursor
    return dict(sorted(latest.items()))
