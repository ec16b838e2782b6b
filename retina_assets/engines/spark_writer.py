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
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from retina_assets.engines.spark import functions_for
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
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
    batches: Iterator[pa.RecordBatch], names: Sequence[str], schema: pa.Schema | None = None
) -> Iterator[tuple[int, pa.RecordBatch]]:
    """(part index, the ``names`` columns of its rows, cast to ``schema`` if given) from batches sorted by
    part: each batch cut where the index changes."""
    for batch in batches:
        if not batch.num_rows:
            continue
        index = batch.column(PART_COLUMN).to_numpy(zero_copy_only=False)
        bounds = [0, *(np.flatnonzero(np.diff(index)) + 1).tolist(), len(index)]
        rows = batch.select(list(names))
        for start, end in itertools.pairwise(bounds):
            piece = rows.slice(start, end - start)
            yield int(index[start]), piece.cast(schema) if schema is not None else piece


def _part_writer(
    lake_uri: str, storage_options: Mapping[str, Any] | None, area: str, schema: pa.Schema
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs (pickled to the executors): stream the task's rows, sorted by part
    then by the sort columns, into one staged part per part index (one row group in memory at a time), and
    yield one small row per part written."""

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs = filesystem_for(lake_uri, storage_options)
        pieces = _pieces_by_part(batches, schema.names, schema)
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


def part_of(frame: Any, keys: Sequence[Any], parts: int) -> Any:
    """The part index column of the layout: ``pmod(xxhash64(keys), parts)`` (``keys``: column names or Spark
    Columns of ``frame``'s flavour), or 0 when there is one part or no key."""
    F = functions_for(frame)  # noqa: N806
    if not keys or parts == 1:
        return F.lit(0).cast("long")
    columns = [F.col(f"`{k}`") if isinstance(k, str) else k for k in keys]
    return F.pmod(F.xxhash64(*columns), F.lit(parts))


def lay_out(frame: Any, keys: Sequence[Any], parts: int) -> Any:
    """``frame`` with the part index column (:func:`part_of`), its rows moved so each Spark partition holds
    whole parts. Per-part work added afterwards (e.g. a window partitioned by the part column and more)
    keeps this layout; :func:`write_split_parts` takes such a frame."""
    if parts < 1:
        raise ValueError(f"parts must be at least 1, got {parts}")
    F = functions_for(frame)  # noqa: N806
    return frame.withColumn(PART_COLUMN, part_of(frame, keys, parts)).repartition(parts, F.col(PART_COLUMN))


def _sorted_parts(frame: Any, sort_columns: Sequence[str]) -> Any:
    F = functions_for(frame)  # noqa: N806
    return frame.sortWithinPartitions(F.col(PART_COLUMN), *[F.col(f"`{c}`") for c in sort_columns])


def _check_columns(frame: Any, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot write parts: the frame has no column(s) {sorted(set(missing))}")


def _staged(rows: Sequence[Any], output: str | None = None) -> list[StagedPart]:
    return sorted(
        (
            StagedPart(r["part"], r["uri"], r["sha256"], r["row_count"], r["num_bytes"])
            for r in rows
            if output is None or r["output"] == output
        ),
        key=lambda p: p.index,
    )


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
    _check_columns(frame, [*schema.names, *key_columns, *sort_columns, *given])
    store = VersionedStore(lake_uri, storage_options=storage_options)
    area = store.staging_area()
    F = functions_for(frame)  # noqa: N806
    kept = dict.fromkeys([*schema.names, *key_columns, *sort_columns, *given])  # a key outside the schema too
    selected = frame.select(*[F.col(f"`{c}`") for c in kept])
    if part_column:
        placed = selected.withColumn(PART_COLUMN, F.col(f"`{part_column}`").cast("long")).repartition(
            parts, F.col(PART_COLUMN)
        )
    else:
        placed = lay_out(selected, key_columns, parts)
    laid_out = _sorted_parts(placed, sort_columns)
    try:
        rows = laid_out.mapInArrow(
            _part_writer(lake_uri, storage_options, area, schema), STAGED_SCHEMA
        ).collect()
        staged = _staged(rows) or [stage_part(store.fs, area, 0, iter(()), schema)]
    except BaseException:
        store.fs.delete(area, recursive=True)
        raise
    return StagedVersion(
        parts=staged,
        schema=schema,
        staging_area=area,
        input_paths=list(input_paths),
        metadata=dict(metadata or {}),
    )


# --- one pass, several outputs ------------------------------------------------------------------------------
SPLIT_SCHEMA = (
    "output string, part long, uri string, sha256 string, row_count long, num_bytes long, note string"
)
SPLIT_ARROW_SCHEMA = pa.schema(
    [
        ("output", pa.string()),
        ("part", pa.int64()),
        ("uri", pa.string()),
        ("sha256", pa.string()),
        ("row_count", pa.int64()),
        ("num_bytes", pa.int64()),
        ("note", pa.string()),
    ]
)
WINDOW_ROWS = 100_000  # rows of one part handed to a split function at a time

# split(rows of one part, in order) -> ({output: rows}, a JSON-able note); runs on the executors
Split = Callable[[pa.Table], tuple[Mapping[str, pa.Table], Any]]


@dataclass
class SplitParts:
    """What :func:`write_split_parts` wrote: one :class:`StagedVersion` per output, and the split
    function's notes (small JSON-able values, e.g. counts), in no particular order."""

    outputs: dict[str, StagedVersion]
    notes: list[Any]
    fs: LakeFileSystem = field(repr=False)

    def discard(self) -> None:
        """Remove the staging areas of outputs not committed (committing one removes its own; a removed
        area is no error)."""
        for staged in self.outputs.values():
            self.fs.delete(staged.staging_area, recursive=True)


def _split_writer(
    lake_uri: str,
    storage_options: Mapping[str, Any] | None,
    areas: Mapping[str, str],
    names: Sequence[str],
    outputs: Mapping[str, pa.Schema],
    split: Split,
    window_rows: int,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs: the task's rows, sorted by part then order, go to ``split`` a window
    of one part at a time; each output's rows are spooled to the executor's local disk (Arrow IPC) and staged
    as that output's part when the part ends. Memory: one window and one row group at a time."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        fs = filesystem_for(lake_uri, storage_options)
        staged: list[tuple[str, StagedPart]] = []
        notes: list[str] = []
        with tempfile.TemporaryDirectory(prefix="retina-parts-") as spool:
            writers: dict[str, pa.ipc.RecordBatchFileWriter] = {}
            pending: list[pa.RecordBatch] = []
            held = 0

            def spool_file(output: str) -> str:
                return os.path.join(spool, f"{output}.arrow")

            def flush() -> None:
                nonlocal pending, held
                if not pending:
                    return
                written, note = split(pa.Table.from_batches(pending))
                notes.append(json.dumps(note))
                pending, held = [], 0
                for output, rows in written.items():
                    if not rows.num_rows:
                        continue
                    if output not in writers:
                        writers[output] = pa.ipc.new_file(
                            spool_file(output),
                            outputs[output],
                            options=pa.ipc.IpcWriteOptions(compression="lz4"),
                        )
                    writers[output].write_table(rows.select(outputs[output].names).cast(outputs[output]))

            def finish(index: int) -> None:
                flush()
                for output, writer in list(writers.items()):
                    writer.close()
                    with pa.memory_map(spool_file(output)) as source:
                        reader = pa.ipc.open_file(source)
                        rows = (reader.get_batch(i) for i in range(reader.num_record_batches))
                        part = stage_part(fs, areas[output], index, rows, outputs[output])
                    os.remove(spool_file(output))
                    staged.append((output, part))
                writers.clear()

            current: int | None = None
            for index, piece in _pieces_by_part(batches, names):
                if current is not None and index != current:
                    finish(current)
                current = index
                while piece.num_rows:  # windows of at most window_rows rows, whatever Spark's batch size
                    take = min(piece.num_rows, window_rows - held)
                    pending.append(piece.slice(0, take))
                    held += take
                    piece = piece.slice(take)
                    if held >= window_rows:
                        flush()
            if current is not None:
                finish(current)
        rows = [
            {"output": output, "part": p.index, "uri": p.uri, "sha256": p.sha256, "row_count": p.row_count,
             "num_bytes": p.num_bytes, "note": None}
            for output, p in staged
        ]  # fmt: skip
        rows += [{"output": None, "part": None, "uri": None, "sha256": None, "row_count": None,
                  "num_bytes": None, "note": note} for note in notes]  # fmt: skip
        yield pa.RecordBatch.from_pylist(rows, schema=SPLIT_ARROW_SCHEMA)

    return run


def write_split_parts(
    laid_out: Any,
    lake_uri: str,
    columns: Sequence[str],
    outputs: Mapping[str, pa.Schema],
    split: Split,
    *,
    sort_columns: Sequence[str],
    storage_options: Mapping[str, Any] | None = None,
    input_paths: Sequence[str] = (),
    window_rows: int = WINDOW_ROWS,
) -> SplitParts:
    """One pass over ``laid_out`` (a frame from :func:`lay_out`, plus any per-part columns) that writes
    several versions at once: every part's rows (its ``columns``), sorted by ``sort_columns`` (a total order),
    go through ``split`` a window at a time on the executors, and each output's rows are written as that
    output's part of the same index (cast to its schema in ``outputs``). Returns the staged versions (an
    output with no rows anywhere gets one empty part) and the notes; nothing else reaches the driver.

    The same rows give the same parts whatever the cluster: an output's part holds the rows ``split`` gives
    for that part's input rows, in their order.
    """
    _check_columns(laid_out, [*columns, *sort_columns, PART_COLUMN])
    store = VersionedStore(lake_uri, storage_options=storage_options)
    areas = {output: store.staging_area() for output in outputs}
    names = list(dict.fromkeys(columns))
    try:
        rows = (
            _sorted_parts(laid_out, sort_columns)
            .mapInArrow(
                _split_writer(lake_uri, storage_options, areas, names, outputs, split, window_rows),
                SPLIT_SCHEMA,
            )
            .collect()
        )
        staged = {}
        for output, schema in outputs.items():
            parts = _staged([r for r in rows if r["output"] is not None], output)
            staged[output] = StagedVersion(
                parts=parts or [stage_part(store.fs, areas[output], 0, iter(()), schema)],
                schema=schema,
                staging_area=areas[output],
                input_paths=list(input_paths),
            )
    except BaseException:
        for area in areas.values():
            store.fs.delete(area, recursive=True)
        raise
    notes = [json.loads(r["note"]) for r in rows if r["note"] is not None]
    return SplitParts(staged, notes, store.fs)
