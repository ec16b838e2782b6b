"""Quality checks of one validated partition, evaluated as plain data, with per-client severity and thresholds.

:func:`evaluate_checks` turns a validation outcome (or its :class:`OutcomeSummary`) and the partition's
:class:`CheckContext` into one :class:`CheckResult` per enabled check; the Dagster layer reports them as asset
checks on the validated asset (``retina_assets.defs.checks``), a notebook can print them. Policy per check
comes from the client spec (``quality:`` of a dataset, see :class:`~retina_assets.model.spec.QualityPolicy`):

* ``severity: error``: the check is *blocking*. A failure stops downstream features in the same run and in
  later runs, until the partition is re-validated.
* ``severity: warn``: reported only. ``severity: off``: the check is not evaluated (nor declared) at all.

=======================  ===============================  ===============================================
check                    policy field (YAML)              passes when
=======================  ===============================  ===============================================
reconciliation           reconciliation                   raw rows = validated rows + rejected rows
schema                   schema                           required columns present, types conform
reject_fraction          max_reject_fraction              rejected / raw rows <= threshold
key_unique               key_unique                       contract key unique among validated rows
null_rate                null_rate (+ ``columns:``)       null share of each optional column <= limit
volume                   volume                           raw rows >= threshold x median of last 7 drops
freshness                freshness_days                   days since the previous drop <= threshold
referential_integrity    referential_integrity            orphan share of each foreign key <= threshold
=======================  ===============================  ===============================================
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from retina_assets.model.contracts import FOREIGN_KEYS, KEYS, REQUIRED
from retina_assets.model.naming import RAW, VALIDATED
from retina_assets.model.spec import CheckPolicy, ClientSpec, DatasetSpec
from retina_assets.quality.validation import ValidationOutcome, key_duplicates
from retina_assets.storage.versioned_store import VersionedStore

VOLUME_LOOKBACK = 7

CHECKS = (
    "reconciliation",
    "schema",
    "reject_fraction",
    "key_unique",
    "null_rate",
    "volume",
    "freshness",
    "referential_integrity",
)
_POLICY_FIELD = {
    "reject_fraction": "max_reject_fraction",
    "schema": "schema_conformance",
    "freshness": "freshness_days",
}
DESCRIPTIONS = {
    "reconciliation": "raw rows = validated rows + rejected rows (nothing silently dropped)",
    "schema": "the partition conforms to the canonical contract (required columns present, types)",
    "reject_fraction": "share of raw rows quarantined stays under the threshold",
    "key_unique": "the contract key is unique among the validated rows",
    "null_rate": "null share of each optional column stays under its limit",
    "volume": "raw row count is at least threshold x the median of the previous 7 partitions",
    "freshness": "days since the previous drop stay under the threshold (late or missing drops)",
    "referential_integrity": "share of foreign keys with no match in the referenced dataset under threshold",
}


@dataclass(frozen=True)
class Reference:
    """The keys of a referenced dataset (e.g. the client's validated customers) for one foreign key."""

    column: str
    dataset: str
    partition: str | None  # the partition the keys come from; None = no data yet
    keys: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CheckContext:
    """What the checks need besides the partition's own data: its neighbours and references."""

    partition: str
    previous_row_counts: list[int] = field(default_factory=list)
    previous_partition: str | None = None
    references: list[Reference] = field(default_factory=list)


def policy(spec: DatasetSpec, check: str) -> CheckPolicy:
    """The client's policy (severity, threshold) for one check of one dataset."""
    return getattr(spec.quality, _POLICY_FIELD.get(check, check))


def enabled_checks(spec: DatasetSpec, has_references: bool) -> list[str]:
    """The checks declared for a dataset: policy not ``off``; referential integrity only with references."""
    out = []
    for name in CHECKS:
        if policy(spec, name).severity == "off":
            continue
        if name == "referential_integrity" and not has_references:
            continue
        out.append(name)
    return out


@dataclass(frozen=True)
class CheckResult:
    """The result of one check on one partition: plain data (metadata values are JSON-able)."""

    name: str
    passed: bool
    severity: str  # the client's policy: "error" (blocking) or "warn"
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity == "error"


def reference_datasets(client: ClientSpec, spec: DatasetSpec) -> dict[str, str]:
    """Foreign-key column -> the client's dataset that holds the referenced keys (only those it sends)."""
    out = {}
    for column, canonical in FOREIGN_KEYS.get(spec.canonical, {}).items():
        names = client.datasets_for(canonical)
        if names:
            out[column] = names[0]
    return out


def check_context(
    store: VersionedStore, client: ClientSpec, dataset: str, spec: DatasetSpec, partition: str
) -> CheckContext:
    """Look up, in the lake's version records, what the checks compare a partition with: the row counts of
    the previous raw partitions, the previous partition, and the keys of referenced datasets."""
    earlier = [p for p in store.partitions(RAW, client.client, dataset) if p < partition]
    counts = []
    for key in earlier[-VOLUME_LOOKBACK:]:
        current = store.current(RAW, client.client, dataset, key)
        if current is not None:
            counts.append(current.row_count)
    references = []
    # the referenced key column has the foreign key's name (customers.customer_id, products.product_id)
    for column, ref_dataset in reference_datasets(client, spec).items():
        parts = [p for p in store.partitions(VALIDATED, client.client, ref_dataset) if p <= partition]
        if not parts:
            references.append(Reference(column, ref_dataset, None))
            continue
        current = store.current(VALIDATED, client.client, ref_dataset, parts[-1])
        assert current is not None
        table = store.read_version(current, columns=[column])
        keys = frozenset(str(v) for v in pc.unique(table.column(column)).to_pylist() if v is not None)
        references.append(Reference(column, ref_dataset, parts[-1], keys))
    return CheckContext(
        partition=partition,
        previous_row_counts=counts,
        previous_partition=earlier[-1] if earlier else None,
        references=references,
    )


@dataclass
class ForeignKeyStats:
    """One foreign-key column of the validated rows against its reference keys."""

    values: int = 0  # non-null values
    orphans: int = 0  # values with no match in the reference
    examples: list[str] = field(default_factory=list)  # the smallest orphan values, sorted, at most 5


@dataclass
class OutcomeSummary:
    """What the checks need from a validation outcome: counts and per-column statistics of the validated
    rows. Built from whole frames (:meth:`of`) or added up bucket by bucket (:meth:`merge`) for partitions
    validated in pieces; both give the same figures."""

    raw_rows: int
    validated_rows: int
    rejected_rows: int
    rule_counts: dict[str, int]
    schema_errors: list[str]
    dropped_columns: list[str]
    null_counts: dict[str, int]  # optional data columns of the validated rows
    key_duplicates: int
    foreign_keys: dict[str, ForeignKeyStats]

    @classmethod
    def of(cls, outcome: ValidationOutcome, spec: DatasetSpec, ctx: CheckContext) -> OutcomeSummary:
        return cls.of_rows(
            outcome.valid_table,
            spec,
            ctx,
            raw_rows=outcome.raw_rows,
            rejected_rows=outcome.rejected_table.num_rows,
            rule_counts=outcome.rule_counts,
            schema_errors=outcome.schema_errors,
            dropped_columns=outcome.dropped_columns,
            key_duplicates=key_duplicates(outcome.valid_table, spec.canonical),
        )

    @classmethod
    def of_rows(
        cls,
        valid: pa.Table,
        spec: DatasetSpec,
        ctx: CheckContext,
        *,
        raw_rows: int,
        rejected_rows: int,
        rule_counts: dict[str, int],
        schema_errors: list[str],
        dropped_columns: list[str],
        key_duplicates: int,
    ) -> OutcomeSummary:
        """The summary of validated rows ``valid`` (all of a partition's, or one window's to :meth:`merge`)."""
        required = set(REQUIRED[spec.canonical])
        foreign: dict[str, ForeignKeyStats] = {}
        for ref in ctx.references:
            if ref.column not in valid.column_names:
                continue
            column = valid.column(ref.column)
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                column = pa.chunked_array([pa.array(column.to_pandas().dropna().astype(str), pa.string())])
            values = pc.drop_null(column)
            if ref.partition is not None:
                orphans = pc.filter(
                    values, pc.invert(pc.is_in(values, pa.array(sorted(ref.keys), pa.string())))
                )
            else:
                orphans = values.slice(0, 0)
            examples = sorted(pc.unique(orphans).to_pylist())[:5]
            foreign[ref.column] = ForeignKeyStats(len(values), len(orphans), examples)
        return cls(
            raw_rows=raw_rows,
            validated_rows=valid.num_rows,
            rejected_rows=rejected_rows,
            rule_counts=dict(rule_counts),
            schema_errors=list(schema_errors),
            dropped_columns=list(dropped_columns),
            null_counts={
                col: int(valid.column(col).null_count)
                for col in valid.column_names
                if not col.startswith("_") and col not in required
            },
            key_duplicates=key_duplicates,
            foreign_keys=foreign,
        )

    @classmethod
    def merge(cls, parts: list[OutcomeSummary]) -> OutcomeSummary:
        """The summary of a partition validated in buckets that split rows by their contract key (so a key's
        repeats are always in one bucket and key duplicates add up)."""
        counts: dict[str, int] = {}
        nulls: dict[str, int] = {}
        foreign: dict[str, ForeignKeyStats] = {}
        for part in parts:
            for code, hits in part.rule_counts.items():
                counts[code] = counts.get(code, 0) + hits
            for col, hits in part.null_counts.items():
                nulls[col] = nulls.get(col, 0) + hits
            for col, stats in part.foreign_keys.items():
                total = foreign.setdefault(col, ForeignKeyStats())
                total.values += stats.values
                total.orphans += stats.orphans
                total.examples = sorted({*total.examples, *stats.examples})[:5]
        return cls(
            raw_rows=sum(p.raw_rows for p in parts),
            validated_rows=sum(p.validated_rows for p in parts),
            rejected_rows=sum(p.rejected_rows for p in parts),
            rule_counts=dict(sorted(counts.items())),
            schema_errors=list(dict.fromkeys(e for p in parts for e in p.schema_errors)),
            dropped_columns=parts[0].dropped_columns if parts else [],
            null_counts=nulls,
            key_duplicates=sum(p.key_duplicates for p in parts),
            foreign_keys=foreign,
        )

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-able values (e.g. sent from a Spark task to the driver)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OutcomeSummary:
        """The summary :meth:`to_dict` gave."""
        foreign = {col: ForeignKeyStats(**stats) for col, stats in values["foreign_keys"].items()}
        return cls(**{**values, "foreign_keys": foreign})

    @property
    def reconciles(self) -> bool:
        return self.raw_rows == self.validated_rows + self.rejected_rows

    @property
    def reject_fraction(self) -> float:
        return self.rejected_rows / self.raw_rows if self.raw_rows else 0.0


def evaluate_checks(
    spec: DatasetSpec, outcome: ValidationOutcome | OutcomeSummary, ctx: CheckContext
) -> list[CheckResult]:
    """Evaluate every enabled check on one partition's validation outcome (see the module table)."""
    summary = outcome if isinstance(outcome, OutcomeSummary) else OutcomeSummary.of(outcome, spec, ctx)
    results: dict[str, tuple[bool, dict]] = {}
    results["reconciliation"] = (
        summary.reconciles,
        {
            "raw_rows": summary.raw_rows,
            "validated_rows": summary.validated_rows,
            "rejected_rows": summary.rejected_rows,
        },
    )
    results["schema"] = (
        not summary.schema_errors,
        {"errors": (summary.schema_errors), "dropped_columns": summary.dropped_columns},
    )
    threshold = _threshold(spec, "reject_fraction", 0.0)
    results["reject_fraction"] = (
        summary.reject_fraction <= threshold,
        {
            "reject_fraction": round(summary.reject_fraction, 6),
            "threshold": threshold,
            "rejected_rows": summary.rejected_rows,
            "rules": (summary.rule_counts),
        },
    )
    dupes = summary.key_duplicates
    results["key_unique"] = (
        dupes == 0,
        {"duplicate_keys": dupes, "key": (KEYS[spec.canonical])},
    )
    results["null_rate"] = _null_rate(summary, spec)
    results["volume"] = _volume(summary.raw_rows, spec, ctx)
    results["freshness"] = _freshness(spec, ctx)
    results["referential_integrity"] = _referential_integrity(summary, spec, ctx)
    out = []
    for name in enabled_checks(spec, bool(ctx.references)):
        pol = policy(spec, name)
        passed, meta = results[name]
        out.append(CheckResult(name, bool(passed), pol.severity, {"severity_policy": pol.severity, **meta}))
    return out


def failed_blocking(results: list[CheckResult]) -> list[str]:
    """Names of the blocking (``error``) checks that failed."""
    return [r.name for r in results if r.blocking and not r.passed]


def _threshold(spec: DatasetSpec, check: str, default: float) -> float:
    value = policy(spec, check).threshold
    return default if value is None else float(value)


def _null_rate(summary: OutcomeSummary, spec: DatasetSpec) -> tuple[bool, dict]:
    pol = policy(spec, "null_rate")
    default = 1.0 if pol.threshold is None else float(pol.threshold)
    rows = summary.validated_rows
    rates = {
        col: round(float(nulls / rows), 6) if rows else 0.0 for col, nulls in summary.null_counts.items()
    }
    limits = {col: float(pol.columns.get(col, default)) for col in rates}
    over = {col: rate for col, rate in rates.items() if rate > limits[col]}
    return not over, {
        "null_rates": (rates),
        "limits": (limits),
        "over_limit": (over),
    }


def _volume(raw_rows: int, spec: DatasetSpec, ctx: CheckContext) -> tuple[bool, dict]:
    factor = _threshold(spec, "volume", 0.0)
    if not ctx.previous_row_counts:
        return True, {"raw_rows": raw_rows, "note": "no previous partitions to compare"}
    median = statistics.median(ctx.previous_row_counts)
    return raw_rows >= factor * median, {
        "raw_rows": raw_rows,
        "median_previous": float(median),
        "previous_row_counts": (ctx.previous_row_counts),
        "threshold": factor,
        "fraction_of_usual": round(raw_rows / median, 4) if median else None,
    }


def _freshness(spec: DatasetSpec, ctx: CheckContext) -> tuple[bool, dict]:
    limit = _threshold(spec, "freshness", 3.0)
    if ctx.previous_partition is None:
        return True, {"note": "first partition: nothing to compare", "threshold_days": limit}
    this = date.fromisoformat(ctx.partition)
    gap = (this - date.fromisoformat(ctx.previous_partition)).days
    return gap <= limit, {
        "days_since_previous_drop": gap,
        "days_before_today": (date.today() - this).days,
        "previous_partition": ctx.previous_partition,
        "threshold_days": limit,
    }


def _referential_integrity(
    summary: OutcomeSummary, spec: DatasetSpec, ctx: CheckContext
) -> tuple[bool, dict]:
    limit = _threshold(spec, "referential_integrity", 0.0)
    details: dict[str, dict] = {}
    passed = True
    for ref in ctx.references:
        stats = summary.foreign_keys.get(ref.column)
        if stats is None:
            continue
        if ref.partition is None:
            passed = False
            details[ref.column] = {
                "dataset": ref.dataset,
                "problem": "no validated partition to compare with",
            }
            continue
        fraction = stats.orphans / stats.values if stats.values else 0.0
        passed &= fraction <= limit
        details[ref.column] = {
            "dataset": ref.dataset,
            "reference_partition": ref.partition,
            "orphan_rows": stats.orphans,
            "orphan_fraction": round(fraction, 6),
            "examples": stats.examples,
        }
    return passed, {"references": (details), "threshold": limit}
