"""Converting a partition's drop files into one typed, streamed raw dataset.

This is the code behind every ``<client>/raw_<dataset>`` asset, kept free of Dagster so benchmarks and
tools call exactly what the asset runs. Memory stays bounded by the reader's block size: batches flow from
the reader through :func:`~retina_assets.ingestion.coercion.coerce_batch` straight into the Parquet writer.
Reading, typing and writing overlap in three threads (:func:`~retina_assets.storage.versioned_store.prefetch`
queues of two batches between them), so a conversion uses more than one core.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.ingestion.coercion import check_columns, coerce_batch, raw_schema
from retina_assets.ingestion.landing import Drop
from retina_assets.ingestion.readers import DropReadError, iter_drop_batches, read_header, sample_drop
from retina_assets.ingestion.snapshot import DropChangedError, FileSnapshot, snapshot_file
from retina_assets.model.naming import RAW_ERRORS
from retina_assets.model.spec import DatasetSpec
from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.versioned_store import prefetch

log = logging.getLogger(__name__)

# Rows of a drop's first batch used to infer its schema for drift reports (inference on a whole batch cost
# ~0.3 s per drop before any byte was written).
SCHEMA_SAMPLE_ROWS = 50_000


@dataclass
class ConversionStats:
    """What a conversion saw, filled in while the stream is consumed."""

    files: list[str] = field(default_factory=list)
    rows_per_file: dict[str, int] = field(default_factory=dict)
    rows_with_errors: int = 0
    seconds: float = 0.0
    drop_columns: dict[str, list[str]] = field(default_factory=dict)


def probe_columns(path: str, spec: DatasetSpec, name: str) -> list[str]:
    """The column names of a drop, read cheaply (header or file schema) before streaming it."""
    fmt = spec.format
    if os.path.getsize(path) == 0:
        raise DropReadError(name, "file is empty (0 bytes)")
    if fmt in ("csv", "tsv"):
        delimiter = spec.reader.delimiter or ("\t" if fmt == "tsv" else ",")
        return read_header(path, spec.reader, delimiter, name, spec.limits)
    if fmt == "parquet":
        try:
            return pq.ParquetFile(path).schema_arrow.names
        except (pa.ArrowInvalid, OSError) as exc:
            raise DropReadError(name, f"not a readable Parquet file: {exc}") from None
    batches = iter_drop_batches(path, spec, name)
    try:
        first = next(batches, None)
    finally:
        batches.close()
    if first is None:
        return list(spec.columns)
    return [c for c in first.schema.names if c != RAW_ERRORS]  # not the reader's own notes


class DropConversion:
    """Streams the drops of one partition into record batches of the dataset's raw schema.

    Construct it (which snapshots every drop and checks its columns, failing fast with a clear error before
    any byte is written), then iterate :meth:`batches`. Every drop, local or remote, is copied once into a
    private temporary folder and hashed while it is copied (:func:`~retina_assets.ingestion.snapshot.snapshot_file`);
    everything after reads that snapshot only, so a drop rewritten during the conversion cannot mix two
    versions. ``snapshots`` (drop URI -> snapshot already taken, e.g. of archived bytes, in the folder
    ``workdir``, removed once the batches were read) are used instead of copying the landing files.
    ``expected_sha256`` (drop name -> SHA-256, e.g. what the sensor saw when it started the run) is checked
    against the snapshots: a mismatch raises :class:`~retina_assets.ingestion.snapshot.DropChangedError`.
    The landing files are only ever read.
    """

    def __init__(
        self,
        drops: Sequence[Drop],
        spec: DatasetSpec,
        landing_fs: LakeFileSystem | None,
        progress: Callable[[str], None] | None = None,
        expected_sha256: Mapping[str, str] | None = None,
        snapshots: Mapping[str, FileSnapshot] | None = None,
        workdir: tempfile.TemporaryDirectory[str] | None = None,
    ):
        self.drops = list(drops)
        self.spec = spec
        self.fs = landing_fs
        self.progress = progress or log.info
        self.stats = ConversionStats()
        self._tmp = workdir or tempfile.TemporaryDirectory(prefix="retina-drop-")
        self.snapshots: dict[str, FileSnapshot] = {}
        self._local: dict[str, str] = {}
        extras: dict[str, None] = {}
        try:
            for drop in self.drops:
                if snapshots is not None:
                    snap = snapshots[drop.uri]
                elif landing_fs is not None:
                    snap = snapshot_file(
                        landing_fs, drop.uri, self._tmp.name, drop.name, spec.limits.max_bytes
                    )
                else:
                    raise ValueError(
                        "DropConversion needs a landing filesystem or local snapshots of the drops"
                    )
                expected = (expected_sha256 or {}).get(drop.name)
                if expected is not None and expected != snap.sha256:
                    raise DropChangedError(
                        drop.name,
                        f"its content is not the content this run was started for (sha256 {expected[:12]}... "
                        f"expected, {snap.sha256[:12]}... found): the file was replaced after the sensor saw "
                        "it; nothing was converted (the new content gets its own run)",
                    )
                self.snapshots[drop.uri] = snap
                self._local[drop.uri] = snap.path
                columns = probe_columns(snap.path, spec, drop.name)
                self.stats.drop_columns[drop.name] = columns
                extras.update(dict.fromkeys(check_columns(columns, spec, drop.name)))
        except BaseException:
            self._tmp.cleanup()
            raise
        self.extra_columns = list(extras)
        self.schema = raw_schema(spec, self.extra_columns)

    def drop_schemas(self) -> dict[str, dict[str, str]]:
        """Each drop file's schema ``{column: type}`` (see :mod:`retina_assets.ingestion.drift`), inferred
        from its first ``SCHEMA_SAMPLE_ROWS`` rows (every drop is sampled the same way,
        so drift reports compare like with like); a file with no data rows gets its header columns typed
        ``null``."""
        from retina_assets.ingestion.drift import batch_schema

        text = self.spec.format in ("csv", "tsv", "fixed_width", "xlsx")  # read as text: infer types
        out: dict[str, dict[str, str]] = {}
        for drop in self.drops:
            sample = sample_drop(self._local[drop.uri], self.spec, SCHEMA_SAMPLE_ROWS, drop.name)
            if sample is None:
                out[drop.name] = dict.fromkeys(self.stats.drop_columns[drop.name], "null")
            else:
                out[drop.name] = batch_schema(sample, text_format=text)
        return out

    def batches(self, on_complete: Callable[[], None] | None = None) -> Iterator[pa.RecordBatch]:
        """The typed batches of every drop in turn; ``on_complete`` runs after the last one, while the local
        copies still exist (they are removed when the iteration ends, however it ends)."""
        started = time.perf_counter()
        try:
            for drop in self.drops:
                rows = 0
                file_started = time.perf_counter()
                # the reader runs ahead in its own thread while this one types the previous batch
                reader = prefetch(iter_drop_batches(self._local[drop.uri], self.spec, drop.name))
                for batch in reader:
                    out = coerce_batch(batch, self.spec, self.schema, drop.uri, rows + 1)
                    rows += out.num_rows
                    self.stats.rows_with_errors += out.num_rows - out.column("_raw_errors").null_count
                    yield out
                elapsed = time.perf_counter() - file_started
                self.stats.files.append(drop.uri)
                self.stats.rows_per_file[drop.name] = rows
                self.progress(
                    f"{drop.name}: {rows:,} rows in {elapsed:.1f}s ({rows / max(elapsed, 1e-9):,.0f} rows/s)"
                )
            if on_complete is not None:
                on_complete()
        finally:
            self.stats.seconds = time.perf_counter() - started
            self._tmp.cleanup()
