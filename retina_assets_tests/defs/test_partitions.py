"""The client's partitions as the Dagster layer declares them are the days the Dagster-free core accepts
(``ClientSpec.has_partition``, used by drop discovery): the sensor never requests a missing partition."""

from __future__ import annotations

import datetime as dt

import pytest

from retina_assets.catalog import load_client
from retina_assets.defs.partitions import partitions_for
from retina_assets.settings import REPO_ROOT

DEMO = load_client(REPO_ROOT / "clients" / "demo.yaml")
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (dt.date(2010, 12, 1), dt.date(2011, 12, 10)),  # a closed range
        (TODAY - dt.timedelta(days=20), None),  # open: up to the last finished day
        (TODAY - dt.timedelta(days=20), TODAY + dt.timedelta(days=5)),  # end date in the future
    ],
)
def test_has_partition_matches_the_daily_partitions(start: dt.date, end: dt.date | None) -> None:
    spec = DEMO.model_copy(update={"start_date": start, "end_date": end})
    partitions = partitions_for(spec)
    last = end or TODAY
    day = start - dt.timedelta(days=3)
    while day <= last + dt.timedelta(days=3):
        assert spec.has_partition(day) == partitions.has_partition_key(day.isoformat()), day
        day += dt.timedelta(days=1)
