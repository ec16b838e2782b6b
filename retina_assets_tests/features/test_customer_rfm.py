"""customer_rfm: the BTYD conventions on hand-made orders, and the history it is built from."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from retina_assets.features import FEATURES
from retina_assets.features.customer_rfm import customer_rfm
from retina_assets.features.registry import build_in_process
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import VersionedStore


def _orders(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"customer_id": pl.Utf8, "order_ts": pl.Datetime("us"), "line_amount": pl.Float64,
                "is_cancellation": pl.Boolean, "is_product": pl.Boolean},
        orient="row",
    )  # fmt: skip


def ts(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2011, 1, day, hour)


def test_rfm_follows_the_btyd_conventions() -> None:
    orders = _orders(
        [
            # a: first purchase on the 1st (two orders that day = one purchase), repeats on the 4th and 11th
            ("a", ts(1), 10.0, False, True), ("a", ts(1, 15), 5.0, False, True),
            ("a", ts(4), 20.0, False, True), ("a", ts(4), 7.0, False, False),   # postage: not a purchase
            ("a", ts(11), 40.0, False, True), ("a", ts(12), -40.0, True, True), # a return: ignored
            # b: one purchase only
            ("b", ts(5), 8.0, False, True),
            # c: only a cancellation and a line after the as_of_date: not a customer yet
            ("c", ts(6), -3.0, True, True), ("c", ts(25), 9.0, False, True),
            (None, ts(2), 99.0, False, True),                                    # no customer id
        ]
    )  # fmt: skip
    rows = customer_rfm(orders, "2011-01-20").to_dicts()
    assert rows == [
        {"customer_id": "a", "frequency": 2, "recency": 10.0, "T": 19.0, "monetary_value": 30.0,
         "first_purchase": dt.date(2011, 1, 1), "last_purchase": dt.date(2011, 1, 11), "purchase_value": 75.0},
        {"customer_id": "b", "frequency": 0, "recency": 0.0, "T": 15.0, "monetary_value": 0.0,
         "first_purchase": dt.date(2011, 1, 5), "last_purchase": dt.date(2011, 1, 5), "purchase_value": 8.0},
    ]  # fmt: skip
    # observed earlier, the later purchases do not exist yet
    assert (
        customer_rfm(orders, "2011-01-04")
        .filter(pl.col("customer_id") == "a")
        .row(0, named=True)["frequency"]
        == 1
    )


def test_history_build_reads_every_partition_given(tmp_path: Path) -> None:
    store = VersionedStore(str(tmp_path))
    refs = []
    for day in (1, 4, 11):
        table = _orders([("a", ts(day), 10.0 * day, False, True)]).to_arrow()
        version = store.write("validated", "x", "orders", f"2011-01-{day:02d}", table)
        refs.append(DatasetRef(version.path, version.content_hash, version.row_count, version.partition))
    feature = FEATURES["customer_rfm"]
    assert feature.history
    table, metadata = build_in_process(feature, {"orders": refs}, as_of_date="2011-01-20")
    assert table.schema == feature.schema
    assert table.to_pylist()[0]["frequency"] == 2 and table.to_pylist()[0]["monetary_value"] == 75.0
    assert metadata["history_partitions"] == 3 and metadata["history_first_partition"] == "2011-01-01"
    with pytest.raises(ValueError, match="as_of_date"):
        build_in_process(feature, {"orders": refs})
    with pytest.raises(TypeError, match="got several"):
        build_in_process(FEATURES["order_summary"], {"orders": refs})  # type: ignore[dict-item]
    assert isinstance(table, pa.Table)
