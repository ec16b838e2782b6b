"""Validation on Spark: the same contracts, rules and rule codes as the in-process path, as Spark columns.

For clients with ``engine: spark`` the raw version is read by Spark and split there; nothing is pulled
through pandas until the (one day, one client) results are collected to be written as lake versions.

* Dataset level (``schema`` check): pandera's ``pyspark.sql`` backend on the canonical contract, schema
  only (column presence and types; ``TimestampType`` and ``TimestampNTZType`` both count as timestamps).
* Row level: every rule of :mod:`retina_assets.quality.validation` and every row rule of the contract
  (:class:`~retina_assets.quality.contracts.FieldRule`) becomes a boolean Spark column; the codes of the
  rules a row breaks are collected into ``_reject_rules`` and their messages into ``_reject_reasons``.
  Null values pass value rules (as in pandera); ``relax`` codes are skipped.

Guarantee, as in-process: each raw row is in exactly one of ``valid`` and ``rejected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from retina_assets.clients.spec import DatasetSpec
from retina_assets.ingestion.coercion import RAW_ERRORS, SOURCE_FILE, SOURCE_ROW
from retina_assets.quality import validation as v
from retina_assets.quality.contracts import KEYS, REQUIRED, contract_for, fields_for, restore_types


@dataclass
class SparkValidation:
    """Valid and rejected rows as Spark DataFrames, with the counts the checks need."""

    valid: Any
    rejected: Any
    raw_rows: int
    rule_counts: dict[str, int] = field(default_factory=dict)
    schema_errors: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)
    canonical: str = "orders"

    def to_outcome(self) -> v.ValidationOutcome:
        """Collect both sides (Arrow) into the in-process :class:`ValidationOutcome`."""
        return v.ValidationOutcome(
            valid=restore_types(_to_pandas(self.valid), self.canonical),
            rejected=restore_types(_to_pandas(self.rejected), self.canonical),
            raw_rows=self.raw_rows,
            rule_counts=self.rule_counts,
            schema_errors=self.schema_errors,
            dropped_columns=self.dropped_columns,
        )


def _to_pandas(frame: Any) -> pd.DataFrame:
    return frame.toArrow().to_pandas()


def schema_errors_pyspark(frame: Any, canonical: str) -> list[str]:
    """Dataset-level contract failures found by pandera's pyspark backend (presence and types only)."""
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


def validate_spark(spark: Any, raw: Any, spec: DatasetSpec) -> SparkValidation:
    """Split a raw Spark DataFrame into validated and rejected rows (see the module docstring)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    del spark  # the DataFrame carries its session
    canonical = spec.canonical
    rules = dict(spec.quality.rules)
    relaxed = set(map(str, rules.get("relax", [])))
    renames = {c: spec.canonical_name(c) for c in spec.columns if c in raw.columns}
    lineage = [c for c in (SOURCE_FILE, SOURCE_ROW, RAW_ERRORS) if c in raw.columns]
    dropped = [c for c in raw.columns if c not in renames and c not in lineage]
    frame = raw.select(*[F.col(f"`{c}`").alias(n) for c, n in renames.items()], *lineage)
    missing = [c for c in REQUIRED[canonical] if c not in frame.columns]
    schema_errors = [f"required column {c!r} is missing" for c in missing]
    checks: list[tuple[str, Any, Any]] = []  # (code, fails, message)

    if RAW_ERRORS in frame.columns:
        checks.append((v.UNPARSEABLE, F.col(RAW_ERRORS).isNotNull(), F.col(RAW_ERRORS)))
    if not missing:
        schema_errors += schema_errors_pyspark(frame, canonical)
    if not schema_errors:  # row rules need the contract's types (else the ``schema`` check fails)
        if canonical == "orders":
            frame, order_checks = _orders_rules(frame, rules)
            checks += order_checks
        mode = rules.get("reject_duplicates")
        if mode:
            data_cols = [c for c in frame.columns if not c.startswith("_")]
            cols = [k for k in KEYS[canonical] if k in frame.columns] if mode == "key" else data_cols
            order = Window.partitionBy(*[F.col(c) for c in cols]).orderBy(SOURCE_FILE, SOURCE_ROW)
            code, text = (
                (v.DUPLICATE_KEY, "repeats the key of an earlier row")
                if mode == "key"
                else (
                    v.DUPLICATE,
                    "exact duplicate of an earlier row",
                )
            )
            checks.append((code, F.row_number().over(order) > 1, F.lit(text)))
        checks += _contract_checks(frame, canonical)

    checks = [(code, fails, msg) for code, fails, msg in checks if code not in relaxed]
    codes = F.filter(
        F.array(*[F.when(F.coalesce(f, F.lit(False)), F.lit(c)) for c, f, _ in checks]),
        lambda x: x.isNotNull(),
    )
    reasons = F.filter(
        F.array(*[F.when(F.coalesce(f, F.lit(False)), m) for _, f, m in checks]), lambda x: x.isNotNull()
    )
    if not checks:
        codes = reasons = F.array().cast("array<string>")
    marked = frame.withColumn("__codes", codes).withColumn("__reasons", reasons).cache()
    counts = {
        r["code"]: int(r["n"])
        for r in marked.select(F.explode("__codes").alias("code"))
        .groupBy("code")
        .agg(F.count("*").alias("n"))
        .collect()
    }
    raw_rows = marked.count()
    bad = F.size("__codes") > 0
    rejected = (
        marked.filter(bad)
        .withColumn(v.REJECT_RULES, F.concat_ws(",", "__codes"))
        .withColumn(v.REJECT_REASONS, F.concat_ws("; ", "__reasons"))
        .drop("__codes", "__reasons", RAW_ERRORS)
        .orderBy(SOURCE_FILE, SOURCE_ROW)
    )
    valid = marked.filter(~bad).drop("__codes", "__reasons", RAW_ERRORS).orderBy(SOURCE_FILE, SOURCE_ROW)
    return SparkValidation(
        valid, rejected, raw_rows, dict(sorted(counts.items())), schema_errors, dropped, canonical
    )


def _orders_rules(frame: Any, rules: dict[str, Any]) -> tuple[Any, list[tuple[str, Any, Any]]]:
    from pyspark.sql import functions as F

    order_id, product_id, qty = (
        F.coalesce(F.col("order_id"), F.lit("")),
        F.col("product_id"),
        F.col("quantity"),
    )
    prefix = rules.get("cancellation_prefix")
    is_cancel = order_id.startswith(prefix) if prefix else F.lit(False)
    non_product = product_id.isin([str(c) for c in rules.get("non_product_codes", [])])
    for pattern in rules.get("non_product_code_patterns", []):
        non_product = non_product | product_id.rlike(pattern)
    frame = (
        frame.withColumn("is_cancellation", is_cancel)
        .withColumn("is_product", ~F.coalesce(non_product, F.lit(False)))
        .withColumn("line_amount", qty.cast("double") * F.col("unit_price").cast("double"))
    )
    checks: list[tuple[str, Any, Any]] = []
    for pref in rules.get("non_sale_prefixes", []):
        checks.append(
            (v.NON_SALE, order_id.startswith(pref), F.lit(f"order id starts with {pref!r}: not a sale"))
        )
    if prefix:
        checks.append(
            (v.NEG_QTY, (qty < 0) & ~F.col("is_cancellation"), F.lit("negative quantity, not a cancellation"))
        )
        checks.append(
            (
                v.CANCEL_POS,
                (qty > 0) & F.col("is_cancellation"),
                F.lit("cancellation line with a positive quantity"),
            )
        )
    if rules.get("reject_zero_price"):
        checks.append((v.ZERO_PRICE, F.col("unit_price") == 0, F.lit("unit price is 0")))
    return frame, checks


def _contract_checks(frame: Any, canonical: str) -> list[tuple[str, Any, Any]]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    checks: list[tuple[str, Any, Any]] = []
    for f in fields_for(canonical):
        if f.name not in frame.columns:
            continue
        c = F.col(f.name)

        def msg(rule: str, column: Any = c, name: str = f.name) -> Any:
            return F.concat(
                F.lit(f"{name}="), F.coalesce(column.cast("string"), F.lit("None")), F.lit(f" fails {rule}")
            )

        if not f.nullable:
            checks.append((f"{f.name}.not_null", c.isNull(), msg("not_null")))
        for rule, p in f.row_rules():
            if rule in ("non_negative", "min"):
                fails = c < p["ge"]
            elif rule in ("non_zero", "not_equal"):
                fails = c == p["ne"]
            elif rule in ("plausible_range", "plausible_date"):
                fails = (c < F.lit(p["min"])) | (c > F.lit(p["max"]))
            elif rule == "allowed_values":
                fails = ~c.isin(p["isin"])
            elif rule == "length":
                fails = (F.length(c) < p["min"]) | (F.length(c) > p["max"])
            else:  # pattern
                fails = ~c.rlike(f"^(?:{p['pattern']})$")
            checks.append((f"{f.name}.{rule}", c.isNotNull() & fails, msg(rule)))
        if f.unique:
            dupes = F.count(F.lit(1)).over(Window.partitionBy(f.name)) > 1
            checks.append((f"{f.name}.unique", c.isNotNull() & dupes, msg("unique")))
    return checks
