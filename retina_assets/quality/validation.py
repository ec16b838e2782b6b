"""Splitting a raw partition into validated rows and quarantined (rejected) rows, with the reasons.

Guarantee: every raw row ends up in exactly one of ``valid`` or ``rejected``; a rejected row carries every
rule it broke in ``_reject_rules`` (codes) and ``_reject_reasons`` (messages). Nothing is dropped silently,
and :attr:`ValidationOutcome.reconciles` proves it on every run.

Rules come from three places, applied in this order:

1. ``unparseable_value``: the raw stage could not read a value as its declared type (``_raw_errors``).
2. Dataset rules switched on in the client spec (``quality.rules``), e.g. for orders:
   ``cancellation_prefix``, ``non_sale_prefixes``, ``non_product_codes``/``non_product_code_patterns``
   (flag, never reject), ``reject_duplicates``, ``reject_zero_price``.
3. The canonical pandera contract's row checks (nulls, ranges, allowed values), code ``<column>.<check>``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.pandas as pa

from retina_assets.clients.spec import DatasetSpec
from retina_assets.ingestion.coercion import RAW_ERRORS, SOURCE_FILE, SOURCE_ROW
from retina_assets.quality.contracts import KEYS, REQUIRED, contract_for

REJECT_RULES = "_reject_rules"
REJECT_REASONS = "_reject_reasons"


@dataclass
class ValidationOutcome:
    """The result of validating one partition."""

    valid: pd.DataFrame
    rejected: pd.DataFrame
    raw_rows: int
    rule_counts: dict[str, int] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.raw_rows == len(self.valid) + len(self.rejected)

    @property
    def reject_fraction(self) -> float:
        return len(self.rejected) / self.raw_rows if self.raw_rows else 0.0


def to_canonical(raw: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, list[str]]:
    """Rename the client's columns to canonical names; returns the frame and the dropped extra columns."""
    renames = {client: spec.canonical_name(client) for client in spec.columns if client in raw.columns}
    keep = [*renames, SOURCE_FILE, SOURCE_ROW, RAW_ERRORS]
    dropped = [c for c in raw.columns if c not in keep]
    frame = raw[[c for c in keep if c in raw.columns]].rename(columns=renames)
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].astype("string").astype(object).where(frame[name].notna(), None)
    return frame.reset_index(drop=True), dropped


def _orders_rules(frame: pd.DataFrame, rules: dict[str, Any]) -> list[tuple[pd.Series, str, str]]:
    """Derive the orders flags and return (mask, code, message) for rule violations."""
    found: list[tuple[pd.Series, str, str]] = []
    order_id = frame["order_id"].fillna("").astype(str)
    product_id = frame["product_id"].fillna("").astype(str)
    prefix = rules.get("cancellation_prefix")
    frame["is_cancellation"] = order_id.str.startswith(prefix) if prefix else False
    codes = set(map(str, rules.get("non_product_codes", [])))
    patterns = [re.compile(p) for p in rules.get("non_product_code_patterns", [])]
    non_product = product_id.isin(codes)
    for pat in patterns:
        non_product |= product_id.map(lambda v, p=pat: bool(p.search(v)))
    frame["is_product"] = ~non_product
    frame["line_amount"] = frame["quantity"].astype("float64") * frame["unit_price"].astype("float64")
    for pref in rules.get("non_sale_prefixes", []):
        found.append((order_id.str.startswith(pref), "non_sale_document", f"order id starts with {pref!r}"))
    qty = frame["quantity"]
    if prefix:
        found.append(
            (
                (qty < 0) & ~frame["is_cancellation"],
                "negative_quantity_not_cancellation",
                f"negative quantity on an order whose id does not start with {prefix!r}",
            )
        )
        found.append(
            (
                (qty > 0) & frame["is_cancellation"],
                "cancellation_with_positive_quantity",
                "cancellation line with a positive quantity",
            )
        )
    if rules.get("reject_zero_price"):
        found.append((frame["unit_price"] == 0, "zero_price", "unit price is 0"))
    return found


def _duplicate_mask(frame: pd.DataFrame, canonical: str) -> pd.Series:
    cols = [c for c in frame.columns if not c.startswith("_")]
    del canonical
    return frame.duplicated(subset=cols, keep="first")


def validate_dataset(raw: pd.DataFrame, spec: DatasetSpec) -> ValidationOutcome:
    """Validate one raw partition against the dataset's contract and the client's rules."""
    frame, dropped = to_canonical(raw, spec)
    canonical = spec.canonical
    rules = dict(spec.quality.rules)
    n = len(frame)
    schema_errors = [
        f"required column {c!r} is missing" for c in REQUIRED[canonical] if c not in frame.columns
    ]
    codes = pd.Series([[] for _ in range(n)], dtype=object)
    reasons = pd.Series([[] for _ in range(n)], dtype=object)
    counts: dict[str, int] = {}

    def flag(mask: pd.Series, code: str, message: pd.Series | str) -> None:
        mask = mask.fillna(False).astype(bool).reset_index(drop=True)
        hit = int(mask.sum())
        if not hit:
            return
        counts[code] = counts.get(code, 0) + hit
        msgs = message if isinstance(message, pd.Series) else pd.Series([message] * n)
        for i in mask[mask].index:
            codes.iat[i].append(code)
            reasons.iat[i].append(str(msgs.iat[i]))

    if RAW_ERRORS in frame.columns:
        flag(frame[RAW_ERRORS].notna(), "unparseable_value", frame[RAW_ERRORS])
    if not schema_errors:
        if canonical == "orders":
            for mask, code, message in _orders_rules(frame, rules):
                flag(mask, code, message)
        if rules.get("reject_duplicates"):
            flag(_duplicate_mask(frame, canonical), "duplicate_row", "exact duplicate of an earlier row")
        schema_errors += _contract_row_failures(frame, canonical, flag)

    bad = codes.map(bool)
    rejected = frame[bad.values].copy()
    rejected[REJECT_RULES] = codes[bad].map(",".join).values
    rejected[REJECT_REASONS] = reasons[bad].map("; ".join).values
    valid = frame[~bad.values].drop(columns=[RAW_ERRORS], errors="ignore")
    return ValidationOutcome(
        valid=valid.reset_index(drop=True),
        rejected=rejected.drop(columns=[RAW_ERRORS], errors="ignore").reset_index(drop=True),
        raw_rows=n,
        rule_counts=counts,
        schema_errors=schema_errors,
        dropped_columns=dropped,
    )


def _contract_row_failures(frame: pd.DataFrame, canonical: str, flag: Any) -> list[str]:
    """Run the pandera contract lazily; quarantine row failures, return dataset-level failures."""
    schema = contract_for(canonical)
    dataset_errors: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            schema.validate(frame, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    for (column, check), group in cases.groupby(["column", "check"], dropna=False, sort=False):
        rows = group["index"].dropna()
        if rows.empty:
            dataset_errors.append(f"{column}: {check} ({', '.join(map(str, group['failure_case'][:3]))})")
            continue
        mask = pd.Series(False, index=range(len(frame)))
        mask.iloc[rows.astype(int).unique()] = True
        values = dict(zip(rows.astype(int), group.loc[rows.index, "failure_case"], strict=False))
        message = pd.Series(
            [f"{column}={values.get(i)!r} fails {check}" for i in range(len(frame))], dtype=object
        )
        flag(mask, f"{column}.{_check_code(str(check))}", message)
    return dataset_errors


def _check_code(check: str) -> str:
    if check == "not_nullable":
        return "not_null"
    return re.sub(r"[^a-z0-9_]+", "_", check.lower()).strip("_")


def key_duplicates(frame: pd.DataFrame, canonical: str) -> int:
    """Number of rows whose contract key repeats an earlier row's."""
    keys = [k for k in KEYS[canonical] if k in frame.columns]
    if not keys or frame.empty:
        return 0
    return int(frame.duplicated(subset=keys, keep="first").sum())
