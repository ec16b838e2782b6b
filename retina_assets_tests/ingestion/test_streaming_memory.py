"""Raw conversion streams. A drop many times larger than the reader's block converts in many bounded
batches, and Arrow's allocations stay bounded by the block size, far below the file size (no whole-file
materialization). Not a timing test: it asserts sizes, not seconds."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retina_assets.catalog import load_clients
from retina_assets.demo import SAMPLE, to_client_format
from retina_assets.ingestion import readers
from retina_assets.ingestion.landing import Drop
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.readers import BATCH_ROWS
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import filesystem_for
from retina_assets.storage.versioned_store import VersionedStore

TARGET_BYTES = 112 << 20


def make_large_drop(path: Path, target: int = TARGET_BYTES) -> int:
    """Write a demo-format drop of about ``TARGET_BYTES`` by repeating the sample with new invoice numbers;
    returns the number of data rows."""
    import pandas as pd

    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        base = pd.read_csv(fh, dtype=str, keep_default_na=False)
    header, *lines = to_client_format(base).split(b"\r\n", 1)
    body = lines[0]
    rows_per_copy = body.count(b"\r\n")
    copies = target // len(body) + 1
    with open(path, "wb") as out:
        out.write(header + b"\r\n")
        for i in range(copies):
            # a new key space per copy: InvoiceNo 536365 -> 1536365, 2536365, ...
            out.write(
                body.replace(b"\r\n5", b"\r\n" + str(i + 1).encode() + b"5").replace(
                    b"\r\nC5", b"\r\nC" + str(i + 1).encode() + b"5"
                )
            )
    return rows_per_copy * copies


SMALL_BLOCK = 1 << 20
READAHEAD_BLOCKS = 48  # Arrow's background reader queues ~32 blocks; allow some slack for decoding


@pytest.mark.slow
def test_large_drop_converts_with_memory_bounded_by_block_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 1 MiB blocks, converting a 112 MB drop holds at most ~READAHEAD_BLOCKS blocks in Arrow memory:
    the bound is set by the block size, not by the file (at the default 16 MiB block: ~0.5-0.8 GB for any
    file size)."""
    monkeypatch.setattr(readers, "BLOCK_BYTES", SMALL_BLOCK)
    spec = next(s for s in load_clients(REPO_ROOT / "clients") if s.client == "demo").datasets["orders"]
    drop_path = tmp_path / "landing" / "orders_20101201.csv"
    drop_path.parent.mkdir()
    rows = make_large_drop(drop_path)
    size = drop_path.stat().st_size
    assert size >= TARGET_BYTES

    drop = Drop(str(drop_path), drop_path.name, size, "0", "orders", "2010-12-01")
    conversion = DropConversion([drop], spec, filesystem_for(str(drop_path.parent)), progress=lambda _: None)
    seen = {"batches": 0, "max_rows": 0, "max_bytes": 0, "max_arrow": 0}
    baseline = pa.total_allocated_bytes()

    def observed() -> Iterator[pa.RecordBatch]:
        for batch in conversion.batches():
            seen["batches"] += 1
            seen["max_rows"] = max(seen["max_rows"], batch.num_rows)
            seen["max_bytes"] = max(seen["max_bytes"], batch.nbytes)
            seen["max_arrow"] = max(seen["max_arrow"], pa.total_allocated_bytes() - baseline)
            yield batch

    version = VersionedStore(str(tmp_path / "lake")).write(
        "raw", "demo", "orders", "2010-12-01", observed(), schema=conversion.schema
    )
    assert version.row_count == rows == pq.ParquetFile(version.path).metadata.num_rows
    assert seen["batches"] >= size // SMALL_BLOCK  # streamed block by block, never read whole
    assert seen["max_rows"] <= BATCH_ROWS
    # a batch is one block, typed, plus lineage columns: bounded by the block, not the file
    assert seen["max_bytes"] < 4 * SMALL_BLOCK, seen
    assert seen["max_arrow"] < READAHEAD_BLOCKS * SMALL_BLOCK < size / 2, seen
