"""One drop discovery for the sensor and the raw stage: the same files are drops of the same dataset and day,
on local disk, S3 and Azure; a drop's arrival is its listed last-modified time (never the change token,
which is an ETag on object stores); a badly named file never stops another day's conversion."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from retina_assets.catalog import load_client
from retina_assets.demo import SAMPLE, write_drops
from retina_assets.ingestion.landing import discover_drops, drops_for_partition
from retina_assets.ingestion.raw_stage import convert_partition
from retina_assets.model.spec import ClientSpec
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import FileInfo, filesystem_for
from retina_assets_tests.support.backends import BACKENDS, backend_root

DEMO = load_client(REPO_ROOT / "clients" / "demo.yaml")


def arrival_client() -> ClientSpec:
    """The demo client, but its drops are named ``orders.csv`` and dated by arrival, and complete as soon
    as they are listed (they are published atomically)."""
    orders = DEMO.datasets["orders"].model_copy(
        update={
            "pattern": r"orders(_\w+)?\.csv",
            "as_of_date": DEMO.datasets["orders"].as_of_date.model_copy(update={"source": "arrival"}),
        }
    )
    return DEMO.model_copy(
        update={
            "datasets": {"orders": orders},
            "start_date": dt.date(2000, 1, 1),
            "end_date": None,
            "completeness": DEMO.completeness.model_copy(update={"quiet_seconds": 0}),
        }
    )


def test_arrival_is_the_last_modified_time_not_the_change_token() -> None:
    modified = dt.datetime(2011, 1, 5, 23, 30, tzinfo=dt.UTC).timestamp()
    listing = [FileInfo("s3://b/landing/demo/orders.csv", 10, '"9b2cf535f27731c974343645a3985328"', modified)]
    found = discover_drops(listing, arrival_client())
    assert [(d.dataset, d.as_of_date) for d in found.drops] == [("orders", "2011-01-05")]


def test_days_not_over_yet_wait_and_days_outside_the_client_never_come() -> None:
    listing = [
        FileInfo("/l/demo/orders_20101201.csv", 1, "t", None),
        FileInfo("/l/demo/orders_20201201.csv", 1, "t", None),  # after the demo's end date
        FileInfo("/l/demo/orders_20101301.csv", 1, "t", None),  # no such date
        FileInfo("/l/demo/notes.txt", 1, "t", None),  # not a drop at all
    ]
    found = discover_drops(listing, DEMO)
    assert [d.as_of_date for d in found.drops] == ["2010-12-01", "2020-12-01"]
    assert list(found.bad_names) == ["/l/demo/orders_20101301.csv"]
    ready, waiting = found.ready(DEMO)
    assert [d.as_of_date for d in ready] == ["2010-12-01"]
    assert "not a partition of client demo" in waiting["/l/demo/orders_20201201.csv"]


def test_a_bad_file_of_another_day_does_not_stop_a_conversion(tmp_path: Path) -> None:
    write_drops(tmp_path, source=SAMPLE, days=1)
    (tmp_path / "demo" / "orders_20101301.csv").write_text("garbage")
    landing = str(tmp_path / "demo")
    prepared = convert_partition(filesystem_for(landing), landing, DEMO, "orders", "2010-12-01")
    assert [d.name for d in prepared.drops] == ["orders_20101201.csv"]
    assert sum(batch.num_rows for batch in prepared.stream.batches) > 1_000


@pytest.mark.parametrize("backend", BACKENDS)
def test_sensor_and_raw_stage_agree_on_arrival_dated_drops(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    source = write_drops(tmp_path / "src", source=SAMPLE, days=1)[0]
    landing = backend_root(request, backend, tmp_path, "landing") + "/demo"
    fs = filesystem_for(landing)
    staged = tmp_path / "orders.csv"
    staged.write_bytes(source.read_bytes())
    if backend == "local":
        os.makedirs(landing, exist_ok=True)
        yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).timestamp()
        os.utime(staged, (yesterday, yesterday))
    fs.publish_file(str(staged), f"{landing}/orders.csv", replace=False)
    client = arrival_client()
    listing = fs.list_files(landing)
    assert listing and all(info.modified is not None for info in listing)
    found = discover_drops(listing, client)
    assert len(found.drops) == 1
    day = found.drops[0].as_of_date
    assert day == dt.datetime.fromtimestamp(listing[0].modified, dt.UTC).date().isoformat()
    assert drops_for_partition(fs, landing, client, "orders", day) == found.drops
    prepared = convert_partition(fs, landing, client, "orders", day)
    assert sum(batch.num_rows for batch in prepared.stream.batches) > 1_000
