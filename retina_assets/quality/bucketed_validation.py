"""Validating a partition too large to hold in memory at once, with the same result and bounded memory.

Guarantee: for a raw version, :func:`validate_in_buckets` produces the same validated and rejected rows, in
the same (drop) order, with the same types, rule codes, reasons, counts and check figures as
:func:`~retina_assets.quality.validation.validate_dataset` on the whole partition, and the store writes them
as the same bytes.

How: every rule but the cross-row ones (repeats of a key, exact duplicates, unique values, and the
``key_unique`` check's count) looks at one row at a time, so the partition is split window by window in
drop order (:func:`~retina_assets.quality.validation.split_window`). The cross-row rules are computed first,
from the compared columns only: rows are spread over key-hash buckets (:func:`bucket_columns`: rows a rule
compares always share a bucket) on local disk (Arrow IPC, lz4), and each bucket is tallied batch by batch
(:class:`~retina_assets.quality.validation.KeyTally`), so memory follows the distinct keys of one bucket,
never the rows: a drop where most rows share one key stays as lean as any other. Both outputs go to local
files window by window and are streamed to the store from there.
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
from retina_assets.quality.validation import (
    POSITION,
    KeyTally,
    ValidationPlan,
    WindowResult,
    cross_row_flags,
    cross_row_groups,
    plan_columns_as_pandas,
    split_window,
)
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import prefetch

# Partitions with more raw rows than this are validated window by window, with the cross-row rules in key
# buckets of about this many rows (only their compared columns, one bucket at a time: ~100 MB per million
# rows for orders). Below it a partition is validated whole (about 0.9 GB per million rows at peak).
BUCKET_ROWS = 500_000
WINDOW_ROWS = 256_000  # rows of drop order validated and written at a time
HASH_SLICE_ROWS = 4_000_000  # hashes searched for repeats at a time (~0.3 GB of hash table at the peak)
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
        return self._read("valid")

    def rejected_batches(self) -> Iterator[pa.RecordBatch]:
        return self._read("rejected")

    def close(self) -> None:
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _read(self, kind: str) -> Iterator[pa.RecordBatch]:
        with pa.OSFile(os.path.join(self._workdir, f"{kind}.arrow")) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                if batch.num_rows:
                    yield batch


def parquet_null_columns(parquet: pq.ParquetFile) -> list[str]:
    """The integer and boolean columns of a Parquet file holding a null anywhere (their stored type depends
    on it, see :class:`~retina_assets.quality.validation.ValidationPlan`), from the row-group statistics
    where they tell, else by reading the column."""
    meta = parquet.metadata
    names = parquet.schema_arrow.names
    out = []
    for i, name in enumerate(names):
        t = parquet.schema_arrow.field(name).type
        if not (pa.types.is_integer(t) or pa.types.is_boolean(t)):
            continue
        known = True
        nulls = 0
        for rg in range(meta.num_row_groups):
            stats = meta.row_group(rg).column(i).statistics
            if stats is None or not stats.has_null_count:
                known = False
                break
            nulls += stats.null_count
        if not known:
            nulls = parquet.read(columns=[name]).column(0).null_count
        if nulls:
            out.append(name)
    return out


def validate_in_buckets(
    raw: DatasetRef,
    spec: DatasetSpec,
    ctx: CheckContext,
    bucket_rows: int | None = None,
    window_rows: int | None = None,
    log: Callable[[str], None] | None = None,
) -> BucketedValidation:
    """Validate the raw version ``raw`` window by window with cross-row rules in buckets of about
    ``bucket_rows`` (default :data:`BUCKET_ROWS`) rows (see the module docstring for the guarantee)."""
    bucket_rows = bucket_rows or BUCKET_ROWS
    window_rows = window_rows or WINDOW_ROWS
    say = log or (lambda _msg: None)
    workdir = tempfile.mkdtemp(prefix="retina-validate-")
    try:
        local = raw.local_copy(workdir)
        parquet = pq.ParquetFile(local)
        rows = parquet.metadata.num_rows
        plan = ValidationPlan(spec, parquet.schema_arrow, parquet_null_columns(parquet))
        if plan.unsure and not plan.schema_errors:
            sources = [s for s in plan.sources if plan.names[s] in plan.unsure]
            plan.judge_types(plan_columns_as_pandas(plan, parquet.read(columns=sources), plan.unsure))
        keys = plan.key_columns()
        by = keys or plan.data_columns()
        buckets = max(1, math.ceil(rows / bucket_rows))
        say(
            f"validating {rows:,} rows in windows of {window_rows:,}; cross-row rules in {buckets} buckets by {by}"
        )
        repeats = _Repeats(plan, local, rows, by, buckets, bucket_rows, window_rows, workdir)
        flags = repeats.flags(cross_row_groups(plan))
        valid_mask = np.zeros(rows, dtype=bool)
        parts: list[OutcomeSummary] = []
        schemas: dict[str, pa.Schema] = {}
        writers: dict[str, pa.ipc.RecordBatchFileWriter] = {}
        windows = 0
        start = 0
        try:
            for table in prefetch(_windows(local, plan.sources, rows, window_rows)):
                n = table.height
                window = split_window(plan, table, {k: v[start : start + n] for k, v in flags.items()})
                valid_mask[start : start + n] = window.valid_mask
                for kind, out in (("valid", window.valid), ("rejected", window.rejected)):
                    if kind not in writers:
                        schemas[kind] = out.schema
                        writers[kind] = pa.ipc.new_file(
                            os.path.join(workdir, f"{kind}.arrow"), out.schema, options=_IPC
                        )
                    for piece in out.cast(schemas[kind]).combine_chunks().to_batches():
                        writers[kind].write_batch(piece)
                parts.append(window_summary(plan, window, spec, ctx, n))
                windows += 1
                start += n
            if not windows:  # an empty raw version: one empty window gives the outputs' columns and types
                window = split_window(plan, parquet.schema_arrow.empty_table().select(plan.sources), {})
                for kind, out in (("valid", window.valid), ("rejected", window.rejected)):
                    schemas[kind] = out.schema
                    writers[kind] = pa.ipc.new_file(
                        os.path.join(workdir, f"{kind}.arrow"), out.schema, options=_IPC
                    )
                parts.append(window_summary(plan, window, spec, ctx, 0))
        finally:
            for writer in writers.values():
                writer.close()
        summary = OutcomeSummary.merge(parts)
        summary.rule_counts = dict(sorted(summary.rule_counts.items()))
        summary.schema_errors = list(plan.schema_errors)
        summary.dropped_columns = list(plan.dropped_columns)
        if not keys or plan.duplicate_mode == "key":  # with duplicate_key on, every repeat was quarantined
            summary.key_duplicates = 0
        else:
            summary.key_duplicates = int(
                repeats.flags({"duplicate": keys}, keep=valid_mask)["duplicate"].sum()
            )
        if local.startswith(workdir):
            os.remove(local)
        say(f"{rows:,} rows: {summary.validated_rows:,} valid, {summary.rejected_rows:,} quarantined")
        return BucketedValidation(
            summary=summary,
            valid_schema=schemas["valid"],
            rejected_schema=schemas["rejected"],
            buckets=buckets,
            windows=windows,
            _workdir=workdir,
        )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def window_summary(
    plan: ValidationPlan, window: WindowResult, spec: DatasetSpec, ctx: CheckContext, n: int
) -> OutcomeSummary:
    """The check figures of one window of ``n`` raw rows (to :meth:`OutcomeSummary.merge`; key duplicates
    are counted over the whole partition, not here)."""
    return OutcomeSummary.of_rows(
        window.valid,
        spec,
        ctx,
        raw_rows=n,
        rejected_rows=window.rejected.num_rows,
        rule_counts=window.rule_counts,
        schema_errors=plan.schema_errors,
        dropped_columns=plan.dropped_columns,
        key_duplicates=0,
    )


class _Repeats:
    """Cross-row flags over a partition read window by window, in bounded memory.

    1. A 64-bit hash of each group's columns for every row (8 bytes a row): only rows whose hash is shared
       can repeat a key, so they are the *candidates* (usually a few percent; a collision only adds one).
       Shared hashes are found one slice of the hash space (:data:`HASH_SLICE_ROWS` rows) at a time.
    2. The candidates' columns are spread over key-hash bucket files (Arrow IPC, lz4).
    3. Each bucket is compared exactly: at once when of the usual size, batch by batch with a
       :class:`KeyTally` when swollen by a key most rows share (memory then follows its distinct keys).
    """

    def __init__(
        self,
        plan: ValidationPlan,
        path: str,
        rows: int,
        by: list[str],
        buckets: int,
        bucket_rows: int,
        window_rows: int,
        workdir: str,
    ) -> None:
        self.plan, self.path, self.rows, self.by = plan, path, rows, by
        self.buckets, self.bucket_rows, self.window_rows, self.workdir = (
            buckets,
            bucket_rows,
            window_rows,
            workdir,
        )

    def flags(self, groups: dict[str, list[str]], keep: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Per group, a flag for every row (among the ``keep`` rows only, if given): see :func:`cross_row_flags`."""
        flags = {name: np.zeros(self.rows, dtype=bool) for name in groups}
        if not groups or not self.rows:
            return flags
        compared = list(dict.fromkeys([*self.by, *(c for cols in groups.values() for c in cols)]))
        sources = [s for s in self.plan.sources if self.plan.names[s] in compared]
        hashes = {name: np.zeros(self.rows, dtype=np.uint64) for name in groups}
        start = 0
        for window in _windows(self.path, sources, self.rows, self.window_rows):
            stored = self.plan.stored_frame(window, compared)
            hashed = stored.select(
                [pl.struct(cols).hash(seed=0).alias(name) for name, cols in groups.items()]
            )
            for name in groups:
                hashes[name][start : start + window.height] = hashed[name].to_numpy()
            start += window.height
        candidate = np.zeros(self.rows, dtype=bool)
        for name in groups:
            values = hashes.pop(name)
            # shared hashes found one slice of the hash space at a time, so the hash table stays small
            slices = max(1, -(-self.rows // HASH_SLICE_ROWS))
            for part in range(slices):
                rows = values % np.uint64(slices) == part
                if keep is not None:
                    rows &= keep
                where = np.flatnonzero(rows)
                shared = pl.Series(values[where]).is_duplicated().to_numpy()
                candidate[where[shared]] = True
        if not candidate.any():
            return flags
        self._split(compared, sources, candidate)
        for bucket in range(self.buckets):
            for name, positions in self._bucket_flags(bucket, groups).items():
                flags[name][positions] = True
        return flags

    def _split(self, compared: list[str], sources: list[str], candidate: np.ndarray) -> None:
        """Write the candidates' compared columns (with their drop positions) to their key buckets' files."""
        writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        schemas: dict[int, pa.Schema] = {}
        try:
            start = 0
            for window in _windows(self.path, sources, self.rows, self.window_rows):
                n = window.height
                frame = self.plan.stored_frame(window, compared).with_columns(
                    pl.int_range(start, start + n, dtype=pl.Int64).alias(POSITION)
                )
                frame = frame.filter(pl.Series(candidate[start : start + n]))
                start += n
                if not frame.height:
                    continue
                bucket = (frame.select(pl.struct(self.by).hash(seed=1)).to_series() % self.buckets).alias(
                    "_b"
                )
                for (b,), part in frame.with_columns(bucket).partition_by("_b", as_dict=True).items():
                    table = part.drop("_b").to_arrow()
                    if b not in writers:
                        schemas[b] = table.schema
                        writers[b] = pa.ipc.new_file(self._file(b), table.schema, options=_IPC)
                    writers[b].write_table(table.cast(schemas[b]))
        finally:
            for writer in writers.values():
                writer.close()

    def _file(self, bucket: int) -> str:
        return os.path.join(self.workdir, f"keys-{bucket}.arrow")

    def _frames(self, bucket: int) -> Iterator[pl.DataFrame]:
        path = self._file(bucket)
        if not os.path.exists(path):
            return
        with pa.memory_map(path) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                frame = pl.from_arrow(reader.get_batch(i))
                assert isinstance(frame, pl.DataFrame)
                yield frame

    def _bucket_flags(self, bucket: int, groups: dict[str, list[str]]) -> dict[str, np.ndarray]:
        path = self._file(bucket)
        if not os.path.exists(path):
            return {}
        try:
            with pa.memory_map(path) as source:
                reader = pa.ipc.open_file(source)
                held = sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))
            if held <= 2 * self.bucket_rows:  # a bucket of the usual size: all its rows at once
                frame = pl.concat(list(self._frames(bucket)))
                hits = cross_row_flags(self.plan, [frame], self.rows, groups)
                return {name: np.flatnonzero(hit) for name, hit in hits.items()}
            tally = KeyTally(groups)  # a bucket swollen by a key most rows share: batch by batch
            for frame in self._frames(bucket):
                tally.add(frame)
            found: dict[str, list[np.ndarray]] = {name: [] for name in groups}
            for frame in self._frames(bucket):
                for name, positions in tally.flags(frame).items():
                    found[name].append(positions)
            return {name: np.concatenate(parts) for name, parts in found.items() if parts}
        finally:
            os.remove(path)


def _windows(path: str, columns: list[str], rows: int, window_rows: int) -> Iterator[pl.DataFrame]:
    """The ``columns`` of a local Parquet file, ``window_rows`` rows at a time in file order (polars' reader:
    several times less CPU than Arrow's here)."""
    scan = pl.scan_parquet(path).select(columns)
    for start in range(0, rows, window_rows):
        yield scan.slice(start, window_rows).collect()
