"""Spark executors write a version's parts straight to the lake; the driver only collects their names.

:func:`write_parts` lays a Spark DataFrame out deterministically and has every task write its rows with
:func:`~retina_assets.storage.versioned_store.stage_part` (the store's own Parquet options), returning a
:class:`~retina_assets.storage.versioned_store.StagedVersion` that the IO manager (or
:meth:`VersionedStore.commit_parts`) commits as one multi-part version. What reaches the driver is one small
row per part (index, staged path, SHA-256, rows, bytes), whatever the size of the data.

Deterministic layout, so identical rows always give identical parts (and a re-run dedupes):

* rows go to part ``pmod(xxhash64(key columns), parts)``; the number of parts is the caller's, chosen from
  the data (:func:`parts_for_rows`), never from the cluster;
* within a part rows are sorted by ``sort_columns``, which must order rows totally (e.g. the drop file and
  line, or a feature's key): ties would make the order, and so the bytes, depend on the shuffle;
* each batch is cast to the output's Arrow ``schema`` (Spark's types are not always Arrow's: timestamps come
  back with a time zone, strings may be large), and parts are written with row groups of a fixed size
  whatever Spark's batch size.

Executors need ``retina_assets`` installed and must reach the lake (local disk in local mode; ``s3://`` or
``abfs://`` on a cluster, through the same Python storage layer as the driver, with the storage options
given here).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from retina_assets.engines.spark import functions_for
from retina_assets.storage.filesystem import filesystem_for
from retina_assets.storage.parts import StagedPart
from retina_assets.storage.versioned_store import StagedVersion, VersionedStore, stage_part

PART_COLUMN = "_retina_part"
ROWS_PER_PART = 4_000_000
MAX_PARTS = 256
STAGED_SCHEMA = "part long, uri string, sha256 string, row_count long, num_bytes long"


def parts_for_rows(rows: int, rows_per_part: int = ROWS_PER_PART) -> int:
    """How many parts a version of ``rows`` rows is written as: one per ``rows_per_part`` rows (at least
    one, at most :data:`MAX_PARTS`). Depends only on the data, so the layout is the same on any cluster."""
    return max(1, min(MAX_PARTS, math.ceil(rows / rows_per_part)))


STAGED_ARROW_SCHEMA = pa.schema(
    [
        ("part", pa.int64()),
        ("uri", pa.string()),
        ("sha256", pa.string()),
        ("row_count", pa.int64()),
        ("num_bytes", pa.int64()),
    ]
)


def _pieces_by_part(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(part index, rows cast to ``schema``) from batches sorted by part: each batch cut where the index
    changes."""
    for batch in batches:
        if not batch.num_rows:
            continue
        index = batch.column(PART_COLUMN).to_numpy(zero_copy_only=False)
        bounds = [0, *(np.flatnonzero(np.diff(index)) + 1).tolist(), len(index)]
        rows = batch.select(schema.names)
        for start, end in itertools.pairwise(bounds):
            yield int(index[start]), rows.slice(start, end - start).cast(schema)


def _part_writer(
    lake_uri: str, storage_options: Mapping[str, Any] | None, area: str, schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs (pickled to the executors): stream the task's rows, sorted by part
    then by the sort columns, into one staged part per part index (one row group in memory at a time), and
    yield one small row per part written."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs = filesystem_for(lake_uri, storage_options)
        pieces = _pieces_by_part(batches, schema)
        lookahead = next(pieces, None)
        staged: list[StagedPart] = []
        while lookahead is not None:
            index = lookahead[0]

            def rows_of_part(index: int = index) -> Iterator[pa.RecordBatch]:
                nonlocal lookahead
                while lookahead is not None and lookahead[0] == index:
                    yield lookahead[1]
                    lookahead = next(pieces, None)

            staged.append(stage_part(fs, area, index, rows_of_part(), schema))
        yield pa.RecordBatch.from_pylist(
            [
                {"part": p.index, "uri": p.uri, "sha256": p.sha256, "row_count": p.row_count,
                 "num_bytes": p.num_bytes}
                for p in staged
            ],
            schema=STAGED_ARROW_SCHEMA,
        )  # fmt: skip

    return write


def write_parts(
    frame: Any,
    lake_uri: str,
    schema: pa.Schema,
    *,
    parts: int,
    key_columns: Sequence[str],
    sort_columns: Sequence[str],
    storage_options: Mapping[str, Any] | None = None,
    input_paths: Sequence[str] = (),
    metadata: Mapping[str, Any] | None = None,
    part_column: str | None = None,
) -> StagedVersion:
    """Have Spark's executors write ``frame`` (the columns of ``schema``, cast to it) as ``parts`` staged
    parts of one version in the lake at ``lake_uri``, laid out as the module docstring says; returns the
    :class:`StagedVersion` to commit. Only the parts' names, hashes and sizes reach the driver. An empty
    frame gives one empty part (written on the driver), so every version has at least one file.
    ``part_column`` (instead of the key hash) names a column that already holds each row's part index in
    ``0 .. parts - 1``, e.g. contiguous ranges of a drop's rows, so the parts read in order give the rows
    in the order of the source.
    """
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    given = [part_column] if part_column else []
    missing = [c for c in [*schema.names, *key_columns, *sort_columns, *given] if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot write parts: the frame has no column(s) {sorted(set(missing))}")
    store = VersionedStore(lake_uri, storage_options=storage_options)
    area = store.staging_area()
    F = functions_for(frame)  # noqa: N806
    part = (
        F.col(f"`{part_column}`").cast("long")
        if part_column
        else F.pmod(F.xxhash64(*[F.col(f"`{c}`") for c in key_columns]), F.lit(parts))
        if key_columns and parts > 1
        else F.lit(0).cast("long")
    )
    laid_out = (
        frame.select(*[F.col(f"`{c}`") for c in dict.fromkeys([*schema.names, *sort_columns, *given])])
        .withColumn(PART_COLUMN, part)
        .repartition(parts, F.col(PART_COLUMN))
        .sortWithinPartitions(F.col(PART_COLUMN), *[F.col(f"`{c}`") for c in sort_columns])
    )
    rows = laid_out.mapInArrow(_part_writer(lake_uri, storage_options, area, schema), STAGED_SCHEMA).collect()
    staged = [StagedPart(r["part"], r["uri"], r["sha256"], r["row_count"], r["num_bytes"]) for r in rows]
    if not staged:
        staged = [stage_part(store.fs, area, 0, iter(()), schema)]
    return StagedVersion(
        parts=sorted(staged, key=lambda p: p.index),
        schema=schema,
        staging_area=area,
        input_paths=list(input_paths),
        metadata=dict(metadata or {}),
    )
