"""Streaming readers for every drop format.

Each reader yields ``pyarrow.RecordBatch`` objects of bounded size, so a drop far larger than memory is
converted batch by batch. Text formats (CSV, TSV, fixed width) yield **all-string** columns: typing is
done afterwards by :mod:`retina_assets.ingestion.coercion`, which can then report the exact bad value
instead of failing a whole block. JSON, Parquet and Excel keep the types their format carries.

Every reader gets the drop's bytes from :func:`~retina_assets.ingestion.drop_stream.open_drop_stream`, so
compressed text drops are read streaming and every drop is read under its dataset's limits (size after
decompression, rows, columns, nesting, row size and time; ``limits:`` in the client spec).

Any problem reading a file raises :class:`DropReadError` naming the file and the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import zipfile
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from retina_assets.ingestion.drop_stream import (
    DropLimitError,
    DropReadError,
    ReadGuard,
    compression_of,
    open_drop_stream,
)
from retina_assets.ingestion.transcoding import is_single_byte_ascii_superset, utf8_stream
from retina_assets.model.naming import RAW_ERRORS
from retina_assets.model.spec import DatasetSpec, DropLimits, ReaderOptions

__all__ = ["DropLimitError", "DropReadError", "iter_drop_batches", "read_header", "sample_drop"]

BLOCK_BYTES = 16 << 20
BATCH_ROWS = 256_000
# CSV is parsed in blocks of BLOCK_BYTES / CSV_SUB_BLOCKS and regrouped into batches of about BLOCK_BYTES (at
# most BATCH_ROWS rows), so per-batch work downstream stays amortised. Small blocks parse faster (cache-friendly)
# and bound Arrow's read-ahead (~32 blocks) to ~32 MB. Measured on a 412 MB drop, whole conversion: 16 MiB
# blocks 1.45 s to parse; 4 MiB 1.06 s and ~650 MB peak RSS; 1 MiB about as fast, ~470 MB peak RSS, less
# time in the kernel faulting fresh memory.
CSV_SUB_BLOCKS = 16
# Block size when only a drop's first rows are wanted (schema sampling for drift reports).
SAMPLE_BLOCK_BYTES = 1 << 20
# What a valid Excel worksheet can hold at most (Excel's own limits): a sheet claiming more is refused.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384


def iter_drop_batches(
    path: str,
    spec: DatasetSpec,
    display_name: str | None = None,
    *,
    block_bytes: int | None = None,
    deadline: float | None = None,
) -> Iterator[pa.RecordBatch]:
    """Yield the record batches of one local drop file, read as ``spec`` declares, within ``spec.limits``.

    ``block_bytes`` (default :data:`BLOCK_BYTES`) sets the size of CSV/TSV text parsed at a time, and so
    the batch size. ``deadline`` (a :func:`time.monotonic` time; default ``limits.max_seconds`` from now)
    is when reading is given up with a :class:`DropLimitError`.
    """
    name = display_name or os.path.basename(path)
    if os.path.getsize(path) == 0:
        raise DropReadError(name, "file is empty (0 bytes)")
    fmt = spec.format
    if compression_of(name) is not None and fmt in ("parquet", "xlsx"):
        raise DropReadError(name, f"compressed {fmt} drops are not supported (the format compresses itself)")
    guard = ReadGuard(name, spec.limits, deadline, json=fmt in ("json", "jsonl"))
    try:
        if fmt in ("csv", "tsv"):
            delimiter = "\t" if fmt == "tsv" else ","
            batches = _iter_csv(path, spec, delimiter, name, block_bytes or BLOCK_BYTES, guard)
        elif fmt == "jsonl":
            batches = _flat(_iter_jsonl(path, name, guard), name)
        elif fmt == "json":
            batches = _flat(_iter_json_document(path, spec.reader, name, guard), name)
        elif fmt == "parquet":
            batches = _flat(_iter_parquet(path, name, guard), name)
        elif fmt == "xlsx":
            batches = _iter_xlsx(path, spec.reader, name, guard)
        elif fmt == "fixed_width":
            batches = _iter_whitespace(path, spec.reader, name, guard)
        else:  # pragma: no cover - the spec's Literal type prevents this
            raise DropReadError(name, f"unsupported format {fmt!r}")
        for batch in batches:
            guard.check_columns(batch.num_columns)
            guard.add_rows(batch.num_rows)
            yield batch
    except DropReadError:
        raise
    except RecursionError:
        raise DropReadError(name, f"cannot read as {fmt}: values nested too deeply") from None
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        UnicodeDecodeError,
        ValueError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
    ) as exc:
        raise DropReadError(name, f"cannot read as {fmt}: {_short(exc)}") from None


def sample_drop(
    path: str, spec: DatasetSpec, rows: int, display_name: str | None = None
) -> pa.RecordBatch | None:
    """The first ``rows`` rows of a drop file as one batch (all of them if it has fewer; ``None`` if it has
    none), read in small blocks so that sampling a large drop costs about what the sample holds."""
    taken: list[pa.RecordBatch] = []
    count = 0
    batches = iter_drop_batches(path, spec, display_name, block_bytes=SAMPLE_BLOCK_BYTES)
    try:
        for batch in batches:
            taken.append(batch)
            count += batch.num_rows
            if count >= rows:
                break
    finally:
        batches.close()
    if not taken:
        return None
    sample = taken[0] if len(taken) == 1 else pa.concat_batches(taken)
    return sample.slice(0, rows)


def _is_nested(dtype: pa.DataType) -> bool:
    return pa.types.is_nested(dtype)


def _flat(batches: Iterator[pa.RecordBatch], name: str) -> Iterator[pa.RecordBatch]:
    """Check the column names of typed formats and turn nested values (objects, arrays, maps) into their
    JSON text, so they are kept as strings instead of being lost or breaking the typing step."""
    import json

    for batch in batches:
        if batch.num_columns == 0:
            raise DropReadError(name, "the records have no fields (no columns)")
        for field in batch.schema:
            if not field.name.strip() or "\x00" in field.name:
                raise DropReadError(name, f"invalid column name {field.name!r} (empty or contains NUL)")
        nested = [i for i, f in enumerate(batch.schema) if _is_nested(f.type)]
        if nested:
            arrays = list(batch.columns)
            for i in nested:
                values = arrays[i].to_pylist()
                arrays[i] = pa.array(
                    [
                        None if v is None else json.dumps(_drop_null_keys(v), default=str, ensure_ascii=False)
                        for v in values
                    ],
                    pa.string(),
                )
            batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
        yield batch


def _drop_null_keys(value: object) -> object:
    """Arrow gives every record of a nested object column the union of all records' keys, filling the
    missing ones with null; drop those keys again so each value's JSON shows what its record held."""
    if isinstance(value, dict):
        return {k: _drop_null_keys(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        if value and all(isinstance(x, tuple) and len(x) == 2 for x in value):  # a map: (key, value) pairs
            return {str(k): _drop_null_keys(v) for k, v in value if v is not None}
        return [_drop_null_keys(v) for v in value]
    return value


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:500]


def read_header(
    path: str, options: ReaderOptions, delimiter: str, name: str, limits: DropLimits | None = None
) -> list[str]:
    """The column names of a delimited file: the first record after ``header_row`` junk lines (in time
    linear in the header's size, and at most ``limits.max_columns`` of them)."""
    limits = limits or DropLimits()
    guard = ReadGuard(name, limits)
    with open_drop_stream(path, name, guard) as raw:
        text = io.TextIOWrapper(io.BufferedReader(raw), encoding=options.encoding, newline="")
        try:
            for _ in range(options.header_row):
                text.readline()
            reader = csv.reader(
                text,
                delimiter=delimiter,
                quotechar=options.quote or '"',
                quoting=csv.QUOTE_MINIMAL if options.quote else csv.QUOTE_NONE,
                escapechar=options.escape,
                strict=True,
            )
            header = next(reader, None)
        except UnicodeDecodeError as exc:
            raise DropReadError(
                name,
                f"byte 0x{exc.object[exc.start]:02x} near the start of the file is not valid {options.encoding} "
                f"({exc.reason})",
            ) from None
        except csv.Error as exc:
            raise DropReadError(name, f"cannot parse the header row: {exc}") from None
        except (pa.ArrowException, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise DropReadError(name, f"cannot read the header row: {_short(exc)}") from None
    if not header or all(not h.strip() for h in header):
        raise DropReadError(name, "no header row (the file has no columns)")
    guard.check_columns(len(header))
    header = [h.strip().lstrip("\ufeff") for h in header]
    blank = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blank:
        raise DropReadError(name, f"header has blank column name(s) at position(s) {blank[:20]}")
    _refuse_duplicate_columns(header, name)
    return header


def _refuse_duplicate_columns(header: list[str], name: str) -> None:
    dupes = sorted(h for h, n in Counter(header).items() if n > 1)
    if dupes:
        raise DropReadError(name, f"duplicate column names in header: {dupes[:20]}")


def _iter_csv(
    path: str, spec: DatasetSpec, default_delim: str, name: str, block_bytes: int, guard: ReadGuard
) -> Iterator[pa.RecordBatch]:
    options = spec.reader
    delimiter = options.delimiter or default_delim
    header = read_header(path, options, delimiter, name, spec.limits)
    block_size = max(block_bytes // CSV_SUB_BLOCKS, 64 << 10)
    rows = 0
    while True:
        try:
            for batch in _csv_batches(
                path, options, delimiter, header, name, block_size, block_bytes, guard, rows
            ):
                rows += batch.num_rows
                yield batch
            return
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc):
                raise
            # a row longer than the parse block: parse again from the first row not yet yielded, in blocks
            # twice as large, up to the row size limit
            if block_size >= spec.limits.max_row_bytes:
                raise DropLimitError(
                    name,
                    f"a row (row {rows + 1:,} or later) is longer than {spec.limits.max_row_bytes:,} bytes "
                    "(limits.max_row_bytes), or has an unclosed quote",
                ) from None
            block_size = min(block_size * 2, spec.limits.max_row_bytes)
            guard = ReadGuard(name, spec.limits, guard.deadline)


def _csv_batches(
    path: str,
    options: ReaderOptions,
    delimiter: str,
    header: list[str],
    name: str,
    block_size: int,
    block_bytes: int,
    guard: ReadGuard,
    skip_rows: int,
) -> Iterator[pa.RecordBatch]:
    encoding = codecs.lookup(options.encoding).name
    source = open_drop_stream(path, name, guard)
    transcoded = False
    if encoding in ("utf-8", "utf-8-sig", "ascii"):
        arrow_encoding = "utf8"
    elif is_single_byte_ascii_superset(encoding):  # Latin-1, cp1252 ...: re-encode only non-ASCII runs
        source, arrow_encoding, transcoded = utf8_stream(source, encoding), "utf8", True
    else:  # e.g. UTF-16: Arrow's (slower) Python-codec transcoding
        arrow_encoding = options.encoding
    read_options = pacsv.ReadOptions(
        skip_rows=options.header_row + 1,
        skip_rows_after_names=skip_rows,
        column_names=header,
        block_size=block_size,
        use_threads=False,
        encoding=arrow_encoding,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=delimiter,
        quote_char=options.quote or False,
        escape_char=options.escape or False,
        double_quote=options.escape is None,
        newlines_in_values=True,
        invalid_row_handler=None,
    )
    convert_options = pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header},
        null_values=options.null_values,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        check_utf8=not transcoded,  # transcoded text is valid UTF-8 by construction (Python's encoder)
    )
    # Memory: Arrow's streaming reader reads ahead up to ~32 blocks in the background, so a conversion holds
    # at most ~32 x block_size of input however large the file (see test_streaming_memory).
    try:
        reader = pacsv.open_csv(source, read_options, parse_options, convert_options)
    except pa.ArrowInvalid as exc:
        if "Could not skip initial" in str(exc) or (skip_rows and "Empty CSV file" in str(exc)):
            return  # a header and no (more) data rows: zero rows, not an error
        raise
    yield from regroup(reader, block_bytes, BATCH_ROWS)


def regroup(batches: Iterator[pa.RecordBatch], target_bytes: int, max_rows: int) -> Iterator[pa.RecordBatch]:
    """Concatenate consecutive batches into batches of about ``target_bytes`` and at most ``max_rows`` rows
    (a single larger input batch passes through unchanged). Order and content are preserved."""
    buf: list[pa.RecordBatch] = []
    rows = size = 0

    def flush() -> pa.RecordBatch:
        nonlocal buf, rows, size
        out = buf[0] if len(buf) == 1 else pa.concat_batches(buf)
        buf, rows, size = [], 0, 0
        return out

    for batch in batches:
        if buf and rows + batch.num_rows > max_rows:
            yield flush()
        buf.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if size >= target_bytes:
            yield flush()
    if buf:
        yield flush()


def _iter_jsonl(path: str, name: str, guard: ReadGuard) -> Iterator[pa.RecordBatch]:
    # always BLOCK_BYTES: the first block fixes the columns, so the block size is part of what a drop means.
    # The guard checks each block's nesting before Arrow's (native, recursive) parser sees it.
    reader = pajson.open_json(
        open_drop_stream(path, name, guard), read_options=pajson.ReadOptions(block_size=BLOCK_BYTES)
    )
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        if "unexpected field" in str(exc):
            raise DropReadError(
                name,
                f"a record after the first {BLOCK_BYTES >> 20} MiB has a field that no earlier record has "
                "(the JSON Lines reader fixes the columns from the first block)",
            ) from None
        if "straddling" in str(exc):
            raise DropLimitError(
                name, f"a record is longer than {BLOCK_BYTES >> 20} MiB (or a line is not valid JSON)"
            ) from None
        raise


def _unique_keys(name: str) -> Any:
    """A ``json`` ``object_pairs_hook`` that refuses an object with the same key twice (the standard
    parser would silently keep the last value)."""

    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj = dict(pairs)
        if len(obj) != len(pairs):
            dupes = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
            raise DropReadError(name, f"a JSON object has the key(s) {dupes[:10]} more than once")
        return obj

    return build


def _iter_json_document(
    path: str, options: ReaderOptions, name: str, guard: ReadGuard
) -> Iterator[pa.RecordBatch]:
    if not codecs.lookup(options.encoding).name.startswith(("utf-8", "ascii")):
        guard.scanner = None  # the nesting scanner reads UTF-8 bytes; Python's parser stops deep input itself
    with open_drop_stream(path, name, guard) as raw:
        text = io.TextIOWrapper(io.BufferedReader(raw), encoding=options.encoding)
        try:
            doc = json.load(text, object_pairs_hook=_unique_keys(name))
        except json.JSONDecodeError as exc:
            raise DropReadError(
                name, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
        except RecursionError:
            raise DropReadError(name, "JSON nesting is too deep") from None
    if isinstance(doc, dict):
        lists = [v for v in doc.values() if isinstance(v, list)]
        doc = lists[0] if len(lists) == 1 else [doc]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise DropReadError(name, "expected a JSON array of objects (records)")
    if not doc:
        return
    if not any(doc):
        raise DropReadError(name, "the records have no fields (no columns)")
    if len(doc) > guard.limits.max_rows:
        raise DropLimitError(
            name, f"{len(doc):,} records, more than {guard.limits.max_rows:,} (limits.max_rows)"
        )
    guard.check_columns(len({k for r in doc for k in r}))
    table = pa.Table.from_pylist(doc)
    yield from table.to_batches(max_chunksize=BATCH_ROWS)


def _iter_parquet(path: str, name: str, guard: ReadGuard) -> Iterator[pa.RecordBatch]:
    """Parquet, with its footer checked against the limits before any data page is read."""
    file = pq.ParquetFile(path)
    meta = file.metadata
    guard.check_columns(len(file.schema_arrow))
    if meta.num_rows > guard.limits.max_rows:
        raise DropLimitError(
            name, f"{meta.num_rows:,} rows, more than {guard.limits.max_rows:,} (limits.max_rows)"
        )
    size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if size > guard.limits.max_bytes:
        raise DropLimitError(
            name, f"{size:,} bytes uncompressed, more than {guard.limits.max_bytes:,} (limits.max_bytes)"
        )
    depth = max((_type_depth(f.type) for f in file.schema_arrow), default=0)
    if depth > guard.limits.max_nesting:
        raise DropLimitError(
            name,
            f"columns nested {depth} levels deep, more than {guard.limits.max_nesting} (limits.max_nesting)",
        )
    yield from file.iter_batches(batch_size=BATCH_ROWS)


def _type_depth(dtype: pa.DataType) -> int:
    if not pa.types.is_nested(dtype):
        return 0
    return 1 + max((_type_depth(dtype.field(i).type) for i in range(dtype.num_fields)), default=0)


def _iter_xlsx(path: str, options: ReaderOptions, name: str, guard: ReadGuard) -> Iterator[pa.RecordBatch]:
    """The rows of one worksheet as text. The archive's unpacked size is checked before it is opened, and
    rows are parsed from the sheet's XML as they come (no expansion of claimed dimensions), so a small
    workbook cannot unfold into millions of rows. A formula cell saved without its computed value is
    read as null and flagged in ``_raw_errors`` (naming the cell), never silently empty."""
    import openpyxl

    _check_xlsx_archive(path, name, guard.limits)
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = options.sheet
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            if not 0 <= sheet < len(wb.worksheets):
                raise DropReadError(name, f"no sheet number {sheet}; the workbook has {len(wb.worksheets)}")
            ws = wb.worksheets[sheet]
        else:
            if sheet not in wb.sheetnames:
                raise DropReadError(name, f"no sheet named {sheet!r}; sheets: {wb.sheetnames}")
            ws = wb[sheet]
        rows = _sheet_rows(ws, wb, name, guard)
        header_row: list[Any] | None = None
        for _ in range(options.header_row + 1):
            header_row = next(rows, None)
        if not header_row or all(v is None for v in header_row[0]):
            raise DropReadError(name, "sheet has no header row")
        values = header_row[0]
        guard.check_columns(len(values))
        header = [str(h).strip() if h is not None else f"column_{i}" for i, h in enumerate(values)]
        _refuse_duplicate_columns(header, name)
        if RAW_ERRORS in header:
            raise DropReadError(name, f"column name {RAW_ERRORS!r} is reserved for lineage")
        buf: list[tuple[list[Any], str | None]] = []
        for row in rows:
            if all(v is None for v in row[0]) and row[1] is None:
                continue
            buf.append(row)
            if len(buf) >= BATCH_ROWS:
                yield _xlsx_batch(header, buf)
                buf = []
        if buf:
            yield _xlsx_batch(header, buf)
    finally:
        wb.close()


def _check_xlsx_archive(path: str, name: str, limits: DropLimits) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(m.file_size for m in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise DropReadError(name, f"not a readable xlsx workbook (zip archive): {exc}") from None
    if unpacked > limits.max_bytes:
        raise DropLimitError(
            name,
            f"the workbook unpacks to {unpacked:,} bytes, more than {limits.max_bytes:,} (limits.max_bytes)",
        )


def _sheet_rows(ws: Any, wb: Any, name: str, guard: ReadGuard) -> Iterator[tuple[list[Any], str | None]]:
    """Each stored row of a read-only worksheet: its values by column, and a message for formula cells
    that have no saved value (``None`` if none). Row and column positions beyond Excel's limits are
    refused: no valid workbook has them."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class _Parser(WorkSheetParser):
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell = super().parse_cell(element)
            if cell["value"] is None and element.find(FORMULA_TAG) is not None:
                cell["uncached"] = True
            return cell

    with ws._get_source() as src:
        parser = _Parser(src, ws._shared_strings, data_only=True, epoch=wb.epoch,
                         date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)  # fmt: skip
        previous = 0
        for index, cells in parser.parse():
            if index > EXCEL_MAX_ROWS or index <= previous:
                raise DropReadError(name, f"worksheet row number {index:,} is not valid in an Excel sheet")
            for _ in range(previous + 1, index):  # rows not stored are empty (header_row counts them)
                yield [], None
            previous = index
            if index % 4096 == 0:
                guard.check_time()
            width = max((c["column"] for c in cells), default=0)
            if width > EXCEL_MAX_COLUMNS:
                raise DropReadError(name, f"worksheet column number {width:,} is not valid in an Excel sheet")
            guard.check_columns(width)
            values: list[Any] = [None] * width
            uncached: list[str] = []
            for cell in cells:
                values[cell["column"] - 1] = cell["value"]
                if cell.get("uncached"):
                    uncached.append(f"{get_column_letter(cell['column'])}{index}")
            note = f"formula cell(s) {uncached} saved without a computed value" if uncached else None
            yield values, note


def _xlsx_batch(header: list[str], rows: list[tuple[list[Any], str | None]]) -> pa.RecordBatch:
    cols: dict[str, list[str | None]] = {
        h: [None if i >= len(r) or r[i] is None else str(r[i]) for r, _ in rows] for i, h in enumerate(header)
    }
    fields = [(h, pa.string()) for h in header]
    notes = [note for _, note in rows]
    if any(notes):  # flagged values: typing adds these to the rows' _raw_errors
        cols[RAW_ERRORS] = notes
        fields.append((RAW_ERRORS, pa.string()))
    return pa.RecordBatch.from_pydict(cols, schema=pa.schema(fields))


def _iter_whitespace(
    path: str, options: ReaderOptions, name: str, guard: ReadGuard
) -> Iterator[pa.RecordBatch]:
    """Fixed-width text. Without ``reader.widths``: whitespace-aligned columns (e.g. CDNOW), runs of spaces
    or tabs separate fields. With ``widths``: each field is the next ``width`` characters of the line,
    stripped (so values may contain spaces); a blank field is null."""
    header: list[str] | None = None
    buf: list[list[str | None]] = []
    longest = guard.limits.max_row_bytes
    markers = set(options.null_values) - {""}  # the spec's null markers (a blank field is null anyway)

    def lines(fh: io.TextIOWrapper) -> Iterator[str]:
        while line := fh.readline(longest + 1):
            if len(line) > longest:
                raise DropLimitError(
                    name, f"a line is longer than {longest:,} characters (limits.max_row_bytes)"
                )
            yield line

    with open_drop_stream(path, name, guard) as raw:
        fh = io.TextIOWrapper(io.BufferedReader(raw), encoding=options.encoding, newline=None)
        numbered = enumerate(lines(fh), start=1)
        for _ in range(options.header_row):
            next(numbered, None)
        for lineno, line in numbered:
            if not is_fixed_width_record(line, options):
                continue
            fields = split_fixed_width(line, options.widths, name, lineno)
            if header is None:
                guard.check_columns(len(fields))
                header = [f or f"column_{i + 1}" for i, f in enumerate(fields)]
                _refuse_duplicate_columns(header, name)
                continue
            buf.append(fixed_width_fields(fields, len(header), markers, name, lineno))
            if len(buf) >= BATCH_ROWS:
                yield _string_batch(header, buf)
                buf = []
    if header is None:
        raise DropReadError(name, "no header row")
    if buf:
        yield _string_batch(header, buf)


def is_fixed_width_record(line: str, options: ReaderOptions) -> bool:
    """Whether a line of fixed-width text holds a record (or the header): not blank, not a comment."""
    if options.comment and line.lstrip().startswith(options.comment):
        return False
    return bool(line.strip())


def split_fixed_width(line: str, widths: list[int] | None, name: str, lineno: int) -> list[str | None]:
    """The fields of one fixed-width line: runs of whitespace separate them, or (with ``widths``) each is
    the next ``width`` characters, stripped, a blank one null."""
    if not widths:
        return list(line.split())
    text = line.rstrip("\r\n")
    if len(text.rstrip()) > sum(widths):
        raise DropReadError(
            name, f"line {lineno}: {len(text.rstrip())} characters, longer than the widths ({sum(widths)})"
        )
    out: list[str | None] = []
    start = 0
    for width in widths:
        value = text[start : start + width].strip()
        out.append(value or None)
        start += width
    return out


def fixed_width_fields(
    fields: list[str | None], expected: int, markers: set[str], name: str, lineno: int
) -> list[str | None]:
    """A data line's fields checked against the header's count, with the spec's null markers as null."""
    if len(fields) != expected:
        raise DropReadError(name, f"line {lineno}: expected {expected} fields, found {len(fields)}")
    return [None if f in markers else f for f in fields] if markers else fields


def _string_batch(header: list[str], rows: list[list[str | None]]) -> pa.RecordBatch:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in header]
    return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], names=header)
