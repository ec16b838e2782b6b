"""Validation on Spark: the same rows, codes, reasons and check figures as in-process validation, written by
the executors; the driver never holds the data.

How it stays identical to the in-process engine
(:func:`~retina_assets.quality.validation.validate_table` and its bounded twin
:func:`~retina_assets.quality.bucketed_validation.validate_in_buckets`):

* **One plan.** The driver makes the partition's :class:`~retina_assets.quality.validation.ValidationPlan`
  from small facts Spark computes: which integer/boolean columns hold a null (one aggregate row) and, only
  when a raw column's type differs from the contract's, pandera's verdict on the distinct values of those
  columns in drop order.
* **Cross-row rules in Spark.** "Repeats an earlier row" (``duplicate_row``/``duplicate_key``) is a
  ``row_number`` over the compared columns in drop order (``_source_file``, ``_source_row``); "shares its
  value" (``<column>.unique``) a count over the column. They compare the values as the in-process engine
  stores them (a float NaN is a null), and become flag columns.
* **Row rules in the Python workers.** Each Spark task gets whole parts of the layout below, in drop order,
  and hands them a window at a time (:data:`~retina_assets.engines.spark_writer.WINDOW_ROWS` rows) with their
  flags to the in-process :func:`~retina_assets.quality.validation.split_window`: rule codes and reasons come
  from one implementation.

Layout and writing (:func:`~retina_assets.engines.spark_writer.write_split_parts`): rows are split into
``ceil(raw rows / BUCKET_ROWS)`` parts by a hash of the contract key (so a key's rows, which the cross-row
rules and the ``key_unique`` check compare, share a part), sorted by lineage within a part, and one pass
writes the validated and the rejected part of each part index from the executors. Each window also yields
its check figures (:class:`~retina_assets.quality.checks.OutcomeSummary`, a few hundred bytes), which the
driver adds up; ``key_unique`` counts the repeated keys of the validated parts with one Spark aggregate.

What reaches the driver: the plan's facts, part names and hashes, and the per-window figures. Memory in a
Python worker is one window (the outputs are spooled to the executor's disk), whatever the partition's size
or key skew; the JVM sorts and windows spill to disk. Spark Connect servers and clusters need
``retina_assets`` installed on their Python workers and the lake on storage every executor reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from retina_assets.engines.spark import functions_for, to_arrow, window_for
from retina_assets.engines.spark_writer import (
    PART_COLUMN,
    SplitParts,
    lay_out,
    parts_for_rows,
    write_split_parts,
)
from retina_assets.model.naming import SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import DatasetSpec
from retina_assets.quality.bucketed_validation import BUCKET_ROWS, bucket_columns, window_summary
from retina_assets.quality.checks import CheckContext, OutcomeSummary
from retina_assets.quality.validation import (
    ValidationPlan,
    cross_row_groups,
    plan_columns_as_pandas,
    split_window,
)
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import StagedVersion, VersionedStore

FLAG_PREFIX = "_retina_flag_"
FIRST_SEEN = "_retina_first_seen"


@dataclass
class SparkValidation:
    """The validated and rejected versions as staged parts (commit them, e.g. by returning them from the
    asset), the partition's check figures, and the number of parts; :meth:`discard` removes what was not
    committed."""

    valid: StagedVersion
    rejected: StagedVersion
    summary: OutcomeSummary
    parts: int
    written: SplitParts

    def discard(self) -> None:
        self.written.discard()


def _compared(F: Any, raw_schema: pa.Schema, source: str) -> Any:  # noqa: N803
    """A raw column as the in-process engine compares it: a float NaN equals a null (both stored as null)."""
    column = F.col(f"`{source}`")
    if pa.types.is_floating(raw_schema.field(source).type):
        return F.when(F.isnan(column), F.lit(None)).otherwise(column)
    return column


def _plan(frame: Any, F: Any, raw_schema: pa.Schema, spec: DatasetSpec) -> ValidationPlan:  # noqa: N803
    """The partition's plan from small facts Spark computes: the integer/boolean columns holding a null, and
    pandera's verdict on columns whose type differs from the contract's, judged on their distinct values in
    order of first appearance (the verdict and its messages depend only on those)."""
    typed = [f.name for f in raw_schema if pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)]
    nulls: list[str] = []
    if typed:
        counts = frame.select(
            *[F.sum(F.col(f"`{c}`").isNull().cast("long")).alias(f"n{i}") for i, c in enumerate(typed)]
        ).collect()[0]
        nulls = [c for i, c in enumerate(typed) if (counts[f"n{i}"] or 0) > 0]
    plan = ValidationPlan(spec, raw_schema, nulls)
    if plan.unsure and not plan.schema_errors:
        sources = [s for s in plan.sources if plan.names[s] in plan.unsure]
        distinct = (
            frame.groupBy(*[F.col(f"`{c}`") for c in sources])
            .agg(F.min(F.struct(F.col(SOURCE_FILE), F.col(SOURCE_ROW))).alias(FIRST_SEEN))
            .orderBy(FIRST_SEEN)
            .drop(FIRST_SEEN)
        )
        columns = to_arrow(distinct, raw_schema_of(raw_schema, sources))
        plan.judge_types(plan_columns_as_pandas(plan, columns, plan.unsure))
    return plan


def raw_schema_of(raw_schema: pa.Schema, names: list[str]) -> pa.Schema:
    """The fields ``names`` of ``raw_schema``, in that order."""
    return pa.schema([raw_schema.field(n) for n in names])


def _as_raw(window: pa.Table, schema: pa.Schema) -> pa.Table:
    """The rows Spark gives, in the raw version's Arrow types (Spark reads an all-null column as another
    type: it comes back as nulls)."""
    columns = [
        pa.nulls(window.num_rows) if pa.types.is_null(f.type) else window.column(f.name).cast(f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _splitter(
    plan: ValidationPlan,
    spec: DatasetSpec,
    ctx: CheckContext,
    raw_schema: pa.Schema,
    flags: Mapping[str, str],
) -> Callable[[pa.Table], tuple[dict[str, pa.Table], dict[str, Any]]]:
    """The function the executors run on each window of a part (pickled to the Python workers): the
    in-process split of the rows into validated and rejected, and the window's check figures."""
    schema = raw_schema_of(raw_schema, plan.sources)

    def split(window: pa.Table) -> tuple[dict[str, pa.Table], dict[str, Any]]:
        rows = _as_raw(window, schema)
        hits = {group: window.column(col).to_numpy(zero_copy_only=False) for col, group in flags.items()}
        result = split_window(plan, rows, hits)
        figures = window_summary(plan, result, spec, ctx, rows.num_rows)
        return {"valid": result.valid, "rejected": result.rejected}, figures.to_dict()

    return split


def validate_on_spark(
    spark: Any,
    raw: DatasetRef,
    spec: DatasetSpec,
    ctx: CheckContext,
    store: VersionedStore,
    bucket_rows: int = BUCKET_ROWS,
) -> SparkValidation:
    """Validate the raw version ``raw`` on Spark into validated and rejected versions staged in ``store``'s
    lake by the executors (see the module docstring); the check figures are those of the in-process engine.

    Rows are laid out in ``ceil(raw rows / bucket_rows)`` parts (the raw row count comes from the version's
    Parquet footers). The raw version must carry its lineage (``_source_file``, ``_source_row``), which
    orders the rows as the drop did.
    """
    raw_schema = raw.to_arrow_schema()
    missing = [c for c in (SOURCE_FILE, SOURCE_ROW) if c not in raw_schema.names]
    if missing:
        raise ValueError(
            f"{raw.uri}: Spark validation orders rows by their lineage; the version lacks {missing}"
        )
    raw_rows = raw.footer_row_count()
    frame = raw.to_spark(spark)
    F = functions_for(frame)  # noqa: N806
    Window = window_for(frame)  # noqa: N806
    plan = _plan(frame, F, raw_schema, spec)
    parts = parts_for_rows(raw_rows, bucket_rows)
    source_of = {name: source for source, name in plan.names.items()}
    bucketed = bucket_columns(raw_schema.names, spec)
    in_part = {plan.names[s] for s in bucketed if s in plan.names}
    groups = cross_row_groups(plan)
    flags = {f"{FLAG_PREFIX}{i}": name for i, name in enumerate(groups)}
    drop_order = [F.col(SOURCE_FILE), F.col(SOURCE_ROW)]

    def flag(name: str, by: list[Any]) -> Any:
        window = Window.partitionBy(*by)
        if name == "duplicate":
            return F.row_number().over(window.orderBy(*drop_order)) > 1
        return F.count(F.lit(1)).over(window) > 1

    # groups comparing a part's own rows (they include the layout's key) are computed after the layout,
    # within the parts; the others (a unique column outside the key) before it, over the whole partition
    local = {col: name for col, name in flags.items() if in_part and in_part <= set(groups[name])}
    for col, name in flags.items():
        if col not in local:
            frame = frame.withColumn(
                col, flag(name, [_compared(F, raw_schema, source_of[c]) for c in groups[name]])
            )
    laid_out = lay_out(frame, [_compared(F, raw_schema, s) for s in bucketed], parts)
    for col, name in local.items():
        by = [F.col(PART_COLUMN), *[_compared(F, raw_schema, source_of[c]) for c in groups[name]]]
        laid_out = laid_out.withColumn(col, flag(name, by))
    no_rows = raw_schema.empty_table().select(plan.sources)
    empty = split_window(plan, no_rows, {name: np.zeros(0, dtype=bool) for name in groups})
    outputs = {"valid": empty.valid.schema, "rejected": empty.rejected.schema}
    written = write_split_parts(
        laid_out,
        store.lake_uri,
        [*plan.sources, *flags],
        outputs,
        _splitter(plan, spec, ctx, raw_schema, flags),
        sort_columns=[SOURCE_FILE, SOURCE_ROW],
        storage_options=store.fs.storage_options,
    )
    try:
        figures = [OutcomeSummary.from_dict(note) for note in written.notes]
        summary = OutcomeSummary.merge(figures or [window_summary(plan, empty, spec, ctx, 0)])
        summary.rule_counts = dict(sorted(summary.rule_counts.items()))
        summary.schema_errors = list(plan.schema_errors)
        summary.dropped_columns = list(plan.dropped_columns)
        summary.key_duplicates = _key_duplicates(
            spark, plan, written.outputs["valid"], summary.validated_rows
        )
    except BaseException:
        written.discard()
        raise
    return SparkValidation(written.outputs["valid"], written.outputs["rejected"], summary, parts, written)


def _key_duplicates(spark: Any, plan: ValidationPlan, valid: StagedVersion, valid_rows: int) -> int:
    """Validated rows whose contract key repeats another's (the ``key_unique`` check): none when no key is
    mapped or repeats were quarantined, else counted by Spark over the staged validated parts."""
    keys = plan.key_columns()
    if not keys or plan.duplicate_mode == "key" or not valid_rows:
        return 0
    frame = spark.read.parquet(*[part.uri for part in valid.parts])
    F = functions_for(frame)  # noqa: N806
    return valid_rows - frame.select(*[F.col(f"`{k}`") for k in keys]).distinct().count()
