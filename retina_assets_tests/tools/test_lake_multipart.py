"""The lake API on multi-part versions: current data, one partition, a version by hash prefix or by its
folder, time travel, history, pins and lineage, in pandas/polars/arrow and Spark; a current-view file or a
single part loaded by path is checked against its own bytes' hash."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pyarrow as pa
import pytest

from retina_assets import lake as lake_api
from retina_assets.storage import paths
from retina_assets.storage.integrity import ContentHashMismatchError
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.multipart import rows, write_parts

DAY1, DAY2 = "2011-01-04", "2011-01-05"
NAME = "demo/validated_orders"


@pytest.fixture
def filled(tmp_path: Path) -> tuple[lake_api.Lake, dict[str, object]]:
    """DAY1: a 3-part version, then a single file, then a 2-part version; DAY2: a 2-part version."""
    store = VersionedStore(str(tmp_path / "lake"))
    first = write_parts(store, [rows(0, 3), rows(3, 3), rows(6, 3)], DAY1)
    time.sleep(0.01)
    between = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    single = store.write("validated", "demo", "orders", DAY1, rows(100, 2))
    last = write_parts(store, [rows(200, 2), rows(202, 3)], DAY1)
    other = write_parts(store, [rows(300, 1), rows(301, 1)], DAY2)
    return lake_api.Lake(store.lake_uri), {
        "first": first, "single": single, "last": last, "other": other, "between": between,
    }  # fmt: skip


def _ids(frame) -> list[int]:
    return sorted(int(x) for x in frame["customer_id"])


def test_current_partition_version_and_time_travel(filled) -> None:
    lake, made = filled
    current = lake.load(NAME)
    assert _ids(current) == [200, 201, 202, 203, 204, 300, 301]
    assert sorted(set(current["as_of_date"])) == [DAY1, DAY2]
    assert _ids(lake.load(NAME, partition=DAY1, as_="polars")) == [200, 201, 202, 203, 204]
    arrow = lake.load(NAME, version=made["first"].content_hash[:10], as_="arrow")
    assert arrow.drop_columns("as_of_date").equals(rows(0, 9))
    then = lake.load(NAME, as_of=made["between"], partition=DAY1)
    assert _ids(then) == list(range(9))
    by_path = lake.load(made["first"].path, as_="arrow")  # a folder, exactly as stored
    assert by_path.equals(rows(0, 9)) and "as_of_date" not in by_path.column_names


def test_view_files_and_parts_load_by_path_checked_against_their_own_hash(filled) -> None:
    lake, made = filled
    last = made["last"]
    view = list(lake.store.view_files(last))
    assert [lake.version_of(uri).content_hash for uri in view] == [last.content_hash] * 2
    assert _ids(lake.load(view[1])) == [202, 203, 204]  # the view's second file: the version's second part
    part = paths.join(made["first"].path, made["first"].parts[2]["name"])
    assert lake.version_of(part).content_hash == made["first"].content_hash
    assert _ids(lake.load(part)) == [6, 7, 8]
    Path(view[1]).chmod(0o644)
    Path(view[1]).write_bytes(Path(view[0]).read_bytes())  # a view file changed by hand
    with pytest.raises(ContentHashMismatchError, match="part-1.parquet"):
        lake.load(view[1])


def test_history_pins_and_lineage(filled, tmp_path: Path) -> None:
    lake, made = filled
    store = lake.store
    derived = store.write(
        "features", "demo", "order_summary", DAY1, pa.table({"n": [1]}), input_paths=[made["first"].path]
    )
    lake.pin(made["first"].path, "trained model v1 on it")
    assert made["first"].content_hash in store.pins("validated", "demo", "orders", DAY1)
    history = lake.history(NAME, partition=DAY1)
    assert [e.action for e in history] == ["commit", "commit", "commit", "pin"]
    assert [v.parts is not None for v in lake.versions(NAME, partition=DAY1)] == [True, False, True]
    chain = lake.lineage(derived.path)
    assert [getattr(step, "content_hash", step) for step in chain] == [
        derived.content_hash,
        made["first"].content_hash,
    ]


def test_load_as_spark(filled, spark_local) -> None:
    lake, made = filled
    frame = lake.load(NAME, as_="spark", spark=spark_local)
    got = sorted((r["customer_id"], r["as_of_date"]) for r in frame.collect())
    assert got == [(i, DAY1) for i in range(200, 205)] + [(300, DAY2), (301, DAY2)]
    old = lake.load(NAME, version=made["first"].content_hash, as_="spark", spark=spark_local)
    assert sorted(r["customer_id"] for r in old.collect()) == list(range(9))
    folder = lake.load(made["first"].path, as_="spark", spark=spark_local)
    assert folder.columns == ["customer_id", "amount", "note"]  # exactly as stored: no inferred column
    assert sorted(r["customer_id"] for r in folder.collect()) == list(range(9))
