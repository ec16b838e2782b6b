"""Splitting a raw partition into validated rows and quarantined (rejected) rows, with the reasons.

Guarantee: every raw row ends up in exactly one of ``valid`` or ``rejected``; a rejected row carries every
rule it broke in ``_reject_rules`` (comma-separated codes) and ``_reject_reasons`` (messages, ``; ``
separated). Nothing is dropped silently, and :attr:`ValidationOutcome.reconciles` proves it on every run.

Rules come from three places, applied in this order:

1. ``unparseable_value``: the raw stage could not read a value as its declared type (``_raw_errors``).
2. Dataset rules switched on in the client spec (``quality.rules``), for orders:
   ``cancellation_prefix`` (negative quantities allowed only there), ``non_sale_prefixes`` (documents that
   are not sales, quarantined), ``non_product_codes``/``non_product_code_patterns`` (flagged
   ``is_product=False``, never rejected), ``reject_zero_price``; for every dataset ``reject_duplicates`` (``true``/``exact``: exact repeats,
   code ``duplicate_row``; ``key``: repeats of the contract key, code ``duplicate_key``).
3. The canonical contract's row rules (nulls, ranges, allowed values, uniqueness), code
   ``<column>.<rule>``; ``quality.rules.relax: [<code>, ...]`` switches individual codes off for a client.

How it runs: rules are polars expressions evaluated on Arrow data (the contract's value rules compiled from
its :class:`~retina_assets.model.contracts.FieldRule` definitions by
:func:`~retina_assets.model.contracts.polars_rule_checks`; dataset-level conformance of a column whose type
differs from the contract's is judged by the pandera schema). Row rules look at one row at a time, so a
partition can be split window by window (:func:`split_window`); the cross-row rules (repeats, unique
values) are computed first over the key columns (:func:`cross_row_flags`) and handed in as flags.

The outputs keep the types the partition had when this stage ran on pandas frames (a stored version is the
same bytes): integers of contract columns stay integers, other integer columns with a null become
doubles, NaN is stored as null, a boolean column with a null and columns of other types (dates, decimals)
are stored as their text.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa_pandas
import polars as pl
import pyarrow as pa

from retina_assets.model.contracts import (
    FIELDS,
    KEYS,
    REQUIRED,
    as_checked_pandas,
    contract_for,
    polars_rule_checks,
    restore_types,
)
from retina_assets.model.naming import RAW_ERRORS, REJECT_REASONS, REJECT_RULES, SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import DatasetSpec, client_regex

# rule codes of the dataset rules (the contract's own codes are listed by contracts.rule_codes)
UNPARSEABLE = "unparseable_value"
NON_SALE = "non_sale_document"
NEG_QTY = "negative_quantity_not_cancellation"
CANCEL_POS = "cancellation_with_positive_quantity"
ZERO_PRICE = "zero_price"
DUPLICATE = "duplicate_row"
DUPLICATE_KEY = "duplicate_key"

RawRows = pa.Table | pl.DataFrame  # raw rows with the client's column names
POSITION = "_retina_position"  # a row's 0-based position in the partition, in working frames only


@dataclass
class ValidationOutcome:
    """The result of validating one partition: both outputs as Arrow tables (``valid``/``rejected`` give
    them as pandas frames), the rule counts and the dataset-level errors."""

    valid_table: pa.Table
    rejected_table: pa.Table
    raw_rows: int
    canonical: str
    rule_counts: dict[str, int] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    # positions (0-based, in the input frame) of the valid and of the rejected rows, in output order
    valid_positions: np.ndarray | None = field(default=None, repr=False)
    rejected_positions: np.ndarray | None = field(default=None, repr=False)

    @property
    def valid(self) -> pd.DataFrame:
        return restore_types(self.valid_table.to_pandas(), self.canonical)

    @property
    def rejected(self) -> pd.DataFrame:
        frame = restore_types(self.rejected_table.to_pandas(), self.canonical)
        # string dtype even when no row is rejected (an empty object column has no type in Arrow)
        return frame.astype({REJECT_RULES: "string", REJECT_REASONS: "string"})

    @property
    def reconciles(self) -> bool:
        return self.raw_rows == self.valid_table.num_rows + self.rejected_table.num_rows

    @property
    def reject_fraction(self) -> float:
        return self.rejected_table.num_rows / self.raw_rows if self.raw_rows else 0.0


# --- the plan: which columns, which types, which rules --------------------------------------------------
_NATIVE = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view, pa.types.is_integer,
           pa.types.is_floating, pa.types.is_boolean, pa.types.is_timestamp, pa.types.is_null)  # fmt: skip


def _is_native(t: pa.DataType) -> bool:
    return any(test(t) for test in _NATIVE)


def _conforms(kind: str, t: pa.DataType, has_nulls: bool) -> bool | None:
    """Whether a column of Arrow type ``t`` has the contract type ``kind`` (``None``: only the data can
    tell, e.g. doubles holding whole numbers in an integer column: pandera decides)."""
    if kind == "string":
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)
    if kind == "int64":
        return True if pa.types.is_integer(t) else (None if pa.types.is_floating(t) else False)
    if kind == "float64":
        return pa.types.is_float64(t)
    if kind in ("timestamp", "date"):
        return (pa.types.is_timestamp(t) and t.tz is None) or pa.types.is_date(t)
    if kind == "bool":
        return pa.types.is_boolean(t) and not has_nulls
    return False


class ValidationPlan:
    """What validating a partition of raw schema ``raw_schema`` takes: the kept columns and their stored and
    checked types, the dataset-level errors, and the rules in the order their codes are written.

    ``null_columns`` are the raw columns holding a null anywhere in the partition (they decide stored types,
    see the module docstring); ``schema_errors`` may be replaced by :meth:`judge_types` once data is known.
    """

    def __init__(self, spec: DatasetSpec, raw_schema: pa.Schema, null_columns: Iterable[str]) -> None:
        self.spec = spec
        self.canonical = spec.canonical
        self.rules = dict(spec.quality.rules)
        self.relaxed = set(map(str, self.rules.get("relax", [])))
        nulls = set(null_columns)
        names = raw_schema.names
        renames = {client: spec.canonical_name(client) for client in spec.columns if client in names}
        self.sources = [c for c in [*renames, SOURCE_FILE, SOURCE_ROW, RAW_ERRORS] if c in names]
        self.dropped_columns = [c for c in names if c not in self.sources]
        self.names = {s: renames.get(s, s) for s in self.sources}
        fields = {f.name: f for f in FIELDS[self.canonical]}
        self.raw_types = {s: raw_schema.field(s).type for s in self.sources}
        self.has_nulls = {s: s in nulls for s in self.sources}
        present = set(self.names.values())
        self.schema_errors = [
            f"required column {c!r} is missing" for c in REQUIRED[self.canonical] if c not in present
        ]
        # contract columns whose type only pandera can judge (with the data: see judge_types)
        self.unsure: list[str] = []
        self.int_from_float: set[str] = set()
        by_name = {name: source for source, name in self.names.items()}
        for f in FIELDS[self.canonical]:
            if f.name not in by_name:
                continue
            source = by_name[f.name]
            verdict = _conforms(f.kind, self.raw_types[source], self.has_nulls[source])
            if verdict is not True:
                self.unsure.append(f.name)
            if verdict is None:
                self.int_from_float.add(f.name)
        self.contract_columns = {n: fields[n] for n in present if n in fields}
        self.stored_text = [s for s in self.sources if self._stored_as_text(s)]

    def _stored_as_text(self, source: str) -> bool:
        t = self.raw_types[source]
        return (not _is_native(t)) or (pa.types.is_boolean(t) and self.has_nulls[source])

    def judge_types(self, columns: pd.DataFrame) -> None:
        """Let pandera judge the contract columns whose type differs from the contract's (``columns``: those
        columns of the whole partition, canonical names): its dataset-level errors become the schema errors."""
        if self.schema_errors or not self.unsure:
            return
        _failures, errors = contract_failures(columns, self.canonical, columns=self.unsure)
        self.schema_errors = errors
        if not errors:
            self.unsure = []

    @property
    def runs_row_rules(self) -> bool:
        """Row rules need the contract's columns and types (else the ``schema`` check fails the partition)."""
        return not self.schema_errors and not self.unsure

    @property
    def duplicate_mode(self) -> Any:
        mode = self.rules.get("reject_duplicates")
        if not mode or not self.runs_row_rules:
            return None
        code = DUPLICATE_KEY if mode == "key" else DUPLICATE
        return None if code in self.relaxed else mode

    def key_columns(self) -> list[str]:
        """The contract key columns present (canonical names)."""
        present = set(self.names.values())
        return [k for k in KEYS[self.canonical] if k in present]

    def data_columns(self) -> list[str]:
        """The canonical data columns (lineage excluded), as exact repeats compare them."""
        return [n for n in self.names.values() if not n.startswith("_")]

    def duplicate_columns(self) -> list[str]:
        return self.key_columns() if self.duplicate_mode == "key" else self.data_columns()

    def unique_columns(self) -> list[str]:
        if not self.runs_row_rules:
            return []
        return [n for n, f in self.contract_columns.items() if f.unique and f"{n}.unique" not in self.relaxed]

    # --- frames ----------------------------------------------------------------------------------------
    def stored_frame(self, table: RawRows, names: list[str] | None = None) -> pl.DataFrame:
        """The raw rows (Arrow or polars, client column names) with the kept columns (or only the canonical
        ``names``) renamed and in their stored types."""
        table = _polars(table)
        stored: list[pl.Series] = []
        for source in self.sources:
            name = self.names[source]
            if names is not None and name not in names:
                continue
            column = table.get_column(source)
            if source in self.stored_text:
                series = _as_text(column)
            else:
                series = column
                t = self.raw_types[source]
                if pa.types.is_null(t):
                    series = series.cast(pl.String)
                elif pa.types.is_floating(t):
                    series = series.fill_nan(None)
                elif pa.types.is_integer(t) and self.has_nulls[source]:
                    field_rule = self.contract_columns.get(name)
                    if field_rule is None or field_rule.kind != "int64":
                        series = series.cast(pl.Float64)
                    elif series.dtype != pl.Int64:
                        series = series.cast(pl.Int64)
                elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
                    series = series.cast(pl.String)
            stored.append(series.alias(name))
        return pl.DataFrame(stored, nan_to_null=False)

    def checked_frame(self, stored: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
        """``stored`` with each contract column as the contract's rules read it (what pandera sees):
        integers as Int64, dates and date texts as timestamps."""
        overrides = []
        for name, f in self.contract_columns.items():
            if f.kind == "int64" and stored[name].dtype != pl.Int64:
                overrides.append(pl.col(name).cast(pl.Int64))
            elif f.kind in ("timestamp", "date"):
                source = self._source(name)
                if pa.types.is_date(self.raw_types[source]):
                    overrides.append(pl.lit(table.get_column(source).cast(pl.Datetime("us")).alias(name)))
        return stored.with_columns(overrides) if overrides else stored

    def _source(self, name: str) -> str:
        return next(s for s, n in self.names.items() if n == name)

    def orders_columns(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Add the derived orders columns: ``is_cancellation``, ``is_product``, ``line_amount``."""
        prefix = self.rules.get("cancellation_prefix")
        order_id = pl.col("order_id").fill_null("")
        product_id = pl.col("product_id").fill_null("")
        codes = [str(c) for c in self.rules.get("non_product_codes", [])]
        non_product = product_id.is_in(codes)
        for pattern in self.rules.get("non_product_code_patterns", []):
            non_product = non_product | _search(product_id, str(pattern))
        return frame.with_columns(
            (order_id.str.starts_with(prefix) if prefix else pl.lit(False)).alias("is_cancellation"),
            (~non_product).alias("is_product"),
            (pl.col("quantity").cast(pl.Float64) * pl.col("unit_price").cast(pl.Float64))
            .fill_nan(None)
            .alias("line_amount"),
        )

    def rules_in_order(self) -> list[tuple[str, pl.Expr, Any]]:
        """``(code, expression true where the row breaks the rule, message)`` in the order codes are written,
        evaluated on :meth:`checked_frame` (plus the derived orders columns and the cross-row flags);
        the message is a text, an expression, or ``(column, rule)`` for a contract rule (the message names the
        offending value). Cross-row rules read the flag columns of :func:`cross_row_flags`."""
        out: list[tuple[str, pl.Expr, Any]] = []
        present = set(self.names.values())
        if RAW_ERRORS in present:
            out.append((UNPARSEABLE, pl.col(RAW_ERRORS).is_not_null(), pl.col(RAW_ERRORS)))
        if not self.runs_row_rules:
            return [r for r in out if r[0] not in self.relaxed]
        if self.canonical == "orders":
            order_id = pl.col("order_id").fill_null("")
            for pref in self.rules.get("non_sale_prefixes", []):
                out.append(
                    (NON_SALE, order_id.str.starts_with(pref), f"order id starts with {pref!r}: not a sale")
                )
            prefix = self.rules.get("cancellation_prefix")
            qty = pl.col("quantity")
            if prefix:
                message = f"negative quantity on an order whose id does not start with {prefix!r}"
                out.append((NEG_QTY, (qty < 0) & ~pl.col("is_cancellation"), message))
                out.append(
                    (
                        CANCEL_POS,
                        (qty > 0) & pl.col("is_cancellation"),
                        "cancellation line with a positive quantity",
                    )
                )
            if self.rules.get("reject_zero_price"):
                out.append((ZERO_PRICE, pl.col("unit_price") == 0, "unit price is 0"))
        mode = self.duplicate_mode
        if mode == "key":
            cols = self.key_columns()
            out.append(
                (DUPLICATE_KEY, pl.col(_flag("duplicate")), f"repeats the key {cols} of an earlier row")
            )
        elif mode is not None:
            out.append((DUPLICATE, pl.col(_flag("duplicate")), "exact duplicate of an earlier row"))
        value_rules: dict[str, list[tuple[str, str, pl.Expr]]] = {}
        for code, column, rule, broken in polars_rule_checks(self.canonical):
            value_rules.setdefault(column, []).append((code, rule, broken))
        unique = set(self.unique_columns())
        for f in FIELDS[self.canonical]:
            if f.name not in present:
                continue
            if not f.nullable:
                out.append((f"{f.name}.not_null", pl.col(f.name).is_null(), (f.name, "not_null")))
            for code, rule, broken in value_rules.get(f.name, []):
                out.append((code, broken, (f.name, rule)))
            if f.name in unique:
                out.append((f"{f.name}.unique", pl.col(_flag("unique:" + f.name)), (f.name, "unique")))
        return [r for r in out if r[0] not in self.relaxed]


def _flag(name: str) -> str:
    return f"_retina_flag:{name}"


def _search(values: pl.Expr, pattern: str) -> pl.Expr:
    """``re.search`` of a client pattern on every value: polars' regex engine where it reads the pattern the
    same way, RE2 per value otherwise (linear time: a client's pattern cannot backtrack catastrophically;
    look-around and back-references are refused when the spec is loaded)."""
    try:
        pl.select(pl.lit("").str.contains(pattern))
    except pl.exceptions.PolarsError:
        compiled = client_regex(pattern)
        return values.map_elements(lambda v: bool(compiled.search(v)), return_dtype=pl.Boolean)
    return values.str.contains(pattern)


def _polars(rows: RawRows) -> pl.DataFrame:
    if isinstance(rows, pl.DataFrame):
        return rows
    frame = pl.from_arrow(rows)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _as_text(column: pl.Series) -> pl.Series:
    """A column of another type stored as its text, as pandas' ``astype("string")`` writes each value."""
    values = column.to_arrow().to_pandas()
    text = values.astype("string").astype(object).where(values.notna(), None)
    return pl.Series(text.tolist(), dtype=pl.String)


# --- cross-row rules ------------------------------------------------------------------------------------
class KeyTally:
    """Cross-row rules over a stream of rows: fed frames of the compared columns with ``_retina_position``
    (in drop order), it finds the rows that repeat an earlier row (first copy kept) and the values that occur
    more than once. Memory follows the distinct values seen, not the rows: a key shared by most rows of a
    drop costs one entry."""

    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = {name: cols for name, cols in groups.items() if cols}
        self._seen: dict[str, pl.DataFrame | None] = dict.fromkeys(self.groups)

    def add(self, frame: pl.DataFrame) -> None:
        for name, cols in self.groups.items():
            part = frame.group_by(cols).agg(pl.col(POSITION).min().alias("_first"), pl.len().alias("_n"))
            seen = self._seen[name]
            if seen is not None:
                part = pl.concat([seen, part]).group_by(cols).agg(pl.col("_first").min(), pl.col("_n").sum())
            self._seen[name] = part

    def flags(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """For the rows of ``frame`` (fed before): per group, the positions of rows that repeat an earlier
        row (``duplicate``) or share their value with another row (``unique:<column>``)."""
        out: dict[str, np.ndarray] = {}
        for name, cols in self.groups.items():
            seen = self._seen[name]
            assert seen is not None
            joined = frame.select([*cols, POSITION]).join(seen, on=cols, how="inner", nulls_equal=True)
            if name == "duplicate":
                hit = joined.filter(pl.col(POSITION) != pl.col("_first"))
            else:
                hit = joined.filter(pl.col("_n") > 1)
            out[name] = hit[POSITION].to_numpy()
        return out

    def distinct(self, name: str) -> int:
        seen = self._seen.get(name)
        return 0 if seen is None else seen.height


def cross_row_groups(plan: ValidationPlan) -> dict[str, list[str]]:
    """The column groups the cross-row rules compare (``duplicate``, ``unique:<column>``)."""
    groups: dict[str, list[str]] = {}
    if plan.duplicate_mode is not None:
        groups["duplicate"] = plan.duplicate_columns()
    for col in plan.unique_columns():
        groups[f"unique:{col}"] = [col]
    return groups


def cross_row_flags(
    plan: ValidationPlan,
    frames: Iterable[pl.DataFrame],
    rows: int,
    groups: dict[str, list[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Boolean flags over the ``rows`` rows of a partition for each cross-row group of ``plan`` (or
    ``groups``), from frames of the compared columns with ``_retina_position`` (all rows a group compares:
    a partition, or one key bucket), in drop order: ``duplicate`` flags a row repeating an earlier row's
    columns, ``unique:<column>`` a row sharing its value with any other."""
    frames = list(frames) if not isinstance(frames, list) else frames
    groups = cross_row_groups(plan) if groups is None else groups
    flags = {name: np.zeros(rows, dtype=bool) for name in groups}
    if not groups:
        return flags
    if len(frames) == 1:  # all rows at hand (in drop order): no tally needed
        frame = frames[0]
        positions = frame[POSITION].to_numpy()
        for name, cols in groups.items():
            # rows whose key hash repeats are the only ones that can repeat a key: compare those exactly
            # (a hash collision only adds a candidate, never a flag)
            shared = frame.select(pl.struct(cols).hash(seed=0).is_duplicated()).to_series()
            candidates = frame.filter(shared)
            key = pl.struct(cols)
            hit = ~key.is_first_distinct() if name == "duplicate" else key.is_duplicated()
            found = candidates.select(hit).to_series().to_numpy()
            flags[name][candidates[POSITION].to_numpy()[found]] = True
        return flags
    tally = KeyTally(groups)
    for frame in frames:
        tally.add(frame)
    for frame in frames:
        for name, positions in tally.flags(frame).items():
            flags[name][positions] = True
    return flags


# --- one window of rows ---------------------------------------------------------------------------------
@dataclass
class WindowResult:
    """The split of one window of rows (positions ``start`` .. ``start + rows``)."""

    valid: pa.Table
    rejected: pa.Table
    rule_counts: dict[str, int]
    valid_mask: np.ndarray


def split_window(plan: ValidationPlan, table: RawRows, flags: dict[str, np.ndarray]) -> WindowResult:
    """Split the raw rows ``table`` into valid and rejected rows by ``plan``'s rules; ``flags`` are the
    cross-row flags of these rows (from :func:`cross_row_flags`, sliced to the window)."""
    table = _polars(table)
    stored = plan.stored_frame(table)
    if plan.runs_row_rules and plan.canonical == "orders":
        stored = plan.orders_columns(stored)
    checked = plan.checked_frame(stored, table)
    rules = plan.rules_in_order()
    if flags:
        checked = checked.with_columns([pl.Series(_flag(k), v) for k, v in flags.items()])
    masks = (
        checked.select([expr.fill_null(False).alias(f"m{i}") for i, (_code, expr, _msg) in enumerate(rules)])
        if rules
        else pl.DataFrame()
    )
    if rules:
        bad = masks.select(pl.any_horizontal(pl.all())).to_series().to_numpy()
    else:
        bad = np.zeros(stored.height, dtype=bool)
    counts: dict[str, int] = {}
    if rules:
        sums = masks.sum().row(0)
        for (code, _expr, _msg), hits in zip(rules, sums, strict=True):
            if hits:
                counts[code] = counts.get(code, 0) + int(hits)
    output = [c for c in stored.columns if c != RAW_ERRORS]
    bad_series = pl.Series(bad)
    valid = stored.filter(~bad_series).select(output)
    rejected = stored.filter(bad_series).select(output)
    if rules and len(rejected):
        bad_masks = masks.filter(bad_series)
        bad_checked = checked.filter(bad_series)
        codes, reasons = [], []
        for i, (code, _expr, message) in enumerate(rules):
            hit = bad_masks[f"m{i}"]
            if not hit.any():
                continue
            codes.append(pl.when(hit).then(pl.lit(code)))
            if isinstance(message, str):
                text = pl.lit(message)
            elif isinstance(message, tuple):
                text = pl.lit(_value_messages(bad_checked[message[0]], hit, *message))
            else:
                text = bad_checked.select(message).to_series()
                text = pl.lit(text)
            reasons.append(pl.when(hit).then(text))
        rejected = rejected.with_columns(
            pl.concat_str(codes, separator=",", ignore_nulls=True).alias(REJECT_RULES),
            pl.concat_str(reasons, separator="; ", ignore_nulls=True).alias(REJECT_REASONS),
        )
    else:
        rejected = rejected.with_columns(
            pl.lit(None, pl.String).alias(REJECT_RULES), pl.lit(None, pl.String).alias(REJECT_REASONS)
        )
    return WindowResult(_to_arrow(valid), _to_arrow(rejected), counts, ~bad)


def _value_messages(values: pl.Series, hit: pl.Series, column: str, rule: str) -> pl.Series:
    """``<column>=<value> fails <rule>`` for the flagged rows (null elsewhere), the value written as the
    contract's pandas form shows it (``'text'``, ``None`` for a missing text, ``nan`` for a missing number or
    time, ``Timestamp('...')`` for a time)."""
    out: list[str | None] = []
    is_text = values.dtype == pl.String
    is_time = values.dtype.is_temporal()
    for value, flagged in zip(values.to_list(), hit.to_list(), strict=True):
        if not flagged:
            out.append(None)
            continue
        if value is None:
            shown = "None" if is_text else "nan"
        elif is_time:
            shown = repr(pd.Timestamp(value))
        else:
            shown = repr(value)
        out.append(f"{column}={shown} fails {rule}")
    return pl.Series(out, dtype=pl.String)


def _to_arrow(frame: pl.DataFrame) -> pa.Table:
    """A polars frame as Arrow with the types the store writes (``string``, not ``large_string``)."""
    table = frame.to_arrow()
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) or pa.types.is_string_view(f.type)
        else f
        for f in table.schema
    ]  # fmt: skip
    return table.cast(pa.schema(fields))


# --- whole partitions -----------------------------------------------------------------------------------
def null_columns(table: pa.Table) -> list[str]:
    """The integer and boolean columns of ``table`` holding a null (their stored type depends on it)."""
    return [
        name
        for name in table.column_names
        if (pa.types.is_integer(table.column(name).type) or pa.types.is_boolean(table.column(name).type))
        and table.column(name).null_count
    ]


def as_raw_table(raw: pd.DataFrame | pa.Table | pl.DataFrame) -> pa.Table:
    """A raw partition given as a pandas or polars frame, as Arrow (text columns of mixed Python objects as
    text, as the raw stage would have stored them)."""
    if isinstance(raw, pa.Table):
        return raw
    if isinstance(raw, pl.DataFrame):
        return raw.to_arrow()
    columns = {}
    for name in raw.columns:
        column = raw[name].reset_index(drop=True)
        if column.dtype == object and pd.api.types.infer_dtype(column, skipna=True) not in (
            "string",
            "empty",
        ):
            column = column.astype("string").astype(object).where(column.notna(), None)
        columns[name] = column
    return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)


def plan_for(spec: DatasetSpec, table: pa.Table) -> ValidationPlan:
    """The plan of a partition held whole in ``table`` (types judged on its data)."""
    plan = ValidationPlan(spec, table.schema, null_columns(table))
    if plan.unsure and not plan.schema_errors:
        plan.judge_types(plan_columns_as_pandas(plan, table, plan.unsure))
    return plan


def plan_columns_as_pandas(plan: ValidationPlan, table: pa.Table, names: list[str]) -> pd.DataFrame:
    """Some canonical columns of the partition as the pandas contract reads them."""
    sources = {plan.names[s]: s for s in plan.sources}
    frame = table.select([sources[n] for n in names]).to_pandas()
    frame.columns = names
    return _pandas_text(frame)


def _pandas_text(frame: pd.DataFrame) -> pd.DataFrame:
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:
            if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
                frame[name] = column.where(column.notna(), None)
            else:
                frame[name] = column.astype("string").astype(object).where(column.notna(), None)
    return frame


def validate_table(
    table: pa.Table, spec: DatasetSpec, plan: ValidationPlan | None = None
) -> ValidationOutcome:
    """Validate one raw partition held whole in memory (Arrow, the client's column names)."""
    plan = plan or plan_for(spec, table)
    n = table.num_rows
    flags: dict[str, np.ndarray] = {}
    groups = cross_row_groups(plan)
    if groups:
        cols = list(dict.fromkeys(c for g in groups.values() for c in g))
        keyed = plan.stored_frame(table, cols).with_columns(
            pl.int_range(0, n, dtype=pl.Int64).alias(POSITION)
        )
        flags = cross_row_flags(plan, [keyed], n)
    window = split_window(plan, table, flags)
    return ValidationOutcome(
        valid_table=window.valid,
        rejected_table=window.rejected,
        raw_rows=n,
        canonical=plan.canonical,
        rule_counts=dict(sorted(window.rule_counts.items())),
        schema_errors=list(plan.schema_errors),
        dropped_columns=list(plan.dropped_columns),
        valid_positions=np.flatnonzero(window.valid_mask),
        rejected_positions=np.flatnonzero(~window.valid_mask),
    )


def validate_dataset(raw: pd.DataFrame | pa.Table | pl.DataFrame, spec: DatasetSpec) -> ValidationOutcome:
    """Validate one raw partition (pandas, polars or Arrow; the client's column names) against the
    dataset's contract and the client's rules."""
    return validate_table(as_raw_table(raw), spec)


@dataclass(frozen=True)
class RowFailure:
    """Rows of a frame (0-based positions) that break one contract rule, and the offending values."""

    code: str
    rows: list[int]
    values: list[Any]


def contract_failures(
    frame: Any, canonical: str, columns: list[str] | None = None
) -> tuple[list[RowFailure], list[str]]:
    """Run the canonical pandera contract lazily on a pandas or polars frame, with pandera on that engine
    (only the contract's ``columns`` if given).

    Returns the row-level failures by rule code (``<column>.<rule>``, see
    :mod:`retina_assets.model.contracts`) and the dataset-level failures (missing columns, wrong
    types) as messages. A pandas frame must have the default 0..n-1 index.
    """
    engine = "pandas" if isinstance(frame, pd.DataFrame) else "polars"
    schema = contract_for(canonical, engine)
    if columns is not None:
        schema = schema.select_columns(columns)
    if engine == "pandas":
        frame = as_checked_pandas(frame, canonical)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            schema.validate(frame, lazy=True)
        return [], []
    except pa_pandas.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    if not isinstance(cases, pd.DataFrame):
        cases = cases.to_pandas()
    rows: dict[str, dict[int, Any]] = {}
    dataset_errors: list[str] = []
    for rec in cases.to_dict("records"):
        column, check, index = rec["column"], str(rec["check"]), rec.get("index")
        number = rec.get("check_number")
        if check == "not_nullable":
            rule = "not_null"
        elif check == "field_uniqueness":
            rule = "unique"
        elif number is not None and not pd.isna(number) and column in schema.columns:
            rule = schema.columns[column].checks[int(number)].name
        else:
            rule = None
        if rule is None or index is None or pd.isna(index):
            message = f"{column}: {check} ({rec['failure_case']})"
            if message not in dataset_errors:
                dataset_errors.append(message)
            continue
        rows.setdefault(f"{column}.{rule}", {})[int(index)] = rec["failure_case"]
    failures = [
        RowFailure(code, sorted(hits), [hits[i] for i in sorted(hits)]) for code, hits in rows.items()
    ]
    return failures, dataset_errors


def key_duplicates(frame: pa.Table | pl.DataFrame | pd.DataFrame, canonical: str) -> int:
    """Number of rows whose contract key repeats an earlier row's."""
    if isinstance(frame, pd.DataFrame):
        frame = as_raw_table(frame)
    if isinstance(frame, pa.Table):
        frame = pl.from_arrow(frame)  # type: ignore[assignment]
    assert isinstance(frame, pl.DataFrame)
    keys = [k for k in KEYS[canonical] if k in frame.columns]
    if not keys or frame.is_empty():
        return 0
    return frame.height - frame.select(keys).n_unique()
