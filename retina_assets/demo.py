"""Write the sample drops of every example client into a landing folder.

The demo client (``clients/demo.yaml``) receives UCI Online Retail order lines as one file per day, in the
shape of a legacy ERP export: ``orders_YYYYMMDD.csv``, semicolon-separated, Latin-1, decimal commas and
day-first timestamps. Files are written to a hidden temporary name and renamed into place, so a sensor never
sees half a file.

Usage::

    python -m retina_assets.demo [--landing DIR] [--days N] [--source CSV_GZ] [--client NAME ...]

Besides ``demo``, it writes the drops of the other example clients (``completejourney``: JSON Lines and an
Excel product master; ``cdnow``: whitespace-aligned text), see :mod:`retina_assets.example_clients`.
"""

from __future__ import annotations

import argparse
import os
import uuid
from pathlib import Path

import pandas as pd

from retina_assets.example_clients import delivered_after
from retina_assets.settings import REPO_ROOT, LakeSettings

SAMPLE = REPO_ROOT / "sample_data" / "online_retail" / "online_retail_2010-12-01_2010-12-10.csv.gz"
FULL = REPO_ROOT.parent / "shared" / "data" / "online_retail_uci" / "online_retail.csv.gz"


def default_source() -> Path:
    """The full Online Retail file when ``shared/data`` is beside the checkout, else the bundled sample."""
    return FULL if FULL.exists() else SAMPLE


def load_source(source: Path) -> pd.DataFrame:
    return pd.read_csv(source, dtype=str, keep_default_na=False)


def to_client_format(day: pd.DataFrame) -> bytes:
    """Render one day's lines as the demo client sends them (the inverse of its spec's reader options)."""
    out = day.copy()
    ts = pd.to_datetime(out["InvoiceDate"], format="%Y-%m-%d %H:%M:%S")
    out["InvoiceDate"] = ts.dt.strftime("%d/%m/%Y %H:%M")
    out["UnitPrice"] = out["UnitPrice"].str.replace(".", ",", regex=False)
    text = out.to_csv(sep=";", index=False, lineterminator="\r\n")
    return text.encode("latin-1", errors="replace")


def write_drops(
    landing_dir: Path, source: Path | None = None, days: int | None = None, client: str = "demo"
) -> list[Path]:
    """Write one drop per calendar day of the source (the first ``days`` days); returns the files.

    Existing files are left alone, so the command is safe to repeat.
    """
    frame = load_source(source or default_source())
    target = landing_dir / client
    target.mkdir(parents=True, exist_ok=True)
    dates = sorted(frame["InvoiceDate"].str[:10].unique())
    if days is not None:
        dates = dates[:days]
    written = []
    by_day = frame.groupby(frame["InvoiceDate"].str[:10], sort=True)
    for date in dates:
        dest = target / f"orders_{date.replace('-', '')}.csv"
        if dest.exists():
            continue
        tmp = target / f".{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(to_client_format(by_day.get_group(date)))
        os.utime(tmp, (delivered_after(date),) * 2)  # a replayed past delivery: complete at once
        os.replace(tmp, dest)
        written.append(dest)
    return written


EXAMPLE_CLIENTS = ("demo", "completejourney", "cdnow")


def write_example_drops(
    landing_dir: Path,
    days: int | None = None,
    clients: tuple[str, ...] = EXAMPLE_CLIENTS,
    sample: bool = False,
) -> dict[str, list[Path]]:
    """Write the drops of the example ``clients`` (first ``days`` days each); returns the new files per client.

    ``sample=True`` uses only the small files bundled in ``sample_data/`` (what the tests use).
    """
    from retina_assets import example_clients as ex

    out: dict[str, list[Path]] = {}
    for client in clients:
        if client == "demo":
            out[client] = write_drops(landing_dir, SAMPLE if sample else None, days)
        elif client == "completejourney":
            out[client] = ex.write_completejourney_drops(
                landing_dir,
                ex.CJ_SAMPLE if sample else None,
                days,
                products=ex.CJ_PRODUCTS_SAMPLE if sample else None,
            )
        elif client == "cdnow":
            out[client] = ex.write_cdnow_drops(landing_dir, ex.CDNOW_SAMPLE if sample else None, days)
        else:
            raise ValueError(f"unknown example client {client!r}; known: {EXAMPLE_CLIENTS}")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--landing", default=None, help="landing folder (default: $RETINA_LANDING_URI)")
    parser.add_argument("--days", type=int, default=None, help="only the first N days of each client")
    parser.add_argument("--source", type=Path, default=None, help="Online Retail CSV (.gz) for demo")
    parser.add_argument(
        "--client", action="append", choices=EXAMPLE_CLIENTS, help="only these clients (repeatable)"
    )
    parser.add_argument("--sample", action="store_true", help="use only the bundled sample_data files")
    args = parser.parse_args(argv)
    landing = Path(args.landing or LakeSettings.from_env().landing_uri)
    clients = tuple(args.client or EXAMPLE_CLIENTS)
    if "demo" in clients and args.source is not None:
        files = write_drops(landing, args.source, args.days)
        print(f"wrote {len(files)} drop(s) to {landing / 'demo'}")
        clients = tuple(c for c in clients if c != "demo")
    for client, files in write_example_drops(landing, args.days, clients, args.sample).items():
        print(f"wrote {len(files)} drop(s) to {landing / client}")


if __name__ == "__main__":
    main()
