"""The demo client's raw data as a frame, for tests that validate without running the raw stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from retina_assets.model.naming import RAW_ERRORS, SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import load_client_spec
from retina_assets.settings import REPO_ROOT

# declared column type -> the pandas dtype the raw stage's Parquet reads back as
_DTYPES = {"int64": "int64", "float64": "float64", "timestamp": "datetime64[us]"}


def demo_raw_orders(source: Path) -> pd.DataFrame:
    """Online Retail lines (``source``, in the source file's own CSV format) typed as the demo client's raw
    stage types them: the columns keep their client names, those declared ``int64``/``float64``/
    ``timestamp`` in ``clients/demo.yaml`` get that type, the rest stay strings with empty as null. Lineage
    columns say which daily drop (``orders_YYYYMMDD.csv``) and which row of it each line is; no line has a
    conversion error."""
    columns = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"].columns
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    for name, column in columns.items():
        if column.type == "timestamp":
            frame[name] = pd.to_datetime(frame[name]).astype(_DTYPES[column.type])
        elif column.type in _DTYPES:
            frame[name] = frame[name].astype(_DTYPES[column.type])
    frame[SOURCE_FILE] = "orders_" + frame["InvoiceDate"].dt.strftime("%Y%m%d") + ".csv"
    frame[SOURCE_ROW] = frame.groupby(SOURCE_FILE).cumcount()
    frame[RAW_ERRORS] = None
    return frame
