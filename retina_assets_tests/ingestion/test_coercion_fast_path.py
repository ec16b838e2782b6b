"""The fast path of raw coercion gives the same results as the plain rules: ``coerce_batch`` parses
optimistically and falls back to the full rules per column, and these tests pin what it must still
guarantee (types, values as sent, lineage, and the reason for each value it cannot read)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from retina_assets.ingestion.coercion import coerce_batch, raw_schema
from retina_assets.model.naming import RAW_ERRORS, SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import load_client_spec
from retina_assets.settings import REPO_ROOT


@pytest.fixture
def orders_spec():
    return load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]


def _batch(columns: dict[str, list[str | None]]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns, schema=pa.schema([(k, pa.string()) for k in columns]))


def test_clean_batch_takes_the_fast_path_and_keeps_strings_as_sent(orders_spec) -> None:
    schema = raw_schema(orders_spec)
    batch = _batch(
        {
            "InvoiceNo": ["536365", "C536379"],
            "StockCode": ["85123A", "D"],
            "Quantity": ["6", "-1"],
            "InvoiceDate": ["01/12/2010 08:26", "01/12/2010 09:41"],
            "UnitPrice": ["2,55", "27,5"],
            "CustomerID": ["17850", None],
            "Country": ["United Kingdom", "EIRE"],
        }
    )
    out = coerce_batch(batch, orders_spec, schema, "landing/orders_20101201.csv", 10)
    assert out.schema == schema
    rows = out.to_pylist()
    assert [r["Quantity"] for r in rows] == [6, -1]
    assert [r["UnitPrice"] for r in rows] == [2.55, 27.5]
    assert rows[0]["InvoiceDate"] == dt.datetime(2010, 12, 1, 8, 26)
    assert [r["CustomerID"] for r in rows] == ["17850", None]
    assert [r["Description"] for r in rows] == [None, None]  # optional column absent from the drop
    assert [r[SOURCE_FILE] for r in rows] == ["landing/orders_20101201.csv"] * 2
    assert [r[SOURCE_ROW] for r in rows] == [10, 11]
    assert out.column(RAW_ERRORS).null_count == 2


def test_values_the_fast_path_cannot_read_fall_back_to_the_full_rules(orders_spec) -> None:
    schema = raw_schema(orders_spec)
    batch = _batch(
        {
            "InvoiceNo": ["1", "2", "3", "4"],
            "StockCode": ["a", "b", "c", "d"],
            "Quantity": [" 7 ", "17850,0", "1,5", "x"],
            "InvoiceDate": [" 01/12/2010 08:26", "01/12/2010 08:26:59", "bad", "01/12/2010 08:26"],
            "UnitPrice": [" 3,5", "   ", "abc", "1,0"],
            "CustomerID": ["1", "2", "3", "4"],
            "Country": ["UK"] * 4,
        }
    )
    rows = coerce_batch(batch, orders_spec, schema, "f.csv", 1).to_pylist()
    assert [r["Quantity"] for r in rows] == [7, 17850, None, None]
    assert rows[0]["InvoiceDate"] == dt.datetime(2010, 12, 1, 8, 26)
    assert rows[1]["InvoiceDate"] == dt.datetime(2010, 12, 1, 8, 26, 59)
    assert rows[2]["InvoiceDate"] is None
    assert [r["UnitPrice"] for r in rows] == [3.5, None, None, 1.0]
    assert rows[0][RAW_ERRORS] is None and rows[1][RAW_ERRORS] is None  # blank is null, not an error
    assert rows[2][RAW_ERRORS] == (
        "Quantity: cannot read 1,5 as int64; InvoiceDate: cannot read bad as timestamp; "
        "UnitPrice: cannot read abc as float64"
    )
    assert rows[3][RAW_ERRORS] == "Quantity: cannot read x as int64"


def test_typed_source_columns_are_cast_and_extras_kept_as_text(orders_spec) -> None:
    schema = raw_schema(orders_spec, ["Channel"])
    batch = pa.RecordBatch.from_pydict(
        {
            "InvoiceNo": [536365, 536366],
            "StockCode": ["a", "b"],
            "Quantity": [6.0, 2.5],
            "InvoiceDate": ["x", None],
            "UnitPrice": [1, 2],
            "Country": ["UK", "UK"],
            "Channel": [3, None],
        }
    )
    rows = coerce_batch(batch, orders_spec, schema, "f.json", 1).to_pylist()
    assert [r["InvoiceNo"] for r in rows] == ["536365", "536366"]
    assert [r["UnitPrice"] for r in rows] == [1.0, 2.0]
    assert [r["Channel"] for r in rows] == ["3", None]
    # 6.0 is exactly 6; 2.5 is no integer: flagged, never truncated to 2
    assert [r["Quantity"] for r in rows] == [6, None]
    assert rows[0][RAW_ERRORS] == "InvoiceDate: cannot read x as timestamp"
    assert rows[1][RAW_ERRORS] == "Quantity: cannot read 2.5 as int64"
