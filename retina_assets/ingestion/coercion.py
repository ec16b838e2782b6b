"""Typing a drop's columns as its spec declares, without losing a single value.

:func:`raw_schema` fixes the raw Parquet schema of a dataset up front (declared columns with their types,
then any extra columns the client sent as strings, then lineage columns). :func:`coerce_batch` converts one
batch to that schema. A value that cannot be converted becomes null **and** its row gets a message in
``_raw_errors`` (column, bad value, expected type), so validation can quarantine the row with the reason;
the original file is kept untouched in the landing zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow as pa

from retina_assets.model.naming import LINEAGE_COLUMNS, RAW_ERRORS, SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import ColumnSpec, DatasetSpec

DEFAULT_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
DEFAULT_DATE_FORMATS = ("%Y-%m-%d",)
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")


class SchemaMismatchError(ValueError):
    """A drop whose columns do not fit the spec (e.g. a required column is missing)."""


def arrow_type(col: ColumnSpec) -> pa.DataType:
    return {
        "string": pa.string(),
        "int64": pa.int64(),
        "int32": pa.int32(),
        "float64": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "decimal": pa.decimal128(col.precision, col.scale),
    }[col.type]


def raw_schema(spec: DatasetSpec, extra_columns: Sequence[str] = ()) -> pa.Schema:
    """The raw Parquet schema: declared columns (client names, declared types), extras, lineage."""
    fields = [pa.field(name, arrow_type(col)) for name, col in spec.columns.items()]
    fields += [pa.field(name, pa.string()) for name in extra_columns]
    fields += [
        pa.field(SOURCE_FILE, pa.string(), nullable=False),
        pa.field(SOURCE_ROW, pa.int64(), nullable=False),
        pa.field(RAW_ERRORS, pa.string()),
    ]
    return pa.schema(fields)


def check_columns(present: Sequence[str], spec: DatasetSpec, file: str) -> list[str]:
    """Raise if a required column is missing or a column takes a lineage column's name; return the extra
    (undeclared) column names."""
    reserved = [name for name in present if name in LINEAGE_COLUMNS]
    if reserved:
        raise SchemaMismatchError(f"{file}: column name(s) {reserved} are reserved for lineage columns")
    missing = [name for name, col in spec.columns.items() if col.required and name not in present]
    if missing:
        raise SchemaMismatchError(
            f"{file}: missing required column(s) {missing}; the file has {list(present)}"
        )
    return [name for name in present if name not in spec.columns]


def reader_notes(batch: pa.RecordBatch) -> pa.Array | None:
    """The messages a reader attached to rows of ``batch`` (values it could not read faithfully, e.g. a
    spreadsheet formula without a saved value), or ``None``."""
    if RAW_ERRORS not in batch.schema.names:
        return None
    return _as_array(batch.column(RAW_ERRORS), pa.string())


def _pl_type(col: ColumnSpec) -> pl.DataType:
    return {
        "string": pl.String(),
        "int64": pl.Int64(),
        "int32": pl.Int32(),
        "float64": pl.Float64(),
        "bool": pl.Boolean(),
        "date": pl.Date(),
        "timestamp": pl.Datetime("us"),
        "decimal": pl.Decimal(col.precision, col.scale),
    }[col.type]


def _parse_expr(
    name: str, col: ColumnSpec, decimal: str, thousands: str | None, fast: bool = False
) -> pl.Expr:
    """The expression that parses string column ``name`` as ``col`` declares (null where it cannot).

    ``fast=True`` is the optimistic variant used first on every batch: no whitespace stripping, only the
    first declared date format, no ``"17850.0"``-style integers. Wherever it gives a value, the full
    variant gives the same value; :func:`coerce_batch` falls back to the full variant for a column only
    when the fast one leaves a non-null value unparsed.
    """
    src = pl.col(name) if fast else pl.col(name).str.strip_chars()
    if col.type == "string":
        return pl.col(name)
    if col.type in ("int64", "int32", "float64", "decimal"):
        # A number is read only when its text means exactly one number in the client's notation: digit
        # grouping must be well-formed, and with a decimal comma a '.' is ambiguous (is "1.000" one or a
        # thousand?), so such values are flagged instead of being read as another number. The checks
        # null the parsed number (cheap), not the text (a copy of the column).
        ambiguous: pl.Expr | None = None
        if decimal != "." and thousands != ".":
            ambiguous = src.str.contains(".", literal=True)
        if thousands:
            grouped = rf"^[+-]?\d{{1,3}}({_char_class(thousands)}\d{{3}})+({_char_class(decimal)}\d*)?$"
            misgrouped = src.str.contains(thousands, literal=True) & ~src.str.contains(grouped)
            ambiguous = misgrouped if ambiguous is None else ambiguous | misgrouped
            src = src.str.replace_all(thousands, "", literal=True)
        # the fast integer parse skips the decimal separator: "12,0" fails it and takes the full path
        if decimal != "." and not (fast and col.type in ("int64", "int32")):
            src = src.str.replace_all(decimal, ".", literal=True)
        if col.type in ("int64", "int32"):
            value = src.cast(pl.Int64, strict=False)
            if not fast:
                # accept "17850.0"-style integers that spreadsheets produce (only zeros after the point),
                # never "1.5", and without a detour through floating point that would round large numbers
                whole = src.str.replace(r"^([+-]?\d+)\.0*$", "${1}").cast(pl.Int64, strict=False)
                value = pl.coalesce(value, whole)
            value = value.cast(_pl_type(col), strict=False)
        elif col.type == "decimal":
            # at most `scale` significant fractional digits: casting would cut the others off silently
            fits = rf"^[+-]?(\d+(\.\d{{0,{col.scale}}}0*)?|\.\d{{0,{col.scale}}}0*)$"
            value = pl.when(src.str.contains(fits)).then(src.cast(_pl_type(col), strict=False))
        else:
            value = src.cast(_pl_type(col), strict=False)
        return value if ambiguous is None else pl.when(ambiguous).then(None).otherwise(value)
    if col.type == "bool":
        low = src.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
    formats = col.formats or (DEFAULT_DATE_FORMATS if col.type == "date" else DEFAULT_TIMESTAMP_FORMATS)
    if fast:
        formats = formats[:1]
    target = pl.Date() if col.type == "date" else pl.Datetime("us")
    attempts = [src.str.strptime(target, fmt, strict=False, exact=True) for fmt in formats]
    return pl.coalesce(attempts) if len(attempts) > 1 else attempts[0]


def _char_class(char: str) -> str:
    """A regular-expression character class matching exactly ``char``."""
    return "[" + ("\\" + char if char in "]\\^-[" else char) + "]"


def _exact_cast(name: str, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Column ``name`` of a typed format cast to ``target``, null where the value does not survive the
    cast unchanged (1.5 into an integer column, 2**40 into int32, 1.234 into a 2-digit decimal), so such
    values are flagged instead of being truncated or rounded."""
    cast = pl.col(name).cast(target, strict=False)
    if source.is_numeric() and target.is_numeric() and source != target:
        return pl.when(cast.cast(source, strict=False) == pl.col(name)).then(cast)
    return cast


def _constant_strings(value: str, n: int) -> pa.Array:
    """A string array of ``n`` copies of ``value``, built from buffers (no Python list of n items)."""
    data = value.encode()
    if len(data) * n >= 2**31 - 1:
        return pa.array([value] * n, pa.string())
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])


def _as_array(column: pa.ChunkedArray | pa.Array, dtype: pa.DataType) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column if column.type == dtype else column.cast(dtype)


_ERROR_PREFIX = "__error__"


def _error_expr(name: str, original: pl.Expr, converted: pl.Expr, type_name: str) -> pl.Expr:
    """``"<column>: cannot read <value> as <type>"`` where a non-blank value did not convert, else null."""
    bad = original.is_not_null() & (original.str.strip_chars() != "") & converted.is_null()
    message = pl.format(
        "{}: cannot read {} as {}", pl.lit(name), original.str.slice(0, 80), pl.lit(type_name)
    )
    return pl.when(bad).then(message).alias(f"{_ERROR_PREFIX}{name}")


def coerce_batch(
    batch: pa.RecordBatch,
    spec: DatasetSpec,
    schema: pa.Schema,
    source_file: str,
    first_row: int,
) -> pa.RecordBatch:
    """Convert one batch to ``schema``; see the module docstring for how bad values are kept track of.

    Columns that already have their schema type are passed through without a copy; the others are
    converted with polars, optimistically first (:func:`_parse_expr` with ``fast=True``) and with the full
    rules, plus an error message per bad value, only for the columns where that leaves values unparsed.
    The result is the same as converting every column with the full rules.
    """
    n = batch.num_rows
    if n == 0:
        return pa.RecordBatch.from_pylist([], schema=schema)
    present = set(batch.schema.names)
    arrays: dict[str, pa.Array] = {}
    convert: dict[str, pa.Field] = {}
    for field in schema:
        if field.name in LINEAGE_COLUMNS:
            continue
        if field.name not in present:
            arrays[field.name] = pa.nulls(n, field.type)
        elif batch.schema.field(field.name).type == field.type:
            arrays[field.name] = batch.column(field.name)
        else:
            convert[field.name] = field
    if convert:
        frame = pl.from_arrow(pa.Table.from_batches([batch.select(list(convert))]), rechunk=False)
        assert isinstance(frame, pl.DataFrame)
        fast: dict[str, pl.Expr] = {}
        full: dict[str, pl.Expr] = {}
        originals: dict[str, pl.Expr] = {}
        for name in convert:
            col = spec.columns.get(name)
            if col is None:  # an extra column the client sent, kept as text
                fast[name] = pl.col(name).cast(pl.String, strict=False)
                continue
            target = _pl_type(col)
            if frame.schema[name] == pl.String:
                decimal, thousands = spec.reader.decimal, spec.reader.thousands
                fast[name] = _parse_expr(name, col, decimal, thousands, fast=True).cast(target, strict=False)
                full[name] = _parse_expr(name, col, decimal, thousands).cast(target, strict=False)
                originals[name] = pl.col(name)
            else:
                fast[name] = _exact_cast(name, frame.schema[name], target)
                originals[name] = pl.col(name).cast(pl.String, strict=False)
        converted = frame.select([expr.alias(name) for name, expr in fast.items()])
        # a value failed the fast parse where the result is null but the original was not
        failed = [
            name
            for name in originals
            if converted.get_column(name).null_count() > frame.get_column(name).null_count()
        ]
        if failed:
            redo = frame.select(
                [full.get(name, fast[name]).alias(name) for name in failed]
                + [
                    _error_expr(name, originals[name], full.get(name, fast[name]), spec.columns[name].type)
                    for name in failed
                ]
            )
            converted = converted.with_columns([redo.get_column(name) for name in failed])
            joined = pl.concat_str([pl.col(f"{_ERROR_PREFIX}{name}") for name in failed], separator="; ",
                                   ignore_nulls=True)  # fmt: skip
            errors = redo.select(pl.when(joined != "").then(joined).otherwise(None)).to_series()
            arrays[RAW_ERRORS] = _as_array(errors.to_arrow(), pa.string())
        table = converted.to_arrow()
        for name, field in convert.items():
            arrays[name] = _as_array(table.column(name), field.type)
    if RAW_ERRORS not in arrays:
        arrays[RAW_ERRORS] = pa.nulls(n, pa.string())
    notes = reader_notes(batch)
    if notes is not None:  # what the reader flagged comes first, then the typing errors
        both = pl.DataFrame(
            {"reader": pl.Series(notes), "typing": pl.Series(_as_array(arrays[RAW_ERRORS], pa.string()))}
        )
        joined = pl.concat_str(["reader", "typing"], separator="; ", ignore_nulls=True)
        merged = both.select(pl.when(joined != "").then(joined).otherwise(None)).to_series()
        arrays[RAW_ERRORS] = _as_array(merged.to_arrow(), pa.string())
    arrays[SOURCE_FILE] = _constant_strings(source_file, n)
    arrays[SOURCE_ROW] = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    return pa.RecordBatch.from_arrays([_as_array(arrays[f.name], f.type) for f in schema], schema=schema)
