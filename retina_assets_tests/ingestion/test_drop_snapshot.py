"""What a raw run converts is exactly one complete version of each drop: a run never starts on a file that
is still being uploaded (whoever starts it), every drop is read from one immutable snapshot, and a run the
sensor started converts the content the sensor hashed, or fails naming the file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import dagster as dg
import pytest

from retina_assets.catalog import load_clients
from retina_assets.definitions import build_definitions
from retina_assets.defs.client import build_client_definitions
from retina_assets.ingestion.landing import IncompleteDropError
from retina_assets.ingestion.raw_stage import convert_partition
from retina_assets.ingestion.snapshot import DropChangedError, snapshot_file
from retina_assets.settings import LakeSettings
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for

SPEC = """
client: acme
start_date: 2024-01-01
completeness: {completeness}
datasets:
  orders:
    canonical: orders
    pattern: 'orders_(?P<as_of_date>\\d{{4}}-\\d{{2}}-\\d{{2}})\\.csv'
    columns:
      id:    {{name: order_id}}
      sku:   {{name: product_id}}
      qty:   {{name: quantity, type: int64}}
      price: {{name: unit_price, type: float64}}
      ts:    {{name: order_ts, type: timestamp}}
"""
DAY = "2024-01-01"
NAME = f"orders_{DAY}.csv"


def rows_text(count: int, qty: int = 1) -> str:
    lines = [f"{i},A,{qty},1.5,2024-01-01 10:00:00" for i in range(count)]
    return "id,sku,qty,price,ts\n" + "\n".join(lines) + "\n"


def landed(tmp_path: Path, text: str, age_seconds: float = 3600, completeness: str = "{}") -> LakeSettings:
    """A lake whose client ``acme`` has one ``orders`` drop for :data:`DAY`, last modified ``age_seconds``
    ago."""
    clients, landing = tmp_path / "clients", tmp_path / "landing" / "acme"
    clients.mkdir(exist_ok=True)
    landing.mkdir(parents=True, exist_ok=True)
    (clients / "acme.yaml").write_text(SPEC.format(completeness=completeness))
    drop = landing / NAME
    drop.write_text(text)
    then = time.time() - age_seconds
    os.utime(drop, (then, then))
    return LakeSettings(str(tmp_path / "lake"), str(tmp_path / "landing"), str(clients))


def convert(settings: LakeSettings, **kwargs: object):
    client = load_clients(settings.clients_dir)[0]
    landing = f"{settings.landing_uri}/acme"
    return convert_partition(filesystem_for(landing), landing, client, "orders", DAY, **kwargs)  # type: ignore[arg-type]


def materialize(settings: LakeSettings, instance: dg.DagsterInstance, tags: dict[str, str] | None = None):
    client = load_clients(settings.clients_dir)[0]
    return dg.materialize(
        build_client_definitions(client).assets,
        selection=["acme/raw_orders"],
        partition_key=DAY,
        instance=instance,
        resources=build_definitions(settings).resources,
        raise_on_error=False,
        tags=tags,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    (event,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return event.step_failure_data.error.message  # type: ignore[union-attr]


# --- completeness, however the run starts ------------------------------------------------------------


def test_a_manual_run_refuses_a_drop_still_in_its_quiet_period(tmp_path: Path, instance) -> None:
    settings = landed(tmp_path, rows_text(10), age_seconds=1)  # written a second ago: maybe still uploading
    result = materialize(settings, instance)
    assert not result.success
    message = failure_message(result)
    assert f"{NAME}: not complete: it may still be uploading" in message
    assert "quiet period is 30s" in message
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))
    os.utime(tmp_path / "landing" / "acme" / NAME, (time.time() - 60,) * 2)
    assert materialize(settings, instance).success


def test_in_marker_mode_a_manual_run_waits_for_the_marker(tmp_path: Path) -> None:
    settings = landed(tmp_path, rows_text(10), completeness="{mode: marker}")
    with pytest.raises(IncompleteDropError, match=rf"{NAME}: not complete: no marker file {NAME}\.done"):
        convert(settings)
    (tmp_path / "landing" / "acme" / f"{NAME}.done").write_text("")
    assert sum(b.num_rows for b in convert(settings).stream.batches) == 10


def test_a_drop_of_another_day_still_uploading_does_not_hold_up_this_one(tmp_path: Path) -> None:
    settings = landed(tmp_path, rows_text(10))
    (tmp_path / "landing" / "acme" / "orders_2024-01-02.csv").write_text("id,sku,qty,pr")  # half uploaded
    assert sum(b.num_rows for b in convert(settings).stream.batches) == 10


# --- one immutable snapshot ---------------------------------------------------------------------------


def test_a_drop_rewritten_during_the_conversion_is_converted_as_it_was(tmp_path: Path) -> None:
    settings = landed(tmp_path, rows_text(2_000, qty=1))
    prepared = convert(settings)  # the drop is opened and checked here; rows are read while iterating
    (tmp_path / "landing" / "acme" / NAME).write_text(rows_text(3, qty=9))  # the client overwrites it
    quantities = [q for batch in prepared.stream.batches for q in batch.column("qty").to_pylist()]
    assert quantities == [1] * 2_000
    (meta,) = prepared.stream.metadata["drop_files"]
    assert meta["sha256"] == hashlib.sha256(rows_text(2_000, qty=1).encode()).hexdigest()


class _GrowingWhileRead(LakeFileSystem):
    """A local filesystem on which the client appends to a file right after its first block is read."""

    @contextlib.contextmanager
    def open_read(self, uri: str) -> Iterator[IO[bytes]]:
        with super().open_read(uri) as fh:
            first = fh.read(4)
            with open(uri, "a") as writer:
                writer.write("99,Z,1,1.0,2024-01-01 12:00:00\n")
            fh.seek(0)
            assert first
            yield fh


def test_a_drop_that_changes_while_it_is_copied_is_refused(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    drop = landing / NAME
    drop.write_text(rows_text(5))
    os.utime(drop, (time.time() - 3600,) * 2)
    with pytest.raises(DropChangedError, match=rf"{NAME}: the file changed while it was being read"):
        snapshot_file(_GrowingWhileRead(str(landing)), str(drop), str(tmp_path))


def test_a_sensor_run_fails_when_the_drop_is_not_what_the_sensor_hashed(tmp_path: Path, instance) -> None:
    settings = landed(tmp_path, rows_text(10))
    seen = hashlib.sha256(rows_text(11).encode()).hexdigest()  # the sensor hashed an earlier upload
    tags = {"retina/dataset": "orders", "retina/drop": NAME, "retina/sha256": seen}
    result = materialize(settings, instance, tags)
    assert not result.success
    message = failure_message(result)
    assert f"{NAME}: its content is not the content this run was started for (sha256 {seen[:12]}" in message
    actual = hashlib.sha256(rows_text(10).encode()).hexdigest()
    assert materialize(settings, instance, {**tags, "retina/sha256": actual}).success


def test_a_sensor_run_fails_when_its_drop_is_gone(tmp_path: Path) -> None:
    settings = landed(tmp_path, rows_text(10))
    with pytest.raises(
        DropChangedError, match=r"orders_2024-01-01_v2\.csv: this run was started for this drop"
    ):
        convert(settings, expected_sha256={"orders_2024-01-01_v2.csv": "0" * 64})
