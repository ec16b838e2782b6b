"""Streaming readers for every drop format.

Each reader yields ``pyarrow.RecordBatch`` objects of bounded size, so a drop far larger than memory is
converted batch by batch. Text formats (CSV, TSV, fixed width) yield **all-string** columns: typing is
done afterwards by :mod:`retina_assets.ingestion.coercion`, which can then report the exact bad value
instead of failing a whole block. JSON, Parquet and Excel keep the types their format carries.

Any problem reading a file raises :class:`DropReadError` naming the file and the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from retina_assets.ingestion.transcoding import is_single_byte_ascii_superset, utf8_stream
from retina_assets.model.spec import DatasetSpec, ReaderOptions

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


class DropReadError(ValueError):
    """A drop file that cannot be read as declared; the message names the file and the reason."""

    def __init__(self, file: str, reason: str):
        self.file = file
        self.reason = reason
        super().__init__(f"{file}: {reason}")


def iter_drop_batches(
    path: str, spec: DatasetSpec, display_name: str | None = None, *, block_bytes: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Yield the record batches of one local drop file, read as ``spec`` declares.

    ``block_bytes`` (default :data:`BLOCK_BYTES`) sets the size of CSV/TSV text parsed at a time, and so
    the batch size.
    """
    name = display_name or os.path.basename(path)
    if os.path.getsize(path) == 0:
        raise DropReadError(name, "file is empty (0 bytes)")
    fmt = spec.format
    try:
        if fmt in ("csv", "tsv"):
            delimiter = "\t" if fmt == "tsv" else ","
            yield from _iter_csv(path, spec.reader, delimiter, name, block_bytes or BLOCK_BYTES)
        elif fmt == "jsonl":
            yield from _flat(_iter_jsonl(path, spec.reader, name), name)
        elif fmt == "json":
            yield from _flat(_iter_json_document(path, spec.reader, name), name)
        elif fmt == "parquet":
            yield from _flat(pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS), name)
        elif fmt == "xlsx":
            yield from _iter_xlsx(path, spec.reader, name)
        elif fmt == "fixed_width":
            yield from _iter_whitespace(path, spec.reader, name)
        else:  # pragma: no cover - the spec's Literal type prevents this
            raise DropReadError(name, f"unsupported format {fmt!r}")
    except DropReadError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError, ValueError, OSError) as exc:
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


def read_header(path: str, options: ReaderOptions, delimiter: str, name: str) -> list[str]:
    """The column names of a delimited file: the first record after ``header_row`` junk lines."""
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding=options.encoding, newline="")
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
    if not header or all(not h.strip() for h in header):
        raise DropReadError(name, "no header row (the file has no columns)")
    header = [h.strip().lstrip("\ufeff") for h in header]
    blank = [i + 1 for i, h in enumerate(header) if not h.strip()]
    if blank:
        raise DropReadError(name, f"header has blank column name(s) at position(s) {blank}")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DropReadError(name, f"duplicate column names in header: {dupes}")
    return header


def _iter_csv(
    path: str, options: ReaderOptions, default_delim: str, name: str, block_bytes: int
) -> Iterator[pa.RecordBatch]:
    delimiter = options.delimiter or default_delim
    header = read_header(path, options, delimiter, name)
    encoding = codecs.lookup(options.encoding).name
    source: str | pa.NativeFile = path
    transcoded = False
    if encoding in ("utf-8", "utf-8-sig", "ascii"):
        arrow_encoding = "utf8"
    elif is_single_byte_ascii_superset(encoding):  # Latin-1, cp1252 ...: re-encode only non-ASCII runs
        source, arrow_encoding, transcoded = utf8_stream(path, encoding), "utf8", True
    else:  # e.g. UTF-16: Arrow's (slower) Python-codec transcoding
        arrow_encoding = options.encoding
    read_options = pacsv.ReadOptions(
        skip_rows=options.header_row + 1,
        column_names=header,
        block_size=max(block_bytes // CSV_SUB_BLOCKS, 64 << 10),
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
    # at most ~32 x BLOCK_BYTES of input however large the file (see test_streaming_memory).
    try:
        reader = pacsv.open_csv(source, read_options, parse_options, convert_options)
    except pa.ArrowInvalid as exc:
        if "Could not skip initial" in str(exc):  # a header and no data rows: zero rows, not an error
            return
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


def _iter_jsonl(path: str, options: ReaderOptions, name: str) -> Iterator[pa.RecordBatch]:
    # always BLOCK_BYTES: the first block fixes the columns, so the block size is part of what a drop means
    reader = pajson.open_json(path, read_options=pajson.ReadOptions(block_size=BLOCK_BYTES))
    try:
        yield from reader
    except pa.ArrowInvalid as exc:
        if "unexpected field" in str(exc):
            raise DropReadError(
                name,
                f"a record after the first {BLOCK_BYTES >> 20} MiB has a field that no earlier record has "
                "(the JSON Lines reader fixes the columns from the first block)",
            ) from None
        raise


def _iter_json_document(path: str, options: ReaderOptions, name: str) -> Iterator[pa.RecordBatch]:
    import json

    with open(path, encoding=options.encoding) as fh:
        try:
            doc = json.load(fh)
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
    table = pa.Table.from_pylist(doc)
    yield from table.to_batches(max_chunksize=BATCH_ROWS)


def _iter_xlsx(path: str, options: ReaderOptions, name: str) -> Iterator[pa.RecordBatch]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = options.sheet
        if sheet is None:
            ws = wb.worksheets[0]
        elif isinstance(sheet, int):
            ws = wb.worksheets[sheet]
        else:
            if sheet not in wb.sheetnames:
                raise DropReadError(name, f"no sheet named {sheet!r}; sheets: {wb.sheetnames}")
            ws = wb[sheet]
        rows = ws.iter_rows(values_only=True)
        for _ in range(options.header_row):
            next(rows, None)
        header_row = next(rows, None)
        if not header_row:
            raise DropReadError(name, "sheet has no header row")
        header = [str(h).strip() if h is not None else f"column_{i}" for i, h in enumerate(header_row)]
        buf: list[tuple] = []
        for row in rows:
            if row is None or all(v is None for v in row):
                continue
            buf.append(row)
            if len(buf) >= BATCH_ROWS:
                yield _xlsx_batch(header, buf)
                buf = []
        if buf:
            yield _xlsx_batch(header, buf)
    finally:
        wb.close()


def _xlsx_batch(header: list[str], rows: list[tuple]) -> pa.RecordBatch:
    cols = {
        h: [None if i >= len(r) or r[i] is None else str(r[i]) for r in rows] for i, h in enumerate(header)
    }
    return pa.RecordBatch.from_pydict(cols, schema=pa.schema([(h, pa.string()) for h in header]))


def _iter_whitespace(path: str, options: ReaderOptions, name: str) -> Iterator[pa.RecordBatch]:
    """Fixed-width text. Without ``reader.widths``: whitespace-aligned columns (e.g. CDNOW), runs of spaces
    or tabs separate fields. With ``widths``: each field is the next ``width`` characters of the line,
    stripped (so values may contain spaces); a blank field is null."""
    widths = options.widths
    header: list[str] | None = None
    buf: list[list[str | None]] = []

    def split(line: str, lineno: int) -> list[str | None]:
        if not widths:
            return list(line.split())
        text = line.rstrip("\r\n")
        if len(text.rstrip()) > sum(widths):
            raise DropReadError(
                name,
                f"line {lineno}: {len(text.rstrip())} characters, longer than the widths ({sum(widths)})",
            )
        out: list[str | None] = []
        start = 0
        for width in widths:
            value = text[start : start + width].strip()
            out.append(value or None)
            start += width
        return out

    with open(path, encoding=options.encoding, newline=None) as fh:
        for _ in range(options.header_row):
            fh.readline()
        for lineno, line in enumerate(fh, start=options.header_row + 1):
            if options.comment and line.lstrip().startswith(options.comment):
                continue
            if not line.strip():
                continue
            fields = split(line, lineno)
            if header is None:
                header = [f or f"column_{i + 1}" for i, f in enumerate(fields)]
                dupes = sorted({h for h in header if header.count(h) > 1})
                if dupes:
                    raise DropReadError(name, f"duplicate column names in header: {dupes}")
                continue
            if len(fields) != len(header):
                raise DropReadError(
                    name, f"line {lineno}: expected {len(header)} fields, found {len(fields)}"
                )
            buf.append(fields)
            if len(buf) >= BATCH_ROWS:
                yield _string_batch(header, buf)
                buf = []
    if header is None:
        raise DropReadError(name, "no header row")
    if buf:
        yield _string_batch(header, buf)


def _string_batch(header: list[str], rows: list[list[str | None]]) -> pa.RecordBatch:
    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in header]
    return pa.RecordBatch.from_arrays([pa.array(c, pa.string()) for c in cols], names=header)
