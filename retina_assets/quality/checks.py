"""Asset checks reported by the validated assets, per partition, with per-client severity and thresholds.

Each check is declared on the asset itself (``check_specs``) so it runs per partition and shows in the UI
beside the materialization. A check whose policy severity is ``error`` is *blocking*: when it fails,
downstream features of that run are not built on the bad data. ``warn`` checks are reported only.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator

import dagster as dg
import pandas as pd

from retina_assets.clients.spec import CheckPolicy, DatasetSpec
from retina_assets.quality.contracts import KEYS, REQUIRED
from retina_assets.quality.validation import ValidationOutcome, key_duplicates

CHECKS = ("reconciliation", "schema", "reject_fraction", "key_unique", "null_rate", "volume")
_POLICY_FIELD = {"reject_fraction": "max_reject_fraction", "schema": "schema_conformance"}


def policy(spec: DatasetSpec, check: str) -> CheckPolicy:
    return getattr(spec.quality, _POLICY_FIELD.get(check, check))


def check_specs(asset_key: dg.AssetKey, spec: DatasetSpec) -> list[dg.AssetCheckSpec]:
    """The checks declared on a validated asset; ``off`` checks are left out."""
    descriptions = {
        "reconciliation": "raw rows = validated rows + rejected rows (nothing silently dropped)",
        "schema": "validated data conforms to the canonical contract (columns, types, row rules)",
        "reject_fraction": "share of raw rows quarantined stays under the threshold",
        "key_unique": f"key {KEYS[spec.canonical]} is unique in the validated rows",
        "null_rate": "null share of each optional column stays under the threshold",
        "volume": "row count is at least threshold x the median of the previous 7 partitions",
    }
    out = []
    for name in CHECKS:
        pol = policy(spec, name)
        if pol.severity == "off":
            continue
        out.append(
            dg.AssetCheckSpec(
                name=name, asset=asset_key, description=descriptions[name], blocking=pol.severity == "error"
            )
        )
    return out


def _severity(pol: CheckPolicy) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if pol.severity == "error" else dg.AssetCheckSeverity.WARN


def evaluate_checks(
    asset_key: dg.AssetKey,
    spec: DatasetSpec,
    outcome: ValidationOutcome,
    previous_row_counts: list[int],
) -> Iterator[dg.AssetCheckResult]:
    """Evaluate every enabled check on one partition's validation outcome."""
    valid = outcome.valid
    results: dict[str, tuple[bool, dict]] = {}
    results["reconciliation"] = (
        outcome.reconciles,
        {
            "raw_rows": outcome.raw_rows,
            "validated_rows": len(valid),
            "rejected_rows": len(outcome.rejected),
        },
    )
    results["schema"] = (
        not outcome.schema_errors,
        {"errors": dg.MetadataValue.json(outcome.schema_errors), "dropped_columns": outcome.dropped_columns},
    )
    threshold = policy(spec, "reject_fraction").threshold or 0.0
    results["reject_fraction"] = (
        outcome.reject_fraction <= threshold,
        {
            "reject_fraction": round(outcome.reject_fraction, 6),
            "threshold": threshold,
            "rules": dg.MetadataValue.json(outcome.rule_counts),
        },
    )
    dupes = key_duplicates(valid, spec.canonical)
    results["key_unique"] = (
        dupes == 0,
        {"duplicate_keys": dupes, "key": dg.MetadataValue.json(KEYS[spec.canonical])},
    )
    null_limit = policy(spec, "null_rate").threshold or 1.0
    rates = _null_rates(valid, spec.canonical)
    worst = max(rates.values(), default=0.0)
    results["null_rate"] = (
        worst <= null_limit,
        {"null_rates": dg.MetadataValue.json(rates), "threshold": null_limit},
    )
    vol = policy(spec, "volume").threshold or 0.0
    if previous_row_counts:
        median = statistics.median(previous_row_counts)
        ok = len(valid) >= vol * median
        results["volume"] = (ok, {"rows": len(valid), "median_previous": median, "threshold": vol})
    else:
        results["volume"] = (True, {"rows": len(valid), "note": "no previous partitions to compare"})
    for name in CHECKS:
        pol = policy(spec, name)
        if pol.severity == "off":
            continue
        passed, meta = results[name]
        yield dg.AssetCheckResult(
            asset_key=asset_key, check_name=name, passed=bool(passed), severity=_severity(pol), metadata=meta
        )


def _null_rates(frame: pd.DataFrame, canonical: str) -> dict[str, float]:
    if frame.empty:
        return {}
    required = set(REQUIRED[canonical])
    return {
        col: round(float(frame[col].isna().mean()), 6)
        for col in frame.columns
        if not col.startswith("_") and col not in required
    }
