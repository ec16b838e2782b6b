"""Typing a drop's columns as its spec declares, without losing a single value.

:func:`raw_schema` fixes the raw Parquet schema of a dataset up front (declared columns with their types,
then any extra columns the client sent as strings, then lineage columns). :func:`coerce_batch` converts one
batch to that schema. A value that cannot be converted becomes null **and** its row gets a message in
``_raw_errors`` (column, bad value, expected type), so validation can quarantine the row with the reason;
the original file is kept untouched in the landing zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa

from retina_assets.clients.spec import ColumnSpec, DatasetSpec

SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
RAW_ERRORS = "_raw_errors"
LINEAGE_COLUMNS = (SOURCE_FILE, SOURCE_ROW, RAW_ERRORS)

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
    """Raise if a required column is missing; return the extra (undeclared) column names."""
    missing = [name for name, col in spec.columns.items() if col.required and name not in present]
    if missing:
        raise SchemaMismatchError(
            f"{file}: missing required column(s) {missing}; the file has {list(present)}"
        )
    return [name for name in present if name not in spec.columns]


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


def _parse_expr(name: str, col: ColumnSpec, decimal: str, thousands: str | None) -> pl.Expr:
    src = pl.col(name).str.strip_chars()
    if col.type == "string":
        return pl.col(name)
    if col.type in ("int64", "int32", "float64", "decimal"):
        if thousands:
            src = src.str.replace_all(thousands, "", literal=True)
        if decimal != ".":
            src = src.str.replace_all(decimal, ".", literal=True)
        if col.type in ("int64", "int32"):
            # accept "17850.0"-style integers that spreadsheets produce, but not "1.5"
            as_float = src.cast(pl.Float64, strict=False)
            as_int = src.cast(pl.Int64, strict=False)
            fallback = pl.when(as_float == as_float.floor()).then(as_float.cast(pl.Int64, strict=False))
            return pl.coalesce(as_int, fallback).cast(_pl_type(col), strict=False)
        return src.cast(_pl_type(col), strict=False)
    if col.type == "bool":
        low = src.str.to_lowercase()
        return pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False).otherwise(None)
    formats = col.formats or (DEFAULT_DATE_FORMATS if col.type == "date" else DEFAULT_TIMESTAMP_FORMATS)
    target = pl.Date() if col.type == "date" else pl.Datetime("us")
    attempts = [src.str.strptime(target, fmt, strict=False, exact=True) for fmt in formats]
    return pl.coalesce(attempts) if len(attempts) > 1 else attempts[0]


def coerce_batch(
    batch: pa.RecordBatch,
    spec: DatasetSpec,
    schema: pa.Schema,
    source_file: str,
    first_row: int,
) -> pa.RecordBatch:
    """Convert one batch to ``schema``; see the module docstring for how bad values are kept track of."""
    frame = pl.from_arrow(pa.Table.from_batches([batch]), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    exprs: list[pl.Expr] = []
    error_exprs: list[pl.Expr] = []
    for name, col in spec.columns.items():
        target = _pl_type(col)
        if name not in frame.columns:
            exprs.append(pl.lit(None, dtype=target).alias(name))
            continue
        dtype = frame.schema[name]
        if dtype == target:
            exprs.append(pl.col(name))
            continue
        if dtype == pl.String:
            parsed = _parse_expr(name, col, spec.reader.decimal, spec.reader.thousands)
            original = pl.col(name)
        else:
            parsed = pl.col(name).cast(target, strict=False)
            original = pl.col(name).cast(pl.String, strict=False)
        converted = parsed.cast(target, strict=False)
        exprs.append(converted.alias(name))
        bad = original.is_not_null() & (original.str.strip_chars() != "") & converted.is_null()
        error_exprs.append(
            pl.when(bad).then(
                pl.format(
                    "{}: cannot read {} as {}", pl.lit(name), original.str.slice(0, 80), pl.lit(col.type)
                )
            )
        )
    for field in schema:
        if field.name in spec.columns or field.name in (SOURCE_FILE, SOURCE_ROW, RAW_ERRORS):
            continue
        exprs.append(
            pl.col(field.name).cast(pl.String, strict=False)
            if field.name in frame.columns
            else pl.lit(None, dtype=pl.String).alias(field.name)
        )
    exprs.append(pl.lit(source_file).alias(SOURCE_FILE))
    exprs.append((pl.int_range(0, pl.len(), dtype=pl.Int64) + first_row).alias(SOURCE_ROW))
    if error_exprs:
        joined = pl.concat_str(error_exprs, separator="; ", ignore_nulls=True)
        exprs.append(pl.when(joined != "").then(joined).otherwise(None).alias(RAW_ERRORS))
    else:
        exprs.append(pl.lit(None, dtype=pl.String).alias(RAW_ERRORS))
    out = frame.select(exprs).to_arrow()
    out = out.select(schema.names)
    return (
        out.cast(schema).combine_chunks().to_batches()[0]
        if out.num_rows
        else pa.RecordBatch.from_pylist([], schema=schema)
    )
