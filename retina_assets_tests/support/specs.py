"""Client spec files for the spec tests: a good base spec (one ``orders`` dataset) to break on purpose."""

from __future__ import annotations

import textwrap
from pathlib import Path

GOOD_DATASET = """
datasets:
  orders:
    canonical: orders
    pattern: 'o_(?P<as_of_date>\\d{8})\\.csv'
    as_of_date: {from: filename, format: '%Y%m%d'}
    columns:
      id: {name: order_id}
      sku: {name: product_id}
      qty: {name: quantity, type: int64}
      price: {name: unit_price, type: float64}
      ts: {name: order_ts, type: timestamp}
"""


def spec_text(client: str = "acme", body: str = GOOD_DATASET) -> str:
    """The text of client ``client``'s spec file with the dataset(s) in ``body``."""
    return f"client: {client}\nstart_date: 2020-01-01\n{textwrap.dedent(body)}"


def write(folder: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``folder/name``; returns the path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
