"""Raw conversion on Spark: a partition's delimited drops read by Spark's CSV reader (fixed-width drops by its
text reader), typed by the project's own coercion on the executors, and written by the executors as a
multi-part raw version.

:func:`convert_partition_on_spark` takes the same inputs as the in-process
:func:`~retina_assets.ingestion.raw_stage.convert_partition` (plus the Spark session and the lake) and returns
the same :class:`~retina_assets.ingestion.raw_stage.RawPartition`, whose ``stream`` is then a
:class:`~retina_assets.storage.versioned_store.StagedVersion` (parts written by the executors, committed by the
IO manager or :meth:`~retina_assets.storage.versioned_store.VersionedStore.commit_parts`). What stays the same:

* **The drop's safety steps run first, on the driver**: completeness rule, one hashed read-only snapshot per
  drop (and the sensor's ``expected_sha256``), ``limits.max_bytes``, the header and columns checked against the
  spec, drift against the previous partition, the drop's text checked against its encoding. Then the snapshot
  is kept in the lake's archive, and **Spark reads the archived copy**: a cluster converts exactly the bytes
  that were hashed. (Unlike in-process, the archive is written before the rows are read, because the
  executors read it; a drop refused later leaves its bytes in the content-addressed archive, referenced by
  no version.)
* **Reading**: Spark's CSV reader with the client's delimiter and quote, doubled quotes as the escape (RFC
  4180, as the in-process reader), the declared encoding (UTF-8, or Latin-1), every column as text. An
  unquoted empty field is null and a quoted one ``""`` is the empty text, as in-process. A record whose
  field count differs from the header's fails the drop, naming the file (in-process does the same).
* **Typing**: every batch goes through :func:`~retina_assets.ingestion.coercion.coerce_batch` in a
  ``mapInArrow`` task (decimal separator, digit grouping, date formats, exact-value rules, the messages in
  ``_raw_errors``): one implementation for both engines, so types, values and flags are the same.
* **Line numbers**: Spark has none. A first, cheap pass counts the records of every input split (keyed by
  drop and the split's first byte, ``_metadata.file_block_start``); the driver turns the counts into
  offsets, and each typing task numbers its rows from its split's offset, so ``_source_row`` is the same
  record number as in-process. A drop is split across tasks only when its records cannot span lines
  (:attr:`RecordScan.splittable`: no quoted line break, no whitespace-only line); otherwise Spark reads it
  whole in one task (``multiLine``), still on an executor. A drop with a carriage return inside a quoted
  value is converted in-process (Spark's parser would turn a quoted CR LF into LF).
* **Writing**: rows go to parts by contiguous ranges of their position in the partition (drops in order, then
  record number), sorted within parts, so the parts read in order give exactly the in-process row order
  (:func:`~retina_assets.engines.spark_writer.write_parts`). The driver receives only counts and part names.

What stays in-process, and why (:func:`in_process_reason`; the raw asset then converts in-process and
writes a one-file version through the same store): JSON documents (one value per file: nothing to split),
JSON Lines (the in-process reader fixes the columns and their types from the file's first 16 MiB block,
which a reader working split by split cannot reproduce), Excel (a zipped workbook read as one XML stream),
Parquet (already typed: its footer is checked against the limits before a page is read), compressed drops (a ``.gz`` is not splittable, ``.zip`` has no Hadoop codec,
and the size limit after decompression is enforced while streaming), encodings other than UTF-8/ASCII and
Latin-1 (Java's decoders differ from Python's on undefined bytes), ``header_row`` junk lines, an ``escape``
character, and null markers other than the empty field (Spark cannot tell a quoted marker from an
unquoted one); for fixed-width text, encodings other than UTF-8/ASCII (Spark's text reader decodes UTF-8
only). ``limits.max_seconds`` is not enforced on Spark (the run's own timeout applies).

Fixed-width drops: Spark's text reader gives the lines (split between tasks at line ends: there are no
quotes), a first pass counts each split's lines and records (lines neither blank nor comments) in Python, and
the typing tasks split and check each line with the in-process reader's own functions, so values, errors and
line numbers are the same.
"""

from __future__ import annotations

import codecs
import itertools
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from retina_assets.engines.spark import functions_for
from retina_assets.engines.spark_writer import ROWS_PER_PART, parts_for_rows, write_parts
from retina_assets.ingestion.coercion import coerce_batch
from retina_assets.ingestion.drop_stream import DropLimitError, DropReadError, compression_of
from retina_assets.ingestion.landing import Drop
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.raw_stage import (
    RawPartition,
    archive_drops,
    archived_snapshots,
    convert_archived_drops,
    convert_partition,
    describe_partition,
    partition_drops,
    planned_archive,
    snapshot_drops,
)
from retina_assets.ingestion.readers import fixed_width_fields, is_fixed_width_record, split_fixed_width
from retina_assets.ingestion.snapshot import FileSnapshot
from retina_assets.model.naming import RAW_ERRORS
from retina_assets.model.spec import ClientSpec, DatasetSpec
from retina_assets.storage.content_store import ArchivedDrop
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.versioned_store import StagedVersion

SPARK_FORMATS = ("csv", "tsv", "fixed_width")
# Python codec name -> the Java charset Spark decodes with; both map every byte the same way
SPARK_ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "ascii": "UTF-8", "iso8859-1": "ISO-8859-1"}
FORMAT_REASONS = {
    "json": "a JSON document is one value per file: there are no records to split between tasks",
    "jsonl": "the in-process JSON Lines reader fixes the columns and their types from the file's first "
    "16 MiB block, which a reader working split by split cannot reproduce",
    "xlsx": "a workbook is a zip archive read as one XML stream (and Excel caps a sheet at 1,048,576 rows)",
    "parquet": "a Parquet drop is already typed; its footer is checked against the limits before any page is read",
}
# Internal columns of the Spark plan (never in the raw version).
DROP = "_retina_drop"
BLOCK = "_retina_block"
MALFORMED = "_retina_malformed"
POSITION = "_retina_position"
PART = "_retina_raw_part"
# What Spark gives for a quoted empty field, turned back into "" (an unquoted empty field is null)
QUOTED_EMPTY = "\ue000retina:quoted-empty\ue000"
SCAN_BLOCK_BYTES = 8 << 20
# Drops smaller than this are one input split anyway: read whole (no line scan needed).
SPLIT_MIN_BYTES = 64 << 20


def in_process_reason(spec: DatasetSpec, drops: Sequence[Drop] = ()) -> str | None:
    """Why these drops of ``spec``'s dataset are converted in-process instead of on Spark, or ``None`` when
    Spark converts them (see the module docstring)."""
    if spec.format not in SPARK_FORMATS:
        return f"format {spec.format}: {FORMAT_REASONS[spec.format]}"
    compressed = [d.name for d in drops if compression_of(d.name)]
    if compressed:
        return (
            f"compressed drop(s) {compressed[:3]}: gzip is not splittable, zip has no Hadoop codec, and the "
            "size limit after decompression is enforced while streaming in-process"
        )
    options = spec.reader
    encoding = codecs.lookup(options.encoding).name
    if spec.format == "fixed_width" and encoding not in ("utf-8", "ascii"):
        return (
            f"encoding {options.encoding}: Spark's text reader decodes UTF-8 only (a byte-order mark "
            "included)"
        )
    if encoding not in SPARK_ENCODINGS:
        return (
            f"encoding {options.encoding}: Spark reads UTF-8 and Latin-1 exactly as in-process; Java's "
            "decoders for other encodings differ from Python's on undefined bytes"
        )
    if options.header_row:
        return (
            "header_row junk lines are counted as physical lines in-process, which Spark's reader cannot do"
        )
    if options.escape is not None:
        return "an escape character: Spark's CSV reader applies it to quotes only, the in-process one to any character"
    if spec.format != "fixed_width" and list(options.null_values) != [""]:
        return (
            "null markers other than the empty field: Spark cannot tell a quoted marker from an unquoted one"
        )
    return None


def check_text(path: str, encoding: str, name: str) -> None:
    """Raise :class:`DropReadError` (naming the file and the byte offset) unless the local file ``path``
    decodes as ``encoding``: Spark's reader would silently replace an invalid byte, the in-process reader
    refuses the drop. Reads the file once in blocks (bounded memory); Latin-1 accepts every byte."""
    name_of = codecs.lookup(encoding).name
    if name_of == "iso8859-1":
        return
    decoder = codecs.getincrementaldecoder(name_of)()
    offset = 0
    with open(path, "rb") as fh:
        while block := fh.read(SCAN_BLOCK_BYTES):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise DropReadError(
                    name,
                    f"byte 0x{exc.object[exc.start]:02x} at byte offset {offset + exc.start:,} is not valid "
                    f"{encoding} ({exc.reason})",
                ) from None
            offset += len(block)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise DropReadError(name, f"the file ends inside a {encoding} character ({exc.reason})") from None


@dataclass(frozen=True)
class RecordScan:
    """What one pass over a delimited drop's bytes says about its records (:func:`scan_records`).

    ``quotes_exact``: every quote opens or closes a field (or is doubled inside one), so whether a byte is
    inside a quoted field is known from the parity of the quotes before it. ``breaks_in_quotes``: some
    quoted field holds a line break; ``cr_in_quotes``: one holds a carriage return (Spark's parser turns a
    quoted CR LF into LF, the in-process reader keeps it). ``blank_lines``: a line of only spaces or tabs
    (a record in-process, skipped by Spark's line reader). ``has_cr``: the file has a carriage return."""

    quotes_exact: bool
    breaks_in_quotes: bool
    cr_in_quotes: bool
    blank_lines: bool
    has_cr: bool

    @property
    def splittable(self) -> bool:
        """Every record is exactly one line: Spark may split the file between tasks at line boundaries."""
        return self.quotes_exact and not self.breaks_in_quotes and not self.blank_lines

    @property
    def spark_reads_exactly(self) -> bool:
        """Spark's CSV parser gives every value exactly as the in-process reader does: no quoted CR (or no
        CR at all when the quotes cannot be followed)."""
        return not self.has_cr or (self.quotes_exact and not self.cr_in_quotes)


def scan_records(path: str, delimiter: str, quote: str | None) -> RecordScan:
    """One vectorised pass over the local file ``path`` (bounded memory) filling a :class:`RecordScan`.
    Works on bytes, which is exact for the ASCII-compatible encodings Spark reads here. A doubtful answer
    errs on the safe side: a drop read whole, or converted in-process."""
    q = ord(quote) if quote else -1
    d = ord(delimiter)
    quotes_exact, breaks_in_quotes, cr_in_quotes, blank_lines, has_cr = True, False, False, False, False
    inside = False  # within a quoted field at the end of the previous block
    previous = ord("\n")  # the byte before the block
    line_has_text = line_has_bytes = False  # the line running on from the previous block
    with open(path, "rb") as fh:
        while block := fh.read(SCAN_BLOCK_BYTES):
            octets = np.frombuffer(block, dtype=np.uint8)
            before = np.empty_like(octets)
            before[0] = previous
            before[1:] = octets[:-1]
            cr = octets == 0x0D
            newline = (octets == 0x0A) | cr
            has_cr = has_cr or bool(cr.any())
            if q >= 0 and quotes_exact:
                quotes = octets == q
                parity = (np.cumsum(quotes, dtype=np.int64) + int(inside)) % 2  # odd: inside, after the byte
                was_inside = (parity ^ quotes).astype(bool)  # inside before the byte
                # an opening quote starts a field or is the second of a doubled quote
                field_start = (before == d) | (before == 0x0A) | (before == 0x0D) | (before == q)
                quotes_exact = not bool(np.any(quotes & ~was_inside & ~field_start))
                breaks_in_quotes = breaks_in_quotes or bool(np.any(newline & was_inside))
                cr_in_quotes = cr_in_quotes or bool(np.any(cr & was_inside))
                inside = bool(parity[-1])
            # lines (between line breaks) that have bytes, all of them spaces or tabs
            ends = np.flatnonzero(newline)
            starts = np.concatenate(([0], ends + 1))
            stops = np.concatenate((ends, [octets.size]))
            text = ~((octets == 0x20) | (octets == 0x09) | newline)
            counted = np.concatenate(([0], np.cumsum(text, dtype=np.int64)))
            has_text = (counted[stops] - counted[starts]) > 0
            has_bytes = (stops - starts) > 0
            has_text[0] |= line_has_text
            has_bytes[0] |= line_has_bytes
            blank_lines = blank_lines or bool(np.any(has_bytes[:-1] & ~has_text[:-1]))
            line_has_text, line_has_bytes = bool(has_text[-1]), bool(has_bytes[-1])
            previous = int(octets[-1])
    blank_lines = blank_lines or (line_has_bytes and not line_has_text)
    return RecordScan(quotes_exact and not inside, breaks_in_quotes, cr_in_quotes, blank_lines, has_cr)


def _runs(drop: np.ndarray, block: np.ndarray) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of the runs of equal (drop, block) values."""
    change = np.flatnonzero((np.diff(drop) != 0) | (np.diff(block) != 0)) + 1
    bounds = [0, *change.tolist(), len(drop)]
    return itertools.pairwise(bounds)


def _typer(
    spec: DatasetSpec,
    schema: pa.Schema,
    columns: list[str],
    names: list[str],
    widths: list[int],
    sources: list[str],
    first_record: Mapping[tuple[int, int], int],
    bases: list[int],
    total: int,
    parts: int,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The function each Spark task runs (pickled to the executors): number the task's records from their
    split's offset, drop each file's header record, refuse malformed records, type the rest with
    :func:`coerce_batch` and add each row's position in the partition and its part."""
    out_schema = schema.append(pa.field(POSITION, pa.int64())).append(pa.field(PART, pa.int64()))

    def type_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        seen: dict[tuple[int, int], int] = {}
        for batch in batches:
            if not batch.num_rows:
                continue
            drop = batch.column(DROP).to_numpy(zero_copy_only=False)
            block = batch.column(BLOCK).to_numpy(zero_copy_only=False)
            for start, end in _runs(drop, block):
                key = (int(drop[start]), int(block[start]))
                done = seen.get(key, 0)
                seen[key] = done + end - start
                record = first_record[key] + done  # 0-based record number in the file; 0 is the header
                piece = batch.slice(start, end - start)
                bad = piece.column(MALFORMED)
                if bad.null_count < len(bad):
                    at = int(pc.index(pc.is_valid(bad), True).as_py())
                    raise DropReadError(
                        names[key[0]],
                        f"record {record + at:,} does not have the header's {widths[key[0]]} fields: "
                        f"{str(bad[at].as_py())[:200]!r}",
                    )
                if record == 0:
                    piece, record = piece.slice(1), 1
                if not piece.num_rows:
                    continue
                text = pa.RecordBatch.from_arrays(
                    [
                        pc.if_else(pc.equal(piece.column(c), QUOTED_EMPTY), "", piece.column(c))
                        for c in columns
                    ],
                    names=columns,
                )
                yield _typed(
                    text, spec, schema, out_schema, sources[key[0]], record, bases[key[0]], total, parts
                )

    return type_batches


def _typed(
    text: pa.RecordBatch,
    spec: DatasetSpec,
    schema: pa.Schema,
    out_schema: pa.Schema,
    source: str,
    first_row: int,
    base: int,
    total: int,
    parts: int,
) -> pa.RecordBatch:
    """Consecutive records of one drop (text columns, the first being data row ``first_row``) typed by
    :func:`coerce_batch`, with each row's position in the partition (``base`` = the drop's first) and part."""
    typed = coerce_batch(text, spec, schema, source, first_row)
    position = np.arange(first_row - 1, first_row - 1 + typed.num_rows, dtype=np.int64) + base
    part = np.minimum(position * parts // max(total, 1), parts - 1)
    return pa.RecordBatch.from_arrays([*typed.columns, pa.array(position), pa.array(part)], schema=out_schema)


COUNTS_SCHEMA = f"{DROP} int, {BLOCK} long, records long, lines long"


def _read_lines(spark: Any, paths: list[str]) -> Any:
    """One Spark frame of the drops' lines (``value``, without line ends; ``\n``, ``\r\n`` and ``\r`` end a
    line, as Python's universal newlines), with each line's drop and split."""
    frames = []
    for i, path in enumerate(paths):
        frame = spark.read.format("text").load(path)
        F = functions_for(frame)  # noqa: N806
        frames.append(
            frame.select(
                F.col("value"), F.lit(i).alias(DROP), F.col("_metadata.file_block_start").alias(BLOCK)
            )
        )
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    return combined


def _line_counter(options: Any) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """Per task: how many lines, and how many records (lines neither blank nor comments), of each split."""

    def count(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        counts: dict[tuple[int, int], list[int]] = {}
        for batch in batches:
            drop = batch.column(DROP).to_numpy(zero_copy_only=False)
            block = batch.column(BLOCK).to_numpy(zero_copy_only=False)
            values = batch.column("value").to_pylist()
            for start, end in _runs(drop, block):
                entry = counts.setdefault((int(drop[start]), int(block[start])), [0, 0])
                entry[0] += sum(is_fixed_width_record(v, options) for v in values[start:end])
                entry[1] += end - start
        keys = sorted(counts)
        yield pa.RecordBatch.from_arrays(
            [
                pa.array([k[0] for k in keys], pa.int32()),
                pa.array([k[1] for k in keys], pa.int64()),
                pa.array([counts[k][0] for k in keys], pa.int64()),
                pa.array([counts[k][1] for k in keys], pa.int64()),
            ],
            names=[DROP, BLOCK, "records", "lines"],
        )

    return count


def _line_typer(
    spec: DatasetSpec,
    schema: pa.Schema,
    headers: list[list[str]],
    names: list[str],
    sources: list[str],
    first_record: Mapping[tuple[int, int], int],
    first_line: Mapping[tuple[int, int], int],
    bases: list[int],
    total: int,
    parts: int,
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The fixed-width typing task: each line split and checked by the in-process reader's own functions
    (:func:`~retina_assets.ingestion.readers.split_fixed_width`, ``fixed_width_fields``; the same errors
    with the same line numbers), each file's header line skipped, the rest typed as :func:`_typer` does."""
    options = spec.reader
    longest = spec.limits.max_row_bytes
    markers = set(options.null_values) - {""}
    out_schema = schema.append(pa.field(POSITION, pa.int64())).append(pa.field(PART, pa.int64()))

    def type_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        seen: dict[tuple[int, int], list[int]] = {}
        for batch in batches:
            drop = batch.column(DROP).to_numpy(zero_copy_only=False)
            block = batch.column(BLOCK).to_numpy(zero_copy_only=False)
            values = batch.column("value").to_pylist()
            for start, end in _runs(drop, block):
                key = (int(drop[start]), int(block[start]))
                index, name, header = key[0], names[key[0]], headers[key[0]]
                done = seen.setdefault(key, [0, 0])  # records, lines of this split seen so far
                rows: list[list[str | None]] = []
                first_row = 0
                for line in values[start:end]:
                    done[1] += 1
                    lineno = first_line[key] + done[1]
                    if len(line) + 1 > longest:  # + its line end, as read in-process
                        raise DropLimitError(
                            name, f"a line is longer than {longest:,} characters (limits.max_row_bytes)"
                        )
                    if not is_fixed_width_record(line, options):
                        continue
                    record = first_record[key] + done[0]  # 0 is the header
                    done[0] += 1
                    fields = split_fixed_width(line, options.widths, name, lineno)
                    if record == 0:
                        continue
                    first_row = first_row or record
                    rows.append(fixed_width_fields(fields, len(header), markers, name, lineno))
                if rows:
                    columns = list(zip(*rows, strict=True))
                    text = pa.RecordBatch.from_arrays(
                        [pa.array(c, pa.string()) for c in columns], names=header
                    )
                    yield _typed(
                        text, spec, schema, out_schema, sources[index], first_row, bases[index], total, parts
                    )

    return type_batches


_ERROR_LINE = re.compile(r"(?:DropReadError|DropLimitError): (.+)")


def _reraise_drop_error(exc: Exception, names: Sequence[str]) -> None:
    """Raise the :class:`DropReadError` a Spark task raised (Spark wraps it in its own exception)."""
    text = str(exc)
    for match in _ERROR_LINE.finditer(text):
        message = match.group(1)
        for name in names:
            if message.startswith(f"{name}: "):
                kind = DropLimitError if "DropLimitError" in match.group(0) else DropReadError
                raise kind(name, message[len(name) + 2 :]) from None
    if "maxCharsPerColumn" in text or "Length of parsed input" in text:
        raise DropLimitError(
            ", ".join(names), "a field is longer than limits.max_row_bytes, or a quote is never closed"
        ) from None


def _read_drops(
    spark: Any,
    spec: DatasetSpec,
    paths: list[str],
    headers: list[list[str]],
    columns: list[str],
    whole: list[bool],
) -> Any:
    """One Spark frame of the drops' records (all columns text), with each record's drop and split."""
    from pyspark.sql.types import StringType, StructField, StructType

    options = spec.reader
    delimiter = options.delimiter or ("\t" if spec.format == "tsv" else ",")
    frames = []
    for i, (path, header) in enumerate(zip(paths, headers, strict=True)):
        schema = StructType([StructField(h, StringType()) for h in [*header, MALFORMED]])
        frame = (
            spark.read.format("csv")
            .schema(schema)
            .option("header", "false")
            .option("sep", delimiter)
            .option("quote", options.quote or "\u0000")
            .option("escape", options.quote or "\\")
            .option("encoding", SPARK_ENCODINGS[codecs.lookup(options.encoding).name])
            .option("multiLine", whole[i])
            .option("mode", "PERMISSIVE")
            .option("columnNameOfCorruptRecord", MALFORMED)
            .option("nullValue", "")
            .option("emptyValue", QUOTED_EMPTY)
            .option("ignoreLeadingWhiteSpace", False)
            .option("ignoreTrailingWhiteSpace", False)
            .option("maxCharsPerColumn", spec.limits.max_row_bytes)
            .option("maxColumns", max(spec.limits.max_columns + 1, len(header) + 1))
            .option("enforceSchema", True)
            .load(path)
        )
        F = functions_for(frame)  # noqa: N806
        frame = frame.select(
            *[F.col(f"`{c}`") if c in header else F.lit(None).cast("string").alias(c) for c in columns],
            F.col(f"`{MALFORMED}`"),
            F.lit(i).alias(DROP),
            F.col("_metadata.file_block_start").alias(BLOCK),
        )
        frames.append(frame)
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    return combined


def _errors_in_parts(fs: LakeFileSystem, staged: StagedVersion) -> int:
    """Rows with a ``_raw_errors`` message, from the parts' Parquet statistics (null counts; no data read)."""
    rows = 0
    for part in staged.parts:
        with fs.open_read(part.uri) as fh:
            meta = pq.ParquetFile(fh).metadata
        index = meta.schema.to_arrow_schema().get_field_index(RAW_ERRORS)
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            stats = group.column(index).statistics
            if stats is None or not stats.has_null_count:
                raise ValueError(f"{part.uri}: no null count statistics for {RAW_ERRORS}")
            rows += group.num_rows - stats.null_count
    return rows


def convert_partition_on_spark(
    fs: LakeFileSystem,
    landing_uri: str,
    client: ClientSpec,
    dataset: str,
    partition: str,
    spark: Any,
    lake_uri: str,
    storage_options: Mapping[str, Any] | None = None,
    previous_schema: tuple[str | None, dict[str, str] | None] = (None, None),
    log: Callable[[str], None] | None = None,
    expected_sha256: Mapping[str, str] | None = None,
    rows_per_part: int = ROWS_PER_PART,
    split_min_bytes: int = SPLIT_MIN_BYTES,
) -> RawPartition:
    """Prepare the raw version of ``client``/``dataset`` for ``partition`` on Spark (see the module
    docstring): the same checks, errors, rows, types, lineage and metadata as
    :func:`~retina_assets.ingestion.raw_stage.convert_partition` with ``archive`` = the lake at
    ``lake_uri``. The returned partition's ``stream`` is a :class:`StagedVersion` (parts already written by
    the executors) when Spark converted the drops; when they stay in-process (:func:`in_process_reason`,
    logged and in the metadata as ``raw_engine_note``) it is the in-process stream.
    ``rows_per_part`` sets how many rows each part holds (the layout depends only on the data); a drop of
    at least ``split_min_bytes`` is split between tasks when :attr:`RecordScan.splittable` allows it.
    """
    spec = client.datasets[dataset]
    say = log or (lambda _msg: None)
    archive = filesystem_for(lake_uri, storage_options)
    drops = partition_drops(fs, landing_uri, client, dataset, partition, expected_sha256)

    def in_process(reason: str) -> RawPartition:
        say(f"converting in-process, not on Spark: {reason}")
        prepared = convert_partition(
            fs, landing_uri, client, dataset, partition, previous_schema=previous_schema, log=log,
            archive=archive, expected_sha256=expected_sha256,
        )  # fmt: skip
        prepared.stream.metadata["raw_engine_note"] = f"in-process: {reason}"
        return prepared

    reason = in_process_reason(spec, drops)
    if reason is not None:
        return in_process(reason)
    started = time.perf_counter()
    say(f"converting {len(drops)} drop(s) on Spark: {[d.name for d in drops]}")
    snapshots, workdir = snapshot_drops(fs, archive, drops, spec.limits.max_bytes)
    try:
        conversion = DropConversion(
            drops, spec, None, progress=say, snapshots=snapshots, workdir=workdir,
            expected_sha256=expected_sha256,
        )  # fmt: skip
        whole = _split_plan(spec, drops, snapshots, split_min_bytes)
        if isinstance(whole, str):
            return in_process(whole)
        planned = planned_archive(archive, client.client, dataset, drops, snapshots)
        report, metadata = describe_partition(
            client, dataset, partition, drops, conversion, planned, previous_schema
        )
        archived = archive_drops(archive, client.client, dataset, drops, snapshots)
    finally:
        workdir.cleanup()
    say("archived: " + ", ".join(f"{d.name} -> {archived[d.uri].uri}" for d in drops))
    staged = _rows_on_spark(
        spark,
        spec,
        drops,
        conversion,
        archived,
        whole,
        lake_uri,
        storage_options,
        metadata,
        rows_per_part,
        say,
    )
    staged.metadata["conversion_seconds"] = round(time.perf_counter() - started, 3)
    return RawPartition(drops, report, staged, [archived[d.uri] for d in drops])


def convert_archived_drops_on_spark(
    lake_fs: LakeFileSystem,
    client: ClientSpec,
    dataset: str,
    partition: str,
    inputs: list[ArchivedDrop],
    spark: Any,
    target_lake_uri: str,
    storage_options: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    rows_per_part: int = ROWS_PER_PART,
    split_min_bytes: int = SPLIT_MIN_BYTES,
) -> RawPartition:
    """A raw version rebuilt on Spark from its archived drops (in the lake of ``lake_fs``), as
    :func:`~retina_assets.ingestion.raw_stage.convert_archived_drops` rebuilds one in-process: each archived
    file is copied and checked against its hash, and Spark reads the archived file itself. The parts are
    staged in the lake at ``target_lake_uri`` (``storage_options`` reach it). Identical drops and spec give
    identical parts, so the rebuilt version has the recorded content hash. Drops that stay in-process
    (:func:`in_process_reason`) are rebuilt in-process."""
    spec = client.datasets[dataset]
    say = log or (lambda _msg: None)
    names = [Drop(i.source, i.name, i.size, i.sha256, dataset, partition) for i in inputs]
    if in_process_reason(spec, names) is not None:
        return convert_archived_drops(lake_fs, client, dataset, partition, inputs, log)
    drops, snapshots, workdir = archived_snapshots(lake_fs, dataset, partition, inputs)
    try:
        conversion = DropConversion(drops, spec, None, progress=say, snapshots=snapshots, workdir=workdir)
        whole = _split_plan(spec, drops, snapshots, split_min_bytes)
        archived = {item.source: item for item in inputs}
        if not isinstance(whole, str):
            report, metadata = describe_partition(
                client, dataset, partition, drops, conversion, archived, (None, None), check_drift=False
            )
    finally:
        workdir.cleanup()
    if isinstance(whole, str):
        return convert_archived_drops(lake_fs, client, dataset, partition, inputs, log)
    staged = _rows_on_spark(
        spark, spec, drops, conversion, archived, whole, target_lake_uri, storage_options, metadata,
        rows_per_part, say,
    )  # fmt: skip
    return RawPartition(drops, report, staged, list(inputs))


def _split_plan(
    spec: DatasetSpec, drops: list[Drop], snapshots: Mapping[str, FileSnapshot], split_min_bytes: int
) -> list[bool] | str:
    """For each drop (local snapshots), whether Spark reads it whole in one task (``multiLine``) rather than
    split between tasks; or the reason the partition is converted in-process. Raises
    :class:`DropReadError` for bytes that are not valid in the declared encoding."""
    options = spec.reader
    if spec.format == "fixed_width":  # no quotes: every record is one line
        for d in drops:
            check_text(snapshots[d.uri].path, options.encoding, d.name)
        return [snapshots[d.uri].size < split_min_bytes for d in drops]
    # the in-process CSV reader reads ASCII as UTF-8 (Arrow's UTF-8 check)
    encoding = "latin-1" if codecs.lookup(options.encoding).name == "iso8859-1" else "utf-8"
    delimiter = options.delimiter or ("\t" if spec.format == "tsv" else ",")
    scans = {}
    for d in drops:
        check_text(snapshots[d.uri].path, encoding, d.name)
        scans[d.name] = scan_records(snapshots[d.uri].path, delimiter, options.quote)
    inexact = [name for name, scan in scans.items() if not scan.spark_reads_exactly]
    if inexact:
        return (
            f"{inexact[:3]}: a quoted value holds a carriage return (or quotes cannot be followed in a "
            "file with carriage returns), which Spark's CSV parser would turn into a line feed"
        )
    return [snapshots[d.uri].size < split_min_bytes or not scans[d.name].splittable for d in drops]


def _rows_on_spark(
    spark: Any,
    spec: DatasetSpec,
    drops: list[Drop],
    conversion: DropConversion,
    archived: Mapping[str, ArchivedDrop],
    whole: list[bool],
    lake_uri: str,
    storage_options: Mapping[str, Any] | None,
    metadata: dict[str, Any],
    rows_per_part: int,
    say: Callable[[str], None],
) -> StagedVersion:
    """Spark's part of the conversion (the module docstring's reading, numbering, typing and writing) over
    the archived drops; returns the parts the executors staged in the lake at ``lake_uri``."""
    names = [d.name for d in drops]
    headers = [conversion.stats.drop_columns[n] for n in names]
    columns = list(dict.fromkeys(c for h in headers for c in h))
    paths = [archived[d.uri].uri for d in drops]
    lines = spec.format == "fixed_width"
    frame = _read_lines(spark, paths) if lines else _read_drops(spark, spec, paths, headers, columns, whole)
    F = functions_for(frame)  # noqa: N806
    try:
        if lines:  # records are the lines that are neither blank nor comments: counted in Python
            counted = (
                frame.mapInArrow(_line_counter(spec.reader), COUNTS_SCHEMA)
                .groupBy(DROP, BLOCK)
                .agg(F.sum("records").alias("records"), F.sum("lines").alias("lines"))
                .collect()
            )
        else:
            counted = frame.groupBy(DROP, BLOCK).agg(F.count(F.lit(1)).alias("records")).collect()
    except Exception as exc:
        _reraise_drop_error(exc, names)
        raise
    records: dict[int, list[tuple[int, int, int]]] = {}
    for row in counted:
        physical = int(row["lines"]) if lines else 0
        records.setdefault(int(row[DROP]), []).append((int(row[BLOCK]), int(row["records"]), physical))
    first_record: dict[tuple[int, int], int] = {}
    first_line: dict[tuple[int, int], int] = {}
    rows_per_file: dict[str, int] = {}
    bases: list[int] = []
    total = 0
    for i, name in enumerate(names):
        offset = line_offset = 0
        for block, count, physical in sorted(records.get(i, [])):
            first_record[(i, block)] = offset
            first_line[(i, block)] = line_offset
            offset += count
            line_offset += physical
        rows = max(offset - 1, 0)  # the header is the first record
        if rows > spec.limits.max_rows:
            raise DropLimitError(name, f"{rows:,} rows, more than {spec.limits.max_rows:,} (limits.max_rows)")
        rows_per_file[name] = rows
        bases.append(total)
        total += rows
    parts = parts_for_rows(total, rows_per_part)
    say(
        f"{total:,} rows in {len(drops)} drop(s) ({sum(not w for w in whole)} split between tasks); "
        f"writing {parts} part(s) from the executors"
    )
    sources = [d.uri for d in drops]
    if lines:
        typer = _line_typer(
            spec, conversion.schema, headers, names, sources, first_record, first_line, bases, total, parts
        )
    else:
        widths = [len(h) for h in headers]
        typer = _typer(
            spec, conversion.schema, columns, names, widths, sources, first_record, bases, total, parts
        )
    typed = frame.mapInArrow(typer, _spark_schema(conversion.schema))
    try:
        staged = write_parts(
            typed, lake_uri, conversion.schema, parts=parts, key_columns=[], sort_columns=[POSITION],
            storage_options=storage_options, part_column=PART,
            input_paths=[archived[d.uri].uri for d in drops], metadata=metadata,
        )  # fmt: skip
    except Exception as exc:
        _reraise_drop_error(exc, names)
        raise
    staged.metadata.update(
        {
            "rows_with_unparseable_values": _errors_in_parts(
                filesystem_for(lake_uri, storage_options), staged
            ),
            "rows_per_file": rows_per_file,
            "parts": len(staged.parts),
            "drops_split_between_tasks": [n for n, w in zip(names, whole, strict=True) if not w],
        }
    )
    return staged


def _spark_schema(schema: pa.Schema) -> Any:
    """The Spark schema of the typing tasks' output: the raw schema (timestamps without time zone) plus the
    row's position and part."""
    from pyspark.sql.pandas.types import from_arrow_schema

    with_position = schema.append(pa.field(POSITION, pa.int64())).append(pa.field(PART, pa.int64()))
    return from_arrow_schema(with_position, prefer_timestamp_ntz=True)
