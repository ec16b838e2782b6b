"""Canonical data contracts for the datasets clients send: ``orders``, ``customers``, ``products``.

A contract is written once, engine-neutral (:class:`FieldRule` per column: type, nullability, whether the
column may be absent, uniqueness, ranges, allowed values, string length and pattern), and turned into a
pandera schema for the engine the data is in:

* :func:`contract_for` / ``engine="pandas"``: ``pandera.pandas.DataFrameSchema``
* ``engine="polars"``: ``pandera.polars.DataFrameSchema``
* ``engine="pyspark"``: ``pandera.pyspark.DataFrameSchema`` (dataset-level conformance of a Spark frame,
  see :func:`spark_schema_errors`; the pipeline's Spark engine runs the pandas rules inside Spark tasks,
  :mod:`retina_assets.engines.spark_validation`).

Every row-level rule has a stable *rule code* ``<column>.<rule>`` (e.g. ``unit_price.non_negative``,
``order_id.not_null``, ``customer_id.unique``): it is the pandera check name, the code written into the
quarantine's ``_reject_rules`` column, and the name a client spec uses to relax a rule
(``quality.rules.relax: [unit_price.non_negative]``). Dataset-level failures (a missing required column,
a column of the wrong type) fail the ``schema`` asset check instead.

Clients' columns are mapped to these names by their spec. Columns a contract marks optional may be absent;
columns not in the contract are kept (contracts are not strict).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import pandera.pandas as pa

Kind = Literal["string", "int64", "float64", "timestamp", "date", "bool"]
Engine = Literal["pandas", "polars", "pyspark"]

EARLIEST = dt.datetime(1990, 1, 1)
LATEST = dt.datetime(2100, 1, 1)


@dataclass(frozen=True)
class FieldRule:
    """One canonical column and its rules. ``None`` means "no such rule"."""

    name: str
    kind: Kind
    nullable: bool = True
    required: bool = True  # the column must be present (else: schema error)
    unique: bool = False
    ge: float | None = None  # value >= ge            (rule ``non_negative`` if ge == 0 else ``min``)
    ne: float | None = None  # value != ne            (rule ``non_zero`` if ne == 0 else ``not_equal``)
    max_abs: float | None = None  # -max_abs <= value <= max_abs (rule ``plausible_range``)
    ts_range: tuple[dt.datetime, dt.datetime] | None = None  # (rule ``plausible_date``)
    isin: tuple[str, ...] | None = None  # (rule ``allowed_values``)
    max_len: int | None = None  # 1 <= len <= max_len (rule ``length``)
    pattern: str | None = None  # full-match regular expression (rule ``pattern``)

    def row_rules(self) -> list[tuple[str, dict[str, Any]]]:
        """``(rule name, parameters)`` of every row-level rule of this column, in a stable order."""
        out: list[tuple[str, dict[str, Any]]] = []
        if self.ge is not None:
            out.append(("non_negative" if self.ge == 0 else "min", {"ge": self.ge}))
        if self.ne is not None:
            out.append(("non_zero" if self.ne == 0 else "not_equal", {"ne": self.ne}))
        if self.max_abs is not None:
            out.append(("plausible_range", {"min": -self.max_abs, "max": self.max_abs}))
        if self.ts_range is not None:
            out.append(("plausible_date", {"min": self.ts_range[0], "max": self.ts_range[1]}))
        if self.isin is not None:
            out.append(("allowed_values", {"isin": list(self.isin)}))
        if self.max_len is not None:
            out.append(("length", {"min": 1, "max": self.max_len}))
        if self.pattern is not None:
            out.append(("pattern", {"pattern": self.pattern}))
        return out


ID = {"kind": "string", "max_len": 64}

ORDERS: tuple[FieldRule, ...] = (
    FieldRule("order_id", nullable=False, **ID),  # type: ignore[arg-type]
    FieldRule("product_id", nullable=False, **ID),  # type: ignore[arg-type]
    FieldRule("description", "string", required=False, max_len=500),
    FieldRule("quantity", "int64", nullable=False, ne=0, max_abs=1_000_000),
    FieldRule("order_ts", "timestamp", nullable=False, ts_range=(EARLIEST, LATEST)),
    FieldRule("unit_price", "float64", nullable=False, ge=0, max_abs=1_000_000),
    FieldRule("customer_id", required=False, **ID),  # type: ignore[arg-type]
    FieldRule("country", "string", required=False, max_len=64),
    FieldRule("currency", "string", required=False, pattern=r"[A-Z]{3}"),
    FieldRule("channel", "string", required=False, isin=("online", "store", "phone", "marketplace")),
)

CUSTOMERS: tuple[FieldRule, ...] = (
    FieldRule("customer_id", nullable=False, unique=True, **ID),  # type: ignore[arg-type]
    FieldRule("country", "string", required=False, max_len=64),
    FieldRule("signup_date", "date", required=False, ts_range=(EARLIEST, LATEST)),
    FieldRule("email", "string", required=False, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+"),
    FieldRule("status", "string", required=False, isin=("active", "inactive", "closed")),
)

PRODUCTS: tuple[FieldRule, ...] = (
    FieldRule("product_id", nullable=False, unique=True, **ID),  # type: ignore[arg-type]
    FieldRule("description", "string", required=False, max_len=500),
    FieldRule("category", "string", required=False, max_len=128),
    FieldRule("unit_price", "float64", required=False, ge=0, max_abs=1_000_000),
)

FIELDS: dict[str, tuple[FieldRule, ...]] = {"orders": ORDERS, "customers": CUSTOMERS, "products": PRODUCTS}

# The key that identifies one row. Orders have no line number in most client exports, so a line is
# identified by everything that describes it; customers and products by their id.
KEYS: dict[str, list[str]] = {
    "orders": ["order_id", "product_id", "quantity", "unit_price", "order_ts", "customer_id"],
    "customers": ["customer_id"],
    "products": ["product_id"],
}

# Columns that must exist and be non-null in every validated row.
REQUIRED: dict[str, list[str]] = {
    name: [f.name for f in fields if f.required and not f.nullable] for name, fields in FIELDS.items()
}

# Foreign keys checked by the ``referential_integrity`` check when the client sends both datasets.
FOREIGN_KEYS: dict[str, dict[str, str]] = {"orders": {"customer_id": "customers", "product_id": "products"}}


def fields_for(canonical: str) -> tuple[FieldRule, ...]:
    """The column rules of a canonical dataset (raises ``KeyError`` for an unknown name)."""
    return FIELDS[canonical]


def rule_codes(canonical: str) -> list[str]:
    """Every row-level rule code of a contract (``<column>.<rule>``), for docs and spec validation."""
    codes = []
    for f in FIELDS[canonical]:
        if not f.nullable:
            codes.append(f"{f.name}.not_null")
        codes += [f"{f.name}.{rule}" for rule, _ in f.row_rules()]
        if f.unique:
            codes.append(f"{f.name}.unique")
    return codes


def polars_rule_checks(canonical: str) -> list[tuple[str, str, str, Any]]:
    """Every value rule of a contract as a polars expression, compiled from the same :class:`FieldRule`
    definitions as the pandera checks: ``(code, column, rule, expression)`` in the contract's column order,
    the expression true where a value *breaks* the rule and null where the value is null (a null value
    breaks only ``not_null``, which is not listed here). Patterns are full matches as pandera's
    ``str_matches`` makes them (Python's ``$`` also matches before a final newline, hence the ``\\n?``)."""
    import polars as pl

    out: list[tuple[str, str, str, Any]] = []
    for f in FIELDS[canonical]:
        c = pl.col(f.name)
        for rule, p in f.row_rules():
            if rule in ("non_negative", "min"):
                broken = c < p["ge"]
            elif rule in ("non_zero", "not_equal"):
                broken = c == p["ne"]
            elif rule in ("plausible_range", "plausible_date"):
                broken = (c < p["min"]) | (c > p["max"])
            elif rule == "allowed_values":
                broken = ~c.is_in(p["isin"])
            elif rule == "length":
                n = c.str.len_chars()
                broken = (n < p["min"]) | (n > p["max"])
            elif rule == "pattern":
                broken = ~c.str.contains(f"^(?:{p['pattern']})\\n?$")
            else:  # a rule added to FieldRule.row_rules must be compiled here too
                raise ValueError(f"no polars form for rule {rule!r}")
            out.append((f"{f.name}.{rule}", f.name, rule, broken))
    return out


def _checks(f: FieldRule, check_cls: Any) -> list[Any]:
    out = []
    for rule, p in f.row_rules():
        if rule in ("non_negative", "min"):
            out.append(check_cls.ge(p["ge"], name=rule))
        elif rule in ("non_zero", "not_equal"):
            out.append(check_cls.ne(p["ne"], name=rule))
        elif rule in ("plausible_range", "plausible_date"):
            out.append(check_cls.in_range(p["min"], p["max"], name=rule))
        elif rule == "allowed_values":
            out.append(check_cls.isin(p["isin"], name=rule))
        elif rule == "length":
            out.append(check_cls.str_length(p["min"], p["max"], name=rule))
        elif rule == "pattern":
            out.append(check_cls.str_matches(f"^(?:{p['pattern']})$", name=rule))
    return out


def _pandas_dtype(kind: Kind) -> Any:
    # integers as pandas' nullable Int64, the pandas form of an Arrow int64 column that may hold nulls;
    # :func:`as_checked_pandas` brings int64 and whole-float columns to it (strings stay a type error)
    return {
        "string": str,
        "int64": "Int64",
        "float64": "float64",
        "timestamp": "datetime64[us]",
        "date": "datetime64[us]",
        "bool": "bool",
    }[kind]


def _polars_dtype(kind: Kind) -> Any:
    import polars as pl

    return {
        "string": pl.String,
        "int64": pl.Int64,
        "float64": pl.Float64,
        "timestamp": pl.Datetime("us"),
        "date": pl.Date,
        "bool": pl.Boolean,
    }[kind]


def _spark_dtype(kind: Kind) -> Any:
    from pyspark.sql import types as T

    return {
        "string": T.StringType(),
        "int64": T.LongType(),
        "float64": T.DoubleType(),
        "timestamp": T.TimestampNTZType(),
        "date": T.DateType(),
        "bool": T.BooleanType(),
    }[kind]


def restore_types(frame: Any, canonical: str) -> Any:
    """Give a pandas frame's integer contract columns back their integer type.

    Arrow -> pandas turns an integer column with a null into float64; once the bad rows are split off, the
    column is written as ``int64`` again (nullable ``Int64`` where nulls remain), never as a double.
    """
    for f in FIELDS[canonical]:
        if f.kind == "int64" and f.name in frame.columns and frame[f.name].dtype.kind == "f":
            column = frame[f.name]
            whole = column.dropna()
            if (whole == whole.round()).all():
                frame[f.name] = column.astype("int64") if not column.isna().any() else column.astype("Int64")
    return frame


def as_checked_pandas(frame: Any, canonical: str) -> Any:
    """A view of ``frame`` for the pandas contract: integer columns (int64, or float64 because of nulls,
    with whole values only) as nullable ``Int64``. Other types are left alone, so they fail the dtype."""
    out = frame
    for f in FIELDS[canonical]:
        if f.kind != "int64" or f.name not in frame.columns:
            continue
        column = frame[f.name]
        whole = column.dtype.kind in "iu" or (
            column.dtype.kind == "f" and bool((column.dropna() == column.dropna().round()).all())
        )
        if whole:
            if out is frame:
                out = frame.copy(deep=False)
            out[f.name] = column.astype("Int64")
    return out


def contract_for(canonical: str, engine: Engine = "pandas") -> Any:
    """The pandera schema of a canonical dataset for ``engine`` (``pandas``, ``polars`` or ``pyspark``)."""
    fields = FIELDS[canonical]
    if engine == "pandas":
        return pa.DataFrameSchema(
            {
                f.name: pa.Column(
                    _pandas_dtype(f.kind),
                    nullable=f.nullable,
                    required=f.required,
                    unique=f.unique,
                    coerce=f.kind in ("timestamp", "date"),
                    checks=_checks(f, pa.Check),
                )
                for f in fields
            },
            name=canonical,
            strict=False,
        )
    if engine == "polars":
        import pandera.polars as pp

        return pp.DataFrameSchema(
            {
                f.name: pp.Column(
                    _polars_dtype(f.kind),
                    nullable=f.nullable,
                    required=f.required,
                    unique=f.unique,
                    checks=_checks(f, pp.Check),
                )
                for f in fields
            },
            name=canonical,
            strict=False,
        )
    if engine == "pyspark":
        import pandera.pyspark as ps

        # pandera's pyspark backend checks presence, types, nullability and the value checks, and reports
        # them per column (no row indexes): it backs the ``schema`` check; rows go through Spark expressions.
        return ps.DataFrameSchema(
            {
                f.name: ps.Column(
                    _spark_dtype(f.kind),
                    nullable=f.nullable,
                    required=f.required,
                    checks=[c for c in _checks(f, ps.Check) if c.name != "plausible_date"],
                )
                for f in fields
            },
            name=canonical,
            strict=False,
        )
    raise ValueError(f"unknown engine {engine!r}: expected pandas, polars or pyspark")


def spark_schema_errors(frame: Any, canonical: str) -> list[str]:
    """Dataset-level contract failures of a Spark DataFrame with canonical column names, found by pandera's
    pyspark backend (presence, types, nullability): ``"<column>: <kind> (<error>)"`` per problem, ``[]`` if it
    conforms. For data scientists checking their own Spark frames; the pipeline's Spark engine validates
    with the pandas rules inside Spark tasks (:mod:`retina_assets.engines.spark_validation`)."""
    from pandera.config import ValidationDepth, config_context
    from pyspark.sql import types as T

    # pandera compares types exactly; a timestamp read without time zone is still a timestamp
    cast = frame
    for f in frame.schema.fields:
        if isinstance(f.dataType, T.TimestampType):
            cast = cast.withColumn(f.name, cast[f.name].cast(T.TimestampNTZType()))
    with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
        checked = contract_for(canonical, "pyspark").validate(cast)
    errors: list[str] = []
    for kinds in (checked.pandera.errors or {}).values():
        for kind, cases in kinds.items():
            for case in cases:
                errors.append(f"{case.get('column')}: {kind.lower()} ({case.get('error')})")
    return errors
