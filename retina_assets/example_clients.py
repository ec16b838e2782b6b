"""Drop writers for the example clients other than ``demo``: each renders real data from ``shared/data``
(or the small sample bundled in ``sample_data/``) in the shape its client spec declares.

* ``completejourney`` (``clients/completejourney.yaml``): 84.51 Complete Journey grocery transactions as one
  JSON Lines file per day (``transactions_YYYY-MM-DD.jsonl``, ids as strings, ISO timestamps), and the
  product master once, as an Excel workbook (``products_YYYYMMDD.xlsx``, sheet ``Products``).
* ``cdnow`` (``clients/cdnow.yaml``): CDNOW CD-store purchases as whitespace-aligned text files, one per day
  (``CDNOW_YYYYMMDD.txt``, CRLF), in the layout of the original ``CDNOW_master.txt`` (see
  :func:`cdnow_layout` for the three columns the client's export adds).

Every file is written to a hidden temporary name and renamed into place (no sensor sees half a file), and
existing drops are left alone, so writing is safe to repeat.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from retina_assets.settings import REPO_ROOT

SHARED = Path(os.environ.get("RETINA_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")
SAMPLES = REPO_ROOT / "sample_data"
CJ_SAMPLE = SAMPLES / "completejourney" / "transactions_2017-01-01_2017-01-14.csv.gz"
CJ_PRODUCTS_SAMPLE = SAMPLES / "completejourney" / "products_referenced.csv.gz"
CJ_FULL = SHARED / "completejourney_8451" / "transactions_sample.csv.gz"
CJ_PRODUCTS_FULL = SHARED / "completejourney_8451" / "products.csv.gz"
CDNOW_SAMPLE = SAMPLES / "cdnow" / "CDNOW_master_1997-01-01_1997-01-14.txt.gz"
CDNOW_FULL = SHARED / "cdnow_lifetimes" / "CDNOW_master.txt.gz"


def delivered_after(day: str) -> float:
    """When a replayed drop for ``day`` (``YYYY-MM-DD`` or ``YYYYMMDD``) was delivered: the end of that day
    (UTC). The example writers replay past deliveries, so each file gets that modification time and counts
    as complete (past its client's quiet period) as soon as it is written."""
    date = dt.date.fromisoformat(day if "-" in day else f"{day[:4]}-{day[4:6]}-{day[6:]}")
    return dt.datetime.combine(date + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()


def _publish(dest: Path, write: Callable[[Path], None], day: str | None = None) -> bool:
    """Write ``dest`` through a hidden temporary file and an atomic rename (delivered after ``day``, see
    :func:`delivered_after`); False if it already exists."""
    if dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{uuid.uuid4().hex}.tmp"
    try:
        write(tmp)
        if day is not None:
            os.utime(tmp, (delivered_after(day),) * 2)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def _pick(full: Path, sample: Path, source: Path | None) -> Path:
    if source is not None:
        return source
    return full if full.exists() else sample


# --- Complete Journey ------------------------------------------------------------------------------------
def completejourney_lines(day: pd.DataFrame) -> bytes:
    """One day's transactions as the client's JSON Lines export.

    ``unit_price`` is ``sales_value / quantity`` rounded to 4 places, left out (absent) when quantity is 0:
    the client's point-of-sale export carries it; the validated stage quarantines the lines without it.
    """
    out = []
    for rec in day.to_dict(orient="records"):
        qty = float(rec["quantity"])
        row: dict[str, object] = {
            "household_id": rec["household_id"],
            "store_id": rec["store_id"],
            "basket_id": rec["basket_id"],
            "product_id": rec["product_id"],
            "quantity": int(qty) if qty.is_integer() else qty,
            "sales_value": float(rec["sales_value"]),
            "retail_disc": float(rec["retail_disc"]),
            "coupon_disc": float(rec["coupon_disc"]),
            "coupon_match_disc": float(rec["coupon_match_disc"]),
            "week": int(rec["week"]),
            "transaction_timestamp": rec["transaction_timestamp"].replace(" ", "T"),
        }
        if qty:
            row["unit_price"] = round(float(rec["sales_value"]) / qty, 4)
        out.append(json.dumps(row, separators=(",", ":")))
    return ("\n".join(out) + "\n").encode()


def write_products_xlsx(products: pd.DataFrame, dest: Path) -> None:
    """The product master as an Excel workbook with a title row above the header (``header_row: 1``)."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Products")
    ws.append(["Product master export (84.51 Complete Journey)"])
    ws.append(list(products.columns))
    for row in products.itertuples(index=False):
        ws.append([None if v == "" else v for v in row])
    wb.save(dest)


def write_completejourney_drops(
    landing_dir: Path, source: Path | None = None, days: int | None = None, products: Path | None = None
) -> list[Path]:
    """Daily ``transactions_YYYY-MM-DD.jsonl`` drops (first ``days`` days) plus one products workbook."""
    frame = pd.read_csv(_pick(CJ_FULL, CJ_SAMPLE, source), dtype=str, keep_default_na=False)
    target = landing_dir / "completejourney"
    dates = sorted(frame["transaction_timestamp"].str[:10].unique())[: days if days else None]
    by_day = frame.groupby(frame["transaction_timestamp"].str[:10], sort=True)
    written = []
    for date in dates:
        dest = target / f"transactions_{date}.jsonl"
        data = completejourney_lines(by_day.get_group(date))
        if _publish(dest, lambda tmp, data=data: tmp.write_bytes(data), date):
            written.append(dest)
    if dates:
        product_frame = pd.read_csv(
            _pick(CJ_PRODUCTS_FULL, CJ_PRODUCTS_SAMPLE, products), dtype=str, keep_default_na=False
        )
        product_frame = product_frame[product_frame["product_id"].isin(set(frame["product_id"]))]
        dest = target / f"products_{dates[0].replace('-', '')}.xlsx"
        if _publish(dest, lambda tmp: write_products_xlsx(product_frame, tmp), dates[0]):
            written.append(dest)
    return written


# --- CDNOW -----------------------------------------------------------------------------------------------
CDNOW_HEADER = ("order_no", "customer_id", "date", "sku", "number_of_cds", "price_each", "dollar_value")


def cdnow_layout(rows: list[tuple[int, list[str]]]) -> bytes:
    """Render ``(line number, [customer_id, date, number_of_cds, dollar_value])`` rows as the client sends
    them: right-aligned whitespace columns, CRLF, a header line.

    CDNOW's master file has no purchase id, product or unit price; the client's export adds ``order_no``
    (the line's number in the master file: unique per purchase), ``sku`` (always ``CD``: the data does not
    say which title) and ``price_each`` (``dollar_value / number_of_cds``, 4 places).
    """
    widths = (8, 12, 9, 4, 14, 11, 13)
    out = ["".join(h.rjust(w) for h, w in zip(CDNOW_HEADER, widths, strict=True))]
    for line_no, (cust, date, cds, dollars) in rows:
        each = f"{float(dollars) / int(cds):.4f}" if int(cds) else "NA"
        values = (str(line_no), cust, date, "CD", cds, each, dollars)
        out.append("".join(v.rjust(w) for v, w in zip(values, widths, strict=True)))
    return ("\r\n".join(out) + "\r\n").encode("ascii")


def write_cdnow_drops(landing_dir: Path, source: Path | None = None, days: int | None = None) -> list[Path]:
    """Daily ``CDNOW_YYYYMMDD.txt`` drops (first ``days`` days) from the master file, split by date."""
    with gzip.open(_pick(CDNOW_FULL, CDNOW_SAMPLE, source), "rt", encoding="ascii") as fh:
        lines = fh.read().splitlines()
    by_day: dict[str, list[tuple[int, list[str]]]] = {}
    for line_no, line in enumerate(lines[1:], start=1):
        fields = line.split()
        if len(fields) == 4:
            by_day.setdefault(fields[1], []).append((line_no, fields))
    target = landing_dir / "cdnow"
    written = []
    for date in sorted(by_day)[: days if days else None]:
        data = cdnow_layout(by_day[date])
        dest = target / f"CDNOW_{date}.txt"
        if _publish(dest, lambda tmp, data=data: tmp.write_bytes(data), date):
            written.append(dest)
        # the client's completeness rule is `mode: marker`: an empty `<name>.done` written after the file
        _publish(dest.with_name(dest.name + ".done"), lambda tmp: tmp.write_bytes(b""))
    return written
