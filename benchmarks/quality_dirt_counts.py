"""Measure how the demo client's rules treat the Online Retail dirt, on the full file, one day at a time.

Builds each day's raw frame as the raw stage types it (client column names, declared types, lineage
columns), runs :func:`~retina_assets.quality.validation.validate_dataset` with the demo spec, and prints
the dirt in the source next to the rule codes and outcomes (the table in ``docs/data-quality.md``).

Usage::

    .venv/bin/python -m benchmarks.quality_dirt_counts [--source online_retail.csv.gz]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import pandas as pd

from retina_assets.demo import FULL
from retina_assets.model.naming import RAW_ERRORS, REJECT_RULES, SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import load_client_spec
from retina_assets.quality.checks import CheckContext, evaluate_checks
from retina_assets.quality.validation import validate_dataset
from retina_assets.settings import REPO_ROOT


def raw_frame(source: Path) -> pd.DataFrame:
    """The full file typed like the demo client's raw stage (``CustomerID`` as a string id)."""
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    frame["Quantity"] = frame["Quantity"].astype("int64")
    frame["UnitPrice"] = frame["UnitPrice"].astype("float64")
    frame["InvoiceDate"] = pd.to_datetime(frame["InvoiceDate"]).astype("datetime64[us]")
    frame[SOURCE_FILE] = "orders_" + frame["InvoiceDate"].dt.strftime("%Y%m%d") + ".csv"
    frame[SOURCE_ROW] = frame.groupby(SOURCE_FILE).cumcount()
    frame[RAW_ERRORS] = None
    return frame


def source_dirt(frame: pd.DataFrame, rules: dict) -> dict[str, int]:
    """Dirt counted directly in the source, independently of the validation code."""
    inv, code = frame["InvoiceNo"], frame["StockCode"]
    non_product = code.isin(rules["non_product_codes"])
    for pattern in rules["non_product_code_patterns"]:
        non_product |= code.str.contains(pattern, regex=True)
    data_cols = [c for c in frame.columns if not c.startswith("_")]
    return {
        "rows": len(frame),
        "customer_id missing": int(frame["CustomerID"].isna().sum()),
        "description missing": int(frame["Description"].isna().sum()),
        "cancellation lines (InvoiceNo C...)": int(inv.str.startswith("C").sum()),
        "negative quantity": int((frame["Quantity"] < 0).sum()),
        "negative quantity, not a cancellation": int(
            ((frame["Quantity"] < 0) & ~inv.str.startswith("C")).sum()
        ),
        "unit price < 0": int((frame["UnitPrice"] < 0).sum()),
        "unit price = 0": int((frame["UnitPrice"] == 0).sum()),
        "bad-debt adjustments (InvoiceNo A...)": int(inv.str.startswith("A").sum()),
        "exact duplicate lines": int(frame.duplicated(subset=data_cols).sum()),
        "non-product stock codes": int(non_product.sum()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=FULL)
    args = parser.parse_args(argv)
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    frame = raw_frame(args.source)
    print(json.dumps(source_dirt(frame, dict(spec.quality.rules)), indent=1))
    started = time.perf_counter()
    rules: Counter[str] = Counter()
    combos: Counter[str] = Counter()
    totals = Counter()
    fractions = []
    null_rates: dict[str, list[float]] = {}
    non_product_valid = 0
    cancellations_valid = 0
    missing_customer_valid = 0
    check_failures: Counter[str] = Counter()
    failed_days: dict[str, list[str]] = {}
    history: list[tuple[str, int]] = []
    for name, day in frame.groupby(SOURCE_FILE, sort=True):
        outcome = validate_dataset(day.reset_index(drop=True), spec)
        partition = f"{name[7:11]}-{name[11:13]}-{name[13:15]}"
        ctx = CheckContext(
            partition=partition,
            previous_row_counts=[n for _, n in history[-7:]],
            previous_partition=history[-1][0] if history else None,
        )
        history.append((partition, outcome.raw_rows))
        for result in evaluate_checks(spec, outcome, ctx):
            if not result.passed:
                check_failures[result.name] += 1
                failed_days.setdefault(result.name, []).append(partition)
        assert outcome.reconciles
        rules.update(outcome.rule_counts)
        combos.update(outcome.rejected[REJECT_RULES])
        totals.update(raw=outcome.raw_rows, valid=len(outcome.valid), rejected=len(outcome.rejected))
        fractions.append(outcome.reject_fraction)
        for col in ("customer_id", "description", "country"):
            null_rates.setdefault(col, []).append(float(outcome.valid[col].isna().mean()))
        non_product_valid += int((~outcome.valid["is_product"]).sum())
        cancellations_valid += int(outcome.valid["is_cancellation"].sum())
        missing_customer_valid += int(outcome.valid["customer_id"].isna().sum())
    print(f"validated {len(fractions)} daily partitions in {time.perf_counter() - started:.1f} s")
    print("totals", dict(totals))
    print("rows per rule (a row may break several)", dict(rules.most_common()))
    print("rejected rows per rule combination", dict(combos.most_common()))
    print(
        f"kept in validated: non-product lines {non_product_valid}, cancellation lines {cancellations_valid}, "
        f"lines without customer {missing_customer_valid}"
    )
    print("days failing each check:", dict(check_failures))
    for check, days in failed_days.items():
        print(f"  {check}: {days[:12]}{' ...' if len(days) > 12 else ''}")
    fr = pd.Series(fractions)
    print(
        f"daily reject fraction: median {fr.median():.4f}, max {fr.max():.4f}, days > 0.10: {(fr > 0.10).sum()}"
    )


if __name__ == "__main__":
    main()
