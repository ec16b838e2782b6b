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
