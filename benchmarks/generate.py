"""Generate a large demo-client drop: Online Retail repeated with new keys, in the client's drop format.

The demo client (``clients/demo.yaml``) sends semicolon-separated, Latin-1 CSV with decimal commas and
day-first timestamps (see :mod:`retina_assets.demo`). This module renders the 541,909 real order lines once
in that format and appends copies until the requested row count is reached. Every copy ``r >= 1`` gets new
keys, so the big drop has distinct orders and customers instead of exact duplicates:

* ``InvoiceNo``: the letter prefix is kept (``C`` = cancellation, ``A`` = adjustment) and ``r`` is put
  before the 6-digit number (``C536379`` -> ``C3536379``), unique across copies;
* ``CustomerID``: ``r`` is put before the 5-digit id (``17850`` -> ``317850``), empty ids stay empty.

The file is written under a hidden name and renamed into place, and a ``.meta.json`` beside it records the
row count and size, so a second call with the same row count reuses the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from retina_assets.demo import FULL, SAMPLE

DATA_DIR = Path(__file__).resolve().parent / ".data"
PARTITION = "2010-12-01"
DROP_NAME = f"orders_{PARTITION.replace('-', '')}.csv"


@dataclass(frozen=True)
class GeneratedDrop:
    """A generated drop file inside its own landing folder (``<landing>/demo/<DROP_NAME>``)."""

    path: Path
    landing: Path
    rows: int
    num_bytes: int
    partition: str = PARTITION


def source_file() -> Path:
    """The full Online Retail CSV (``$RETINA_SHARED_DATA`` or ``../shared/data`` beside the checkout), else
    the bundled 10-day sample."""
    shared = os.environ.get("RETINA_SHARED_DATA")
    if shared and (Path(shared) / "online_retail_uci" / FULL.name).exists():
        return Path(shared) / "online_retail_uci" / FULL.name
    return FULL if FULL.exists() else SAMPLE


def _client_format(base: pl.DataFrame) -> pl.DataFrame:
    """The source lines rendered as the demo client sends them (all strings)."""
    ts = pl.col("InvoiceDate")
    return base.with_columns(
        # "2010-12-01 08:26:00" -> "01/12/2010 08:26"
        pl.concat_str([ts.str.slice(8, 2), ts.str.slice(5, 2), ts.str.slice(0, 4)], separator="/")
        .add(pl.lit(" "))
        .add(ts.str.slice(11, 5))
        .alias("InvoiceDate"),
        pl.col("UnitPrice").str.replace(".", ",", literal=True),
    )


def _copy(frame: pl.DataFrame, r: int) -> pl.DataFrame:
    if r == 0:
        return frame
    prefix = pl.col("InvoiceNo").str.extract(r"^([A-Za-z]*)", 1)
    number = pl.col("InvoiceNo").str.slice(prefix.str.len_chars())
    customer = pl.col("CustomerID")
    return frame.with_columns(
        pl.concat_str([prefix, pl.lit(str(r)), number]).alias("InvoiceNo"),
        pl.when(customer.is_null() | (customer == ""))
        .then(customer)
        .otherwise(pl.lit(str(r)) + customer)
        .alias("CustomerID"),
    )


def _encode(frame: pl.DataFrame, header: bool) -> bytes:
    text = frame.write_csv(
        separator=";", line_terminator="\r\n", include_header=header, quote_style="necessary"
    )
    return text.encode("latin-1", errors="replace")


def generate(rows: int, data_dir: Path = DATA_DIR, source: Path | None = None) -> GeneratedDrop:
    """A drop of exactly ``rows`` order lines in ``data_dir/rows_<rows>/landing/demo/`` (reused if present)."""
    landing = data_dir / f"rows_{rows}" / "landing"
    target = landing / "demo" / DROP_NAME
    meta_path = target.with_suffix(".meta.json")
    if target.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("rows") == rows and meta.get("bytes") == target.stat().st_size:
            return GeneratedDrop(target, landing, rows, target.stat().st_size)
    target.parent.mkdir(parents=True, exist_ok=True)
    base = _client_format(pl.read_csv(source or source_file(), infer_schema=False))
    tmp = target.parent / f".{DROP_NAME}.tmp"
    written = 0
    with open(tmp, "wb") as out:
        r = 0
        while written < rows:
            chunk = _copy(base.head(rows - written), r)
            out.write(_encode(chunk, header=r == 0))
            written += chunk.height
            r += 1
    os.replace(tmp, target)
    size = target.stat().st_size
    # the meta file is not a drop: its name does not match the demo pattern
    meta_path.write_text(json.dumps({"rows": rows, "bytes": size, "source": str(source or source_file())}))
    return GeneratedDrop(target, landing, rows, size)
