"""Validating a partition too large to hold in memory at once: in key-hash buckets, with the same result.

Guarantee: for a raw version, :func:`validate_in_buckets` produces the same validated and rejected rows, in
the same (drop) order, with the same types, rule codes, reasons, counts and check figures as
:func:`~retina_assets.quality.validation.validate_dataset` on the whole partition, and the store writes them
as the same bytes. The argument is the Spark engine's (:mod:`retina_assets.engines.spark_validation`): rows
are split by a hash of the contract key columns (:func:`bucket_columns`), so every pair of rows a cross-row rule compares
(repeats of a key, exact duplicates, unique keys) lands in one bucket, and every other rule looks at one row
at a time.

Memory is bounded by the bucket size, not by the partition: the raw version is read row group by row group
and split into bucket files on local disk (Arrow IPC, lz4); each bucket is validated alone and its outputs
are written back to disk cut into windows of drop positions; the outputs are then streamed to the store
window by window, each window merged from the buckets and put back in drop order.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.model.contracts import KEYS
from retina_assets.model.spec import DatasetSpec
from retina_assets.quality.checks import CheckContext, OutcomeSummary
from retina_assets.quality.validation import validate_dataset
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import table_from_any

# Partitions with more raw rows than this are validated in buckets of about this many rows. Measured on a
# 5M-row demo partition: whole 3.5 GB peak; buckets of 1M rows 1.6 GB; of 500k rows 1.2 GB, same time (~28 s).
BUCKET_ROWS = 500_000
WINDOW_ROWS = 256_000  # rows of drop order merged and written at a time
POSITION = "_retina_position"
_IPC = pa.ipc.IpcWriteOptions(compression="lz4")


def bucket_columns(raw_columns: list[str], spec: DatasetSpec) -> list[str]:
    """Client columns whose equality every cross-row rule implies: the contract key.

    Rows that repeat a key (``duplicate_key``, ``<key>.unique``) share the key columns, and exact repeats
    (``duplicate_row``) share every column, the key included; so bucketing by the key puts every pair a
    cross-row rule compares into the same bucket. Falls back to every mapped column when no key column
    is mapped. Used by this module and by the Spark engine.
    """
    mapped = [c for c in spec.columns if c in raw_columns]
    keys = set(KEYS[spec.canonical])
    keyed = [c for c in mapped if spec.canonical_name(c) in keys]
    return keyed or mapped


@dataclass
class BucketedValidation:
    """The outcome of :func:`validate_in_buckets`: figures for the checks, and the two outputs as streams
    (call :meth:`close` when both are written: it deletes the working files)."""

    summary: OutcomeSummary
    valid_schema: pa.Schema
    rejected_schema: pa.Schema
    buckets: int
    windows: int
    _workdir: str = field(repr=False)

    def valid_batches(self) -> Iterator[pa.RecordBatch]:
        return self._merged("valid", self.valid_schema)

    def rejected_batches(self) -> Iterator[pa.RecordBatch]:
        return self._merged("rejected", self.rejected_schema)

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _merged(self, kind: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
        with_position = schema.append(pa.field(POSITION, pa.int64()))
        files = [pa.OSFile(os.path.join(self._workdir, f"{kind}-{b}.arrow")) for b in range(self.buckets)]
        try:
            readers = [pa.ipc.open_file(f) for f in files]
            for window in range(self.windows):
                parts = [reader.get_batch(window) for reader in readers]
                parts = [
                    p.cast(with_position) if p.schema != with_position else p for p in parts if p.num_rows
                ]
                if not parts:
                    continue
                table = pa.Table.from_batches(parts, schema=with_position).sort_by(POSITION).drop([POSITION])
                yield from table.combine_chunks().to_batches()
        finally:
            for f in files:
                f.close()


def validate_in_buckets(
    raw: DatasetRef,
    spec: DatasetSpec,
    ctx: CheckContext,
    bucket_rows: int | None = None,
    window_rows: int | None = None,
    log: Callable[[str], None] | None = None,
) -> BucketedValidation:
    """Validate the raw version ``raw`` bucket by bucket (see the module docstring for the guarantee), in
    buckets of about ``bucket_rows`` (default :data:`BUCKET_ROWS`) rows."""
    bucket_rows = bucket_rows or BUCKET_ROWS
    window_rows = window_rows or WINDOW_ROWS
    say = log or (lambda _msg: None)
    workdir = tempfile.mkdtemp(prefix="retina-validate-")
    try:
        local = raw.local_copy(workdir)
        parquet = pq.ParquetFile(local)
        rows = parquet.metadata.num_rows
        buckets = max(1, math.ceil(rows / bucket_rows))
        windows = max(1, math.ceil(rows / window_rows))
        keys = bucket_columns(parquet.schema_arrow.names, spec)
        say(f"validating {rows:,} rows in {buckets} buckets by {keys}")
        assignment = _assign_buckets(parquet, keys, buckets)
        _split(parquet, assignment, buckets, workdir)
        if local.startswith(workdir):
            os.remove(local)
        parts: list[OutcomeSummary] = []
        schemas: dict[str, list[pa.Schema]] = {"valid": [], "rejected": []}
        for bucket in range(buckets):
            path = os.path.join(workdir, f"raw-{bucket}.arrow")
            with pa.memory_map(path) as source:
                table = pa.ipc.open_file(source).read_all()
            positions = table.column(POSITION).to_numpy()
            outcome = validate_dataset(table.drop([POSITION]).to_pandas(), spec)
            del table
            os.remove(path)
            parts.append(OutcomeSummary.of(outcome, spec, ctx))
            for kind, frame, local_rows in (
                ("valid", outcome.valid, outcome.valid_positions),
                ("rejected", outcome.rejected, outcome.rejected_positions),
            ):
                assert local_rows is not None
                out = table_from_any(frame)
                schemas[kind].append(out.schema)
                _write_windows(
                    out,
                    positions[local_rows],
                    window_rows,
                    windows,
                    os.path.join(workdir, f"{kind}-{bucket}.arrow"),
                )
            say(
                f"bucket {bucket + 1}/{buckets}: {outcome.raw_rows:,} rows, {len(outcome.rejected):,} quarantined"
            )
        return BucketedValidation(
            summary=OutcomeSummary.merge(parts),
            valid_schema=pa.unify_schemas(schemas["valid"], promote_options="permissive"),
            rejected_schema=pa.unify_schemas(schemas["rejected"], promote_options="permissive"),
            buckets=buckets,
            windows=windows,
            _workdir=workdir,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _assign_buckets(parquet: pq.ParquetFile, keys: list[str], buckets: int) -> np.ndarray:
    """The bucket of every row, from a hash of its key columns (read alone, batch by batch)."""
    out = []
    for batch in parquet.iter_batches(columns=keys, batch_size=WINDOW_ROWS):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        hashed = frame.select(pl.struct(pl.all()).hash(seed=0)).to_series().to_numpy()
        out.append((hashed % np.uint64(buckets)).astype(np.int32))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int32)


def _split(parquet: pq.ParquetFile, assignment: np.ndarray, buckets: int, workdir: str) -> None:
    """Write each row (with its drop position) to its bucket's file, reading the raw version in batches."""
    schema = parquet.schema_arrow.append(pa.field(POSITION, pa.int64()))
    writers = [
        pa.ipc.new_file(os.path.join(workdir, f"raw-{b}.arrow"), schema, options=_IPC) for b in range(buckets)
    ]
    try:
        start = 0
        for batch in parquet.iter_batches(batch_size=WINDOW_ROWS):
            n = batch.num_rows
            positions = pa.array(np.arange(start, start + n, dtype=np.int64))
            batch = pa.RecordBatch.from_arrays([*batch.columns, positions], schema=schema)
            ids = assignment[start : start + n]
            for b in range(buckets):
                writers[b].write_batch(batch.filter(pa.array(ids == b)))
            start += n
    finally:
        for writer in writers:
            writer.close()


def _write_windows(table: pa.Table, positions: np.ndarray, window_rows: int, windows: int, path: str) -> None:
    """Write ``table`` (rows in drop order, at drop ``positions``) as one IPC batch per window of drop
    positions, empty batches included, so batch ``i`` of every bucket's file covers the same window."""
    table = table.append_column(POSITION, pa.array(positions, pa.int64()))
    edges = np.searchsorted(positions, np.arange(windows + 1, dtype=np.int64) * window_rows)
    empty = pa.RecordBatch.from_pylist([], schema=table.schema)
    with pa.ipc.new_file(path, table.schema, options=_IPC) as writer:
        for window in range(windows):
            piece = table.slice(int(edges[window]), int(edges[window + 1] - edges[window])).combine_chunks()
            batches = piece.to_batches()
            assert len(batches) <= 1  # exactly one IPC batch per window
            writer.write_batch(batches[0] if batches else empty)
