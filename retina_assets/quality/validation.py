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
3. The canonical pandera contract's row rules (nulls, ranges, allowed values, uniqueness), code
   ``<column>.<rule>``; ``quality.rules.relax: [<code>, ...]`` switches individual codes off for a client.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from retina_assets.model.contracts import KEYS, REQUIRED, as_checked_pandas, contract_for, restore_types
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


@dataclass
class ValidationOutcome:
    """The result of validating one partition."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    raw_rows: int
    rule_counts: dict[str, int] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    # positions (0-based, in the input frame) of the valid and of the rejected rows, in output order
    valid_positions: np.ndarray | None = field(default=None, repr=False)
    rejected_positions: np.ndarray | None = field(default=None, repr=False)

    @property
    def reconciles(self) -> bool:
        return self.raw_rows == len(self.valid) + len(self.rejected)

    @property
    def reject_fraction(self) -> float:
        return len(self.rejected) / self.raw_rows if self.raw_rows else 0.0


def to_canonical(raw: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, list[str]]:
    """Rename the client's columns to canonical names; returns the frame and the dropped extra columns.

    Text columns hold ``str`` or ``None`` afterwards (never ``NaN`` or other objects). The frame is built
    once from its columns: assigning columns one by one to a consolidated frame copies the whole block each
    time (5M rows: 5.3 s).
    """
    renames = {client: spec.canonical_name(client) for client in spec.columns if client in raw.columns}
    keep = [c for c in [*renames, SOURCE_FILE, SOURCE_ROW, RAW_ERRORS] if c in raw.columns]
    dropped = [c for c in raw.columns if c not in keep]
    columns: dict[str, pd.Series] = {}
    for name in keep:
        column = raw[name].reset_index(drop=True)
        if column.dtype == object:
            if pd.api.types.infer_dtype(column, skipna=True) in ("string", "empty"):
                # already str or missing (what Arrow gives): make every missing value None, no string copies
                column = column.where(column.notna(), None)
            else:
                column = column.astype("string").astype(object).where(column.notna(), None)
        columns[renames.get(name, name)] = column
    return pd.DataFrame(columns, index=pd.RangeIndex(len(raw))), dropped


def _orders_rules(frame: pd.DataFrame, rules: dict[str, Any]) -> list[tuple[pd.Series, str, str]]:
    """Derive the orders flags and return (mask, code, message) for rule violations."""
    found: list[tuple[pd.Series, str, str]] = []
    order_id = frame["order_id"].fillna("").astype(str)
    product_id = frame["product_id"].fillna("").astype(str)
    prefix = rules.get("cancellation_prefix")
    frame["is_cancellation"] = order_id.str.startswith(prefix) if prefix else False
    codes = set(map(str, rules.get("non_product_codes", [])))
    # RE2 (linear time): a client's pattern cannot backtrack catastrophically on a crafted value
    patterns = [client_regex(p) for p in rules.get("non_product_code_patterns", [])]
    non_product = product_id.isin(codes)
    for pat in patterns:
        non_product |= product_id.map(lambda v, p=pat: bool(p.search(v)))
    frame["is_product"] = ~non_product
    frame["line_amount"] = frame["quantity"].astype("float64") * frame["unit_price"].astype("float64")
    for pref in rules.get("non_sale_prefixes", []):
        found.append((order_id.str.startswith(pref), NON_SALE, f"order id starts with {pref!r}: not a sale"))
    qty = frame["quantity"]
    if prefix:
        found.append(
            (
                (qty < 0) & ~frame["is_cancellation"],
                NEG_QTY,
                f"negative quantity on an order whose id does not start with {prefix!r}",
            )
        )
        found.append(
            ((qty > 0) & frame["is_cancellation"], CANCEL_POS, "cancellation line with a positive quantity")
        )
    if rules.get("reject_zero_price"):
        found.append((frame["unit_price"] == 0, ZERO_PRICE, "unit price is 0"))
    return found


def _duplicate_mask(frame: pd.DataFrame, canonical: str, mode: Any) -> tuple[pd.Series, str, str]:
    """Rows that repeat an earlier row of the partition (the first one is kept).

    ``mode`` ``true``/``"exact"``: equal in every data column (lineage columns ignored);
    ``"key"``: equal in the contract key (e.g. a re-sent order line whose description text changed).
    """
    if mode == "key":
        cols = [k for k in KEYS[canonical] if k in frame.columns]
        return (
            frame.duplicated(subset=cols, keep="first"),
            DUPLICATE_KEY,
            f"repeats the key {cols} of an earlier row",
        )
    cols = [c for c in frame.columns if not c.startswith("_")]
    return frame.duplicated(subset=cols, keep="first"), DUPLICATE, "exact duplicate of an earlier row"


def validate_dataset(raw: pd.DataFrame, spec: DatasetSpec) -> ValidationOutcome:
    """Validate one raw partition against the dataset's contract and the client's rules."""
    frame, dropped = to_canonical(raw, spec)
    canonical = spec.canonical
    rules = dict(spec.quality.rules)
    relaxed = set(map(str, rules.get("relax", [])))
    n = len(frame)
    schema_errors = [
        f"required column {c!r} is missing" for c in REQUIRED[canonical] if c not in frame.columns
    ]
    # rule codes and reasons of the flagged rows only (row position -> list), so memory follows the bad rows
    codes: dict[int, list[str]] = {}
    reasons: dict[int, list[str]] = {}
    counts: dict[str, int] = {}

    def flag(mask: pd.Series, code: str, message: pd.Series | str) -> None:
        if code in relaxed:
            return
        hits = mask.fillna(False).astype(bool).to_numpy().nonzero()[0]
        if not len(hits):
            return
        counts[code] = counts.get(code, 0) + len(hits)
        for i in hits.tolist():
            codes.setdefault(i, []).append(code)
            reasons.setdefault(i, []).append(
                str(message.iat[i]) if isinstance(message, pd.Series) else message
            )

    if RAW_ERRORS in frame.columns:
        flag(frame[RAW_ERRORS].notna(), UNPARSEABLE, frame[RAW_ERRORS])
    if not schema_errors:
        failures, schema_errors = contract_failures(frame, canonical)
    if not schema_errors:  # row rules need the contract's columns and types (else the schema check fails)
        if canonical == "orders":
            for mask, code, message in _orders_rules(frame, rules):
                flag(mask, code, message)
        if rules.get("reject_duplicates"):
            flag(*_duplicate_mask(frame, canonical, rules["reject_duplicates"]))
        _flag_contract_failures(frame, failures, flag)

    bad = np.zeros(n, dtype=bool)
    flagged = sorted(codes)
    bad[flagged] = True
    rejected = frame[bad].copy()
    # string dtype even when no row is rejected (an empty list would make a float column)
    rejected[REJECT_RULES] = pd.Series(
        [",".join(codes[i]) for i in flagged], index=rejected.index, dtype="string"
    )
    rejected[REJECT_REASONS] = pd.Series(
        ["; ".join(reasons[i]) for i in flagged], index=rejected.index, dtype="string"
    )
    valid = frame[~bad].drop(columns=[RAW_ERRORS], errors="ignore")
    return ValidationOutcome(
        valid=restore_types(valid.reset_index(drop=True), canonical),
        rejected=restore_types(
            rejected.drop(columns=[RAW_ERRORS], errors="ignore").reset_index(drop=True), canonical
        ),
        raw_rows=n,
        rule_counts=dict(sorted(counts.items())),
        schema_errors=schema_errors,
        dropped_columns=dropped,
        valid_positions=np.flatnonzero(~bad),
        rejected_positions=np.flatnonzero(bad),
    )


@dataclass(frozen=True)
class RowFailure:
    """Rows of a frame (0-based positions) that break one contract rule, and the offending values."""

    code: str
    rows: list[int]
    values: list[Any]


def contract_failures(frame: Any, canonical: str) -> tuple[list[RowFailure], list[str]]:
    """Run the canonical contract lazily on a pandas or polars frame, with pandera on that engine.

    Returns the row-level failures by rule code (``<column>.<rule>``, see
    :mod:`retina_assets.model.contracts`) and the dataset-level failures (missing columns, wrong
    types) as messages. A pandas frame must have the default 0..n-1 index.
    """
    engine = "pandas" if isinstance(frame, pd.DataFrame) else "polars"
    schema = contract_for(canonical, engine)
    if engine == "pandas":
        frame = as_checked_pandas(frame, canonical)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            schema.validate(frame, lazy=True)
        return [], []
    except pa.errors.SchemaErrors as exc:
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


def _flag_contract_failures(frame: pd.DataFrame, failures: list[RowFailure], flag: Any) -> None:
    """Quarantine the contract's row failures via ``flag``, with the offending value in the message."""
    for failure in failures:
        mask = pd.Series(False, index=range(len(frame)))
        mask.iloc[failure.rows] = True
        column, rule = failure.code.split(".", 1)
        values = dict(zip(failure.rows, failure.values, strict=True))
        message = pd.Series(
            [f"{column}={values.get(i)!r} fails {rule}" for i in range(len(frame))], dtype=object
        )
        flag(mask, failure.code, message)


def key_duplicates(frame: pd.DataFrame, canonical: str) -> int:
    """Number of rows whose contract key repeats an earlier row's."""
    keys = [k for k in KEYS[canonical] if k in frame.columns]
    if not keys or frame.empty:
        return 0
    return int(frame.duplicated(subset=keys, keep="first").sum())
