"""What verified reads cost: reading a validated version with and without the content-hash check.

    python -m benchmarks.verified_reads [--rows 5000000] [--repeats 5]

Writes one validated-like version (order lines: ids, product, quantity, timestamp, price, customer, country)
through the store, then reads it whole, alternating plain ``pyarrow.parquet.read_table`` of the path and
:meth:`VersionedStore.read_version` (stream-hash, then read), ``--repeats`` times each with the
verification cache cleared, from a warm page cache. Prints medians of wall and CPU seconds and their ratio,
and appends the table to ``benchmarks/results/verified_reads.md``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.storage import integrity
from retina_assets.storage.versioned_store import VersionedStore

RESULTS = Path(__file__).parent / "results" / "verified_reads.md"


def order_lines(rows: int, seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "order_id": pa.array(np.char.add("O", rng.integers(0, rows // 4 + 1, rows).astype(str))),
            "product_id": pa.array(np.char.add("P", rng.integers(0, 4000, rows).astype(str))),
            "quantity": pa.array(rng.integers(1, 50, rows)),
            "order_ts": pa.array(
                np.datetime64("2011-01-01") + rng.integers(0, 86_400 * 300, rows).astype("timedelta64[s]")
            ),
            "unit_price": pa.array(rng.random(rows) * 20),
            "customer_id": pa.array(np.char.add("C", rng.integers(0, 40_000, rows).astype(str))),
            "country": pa.array(rng.choice(["United Kingdom", "France", "Germany", "EIRE"], rows)),
        }
    )


def _timed(read: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    read()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="retina-bench-verify-") as lake:
        store = VersionedStore(lake)
        version = store.write("validated", "bench", "orders", "2011-01-05", order_lines(args.rows))
        pq.read_table(version.path)  # warm the page cache
        plain, verified = [], []
        for _ in range(args.repeats):
            plain.append(_timed(lambda: pq.read_table(version.path)))
            integrity._VERIFIED.clear()
            verified.append(_timed(lambda: store.read_version(version)))
    med = {
        name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
        for name, s in (("plain", plain), ("verified", verified))
    }
    mb = version.num_bytes / 1e6
    lines = [
        f"### Verified reads: {version.row_count:,} rows, {mb:.0f} MB Parquet, median of {args.repeats}",
        "",
        "| read | wall s | CPU s | wall vs plain |",
        "|---|---|---|---|",
        f"| plain `pq.read_table` | {med['plain'][0]:.2f} | {med['plain'][1]:.2f} | 1.00x |",
        f"| verified (sha256 streamed, then read) | {med['verified'][0]:.2f} | {med['verified'][1]:.2f} | "
        f"{med['verified'][0] / med['plain'][0]:.2f}x |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
