"""Validation on Spark: the same rules, codes and outputs as :func:`~retina_assets.quality.validation.validate_dataset`.

How it stays identical to the in-process engine: Spark reads the exact raw version, splits its rows into
buckets and runs the in-process rules (:func:`~retina_assets.quality.validation.validate_table`, with a
:class:`~retina_assets.quality.validation.ValidationPlan` made once on the driver for the whole partition)
on every bucket in parallel (``applyInArrow``, one Spark task per bucket). Rows are bucketed by a hash of the columns that cross-row rules compare, so rows that
can be duplicates of each other (``duplicate_row``) or share a contract key (``unique``) always land in the
same bucket; every other rule looks at one row at a time. Inside a bucket rows keep their drop order
(``_source_file``, ``_source_row``), so "the earlier row" is the same as in-process. The driver
concatenates the buckets' valid and rejected rows in drop order and adds up the rule counts.

So rule codes and reasons come from one implementation, and a rule change in ``quality/`` applies to both
engines. Spark Connect servers and clusters need ``retina_assets`` installed on their Python workers.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from retina_assets.engines.spark import functions_for
from retina_assets.model.naming import SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import DatasetSpec
from retina_assets.quality.bucketed_validation import bucket_columns
from retina_assets.quality.validation import (
    ValidationOutcome,
    ValidationPlan,
    plan_columns_as_pandas,
    validate_table,
)

BUCKET = "_retina_bucket"
RESULT_SCHEMA = "bucket long, kind string, payload binary"


def _ipc(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _from_ipc(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def _bucket_validator(
    spec: DatasetSpec, raw_schema: pa.Schema, plan: ValidationPlan
) -> Callable[[Any, pa.Table], pa.Table]:
    """The function each Spark task runs on one bucket (pickled to the workers)."""

    def validate_bucket(key: Any, table: pa.Table) -> pa.Table:
        bucket = int(key[0].as_py()) if key else 0
        rows = table.select(raw_schema.names).cast(raw_schema)
        if SOURCE_FILE in rows.column_names and SOURCE_ROW in rows.column_names:
            rows = rows.sort_by([(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")])
        outcome = validate_table(rows, spec, plan)
        meta = {
            "raw_rows": outcome.raw_rows,
            "rule_counts": outcome.rule_counts,
            "schema_errors": outcome.schema_errors,
            "dropped_columns": outcome.dropped_columns,
        }
        parts = [
            ("valid", _ipc(outcome.valid_table)),
            ("rejected", _ipc(outcome.rejected_table)),
            ("meta", json.dumps(meta).encode()),
        ]
        return pa.table(
            {
                "bucket": pa.array([bucket] * len(parts), pa.int64()),
                "kind": [kind for kind, _ in parts],
                "payload": pa.array([payload for _, payload in parts], pa.binary()),
            }
        )

    return validate_bucket


def _in_drop_order(tables: list[pa.Table]) -> pa.Table:
    table = pa.concat_tables(tables, promote_options="permissive")
    if SOURCE_FILE in table.column_names and SOURCE_ROW in table.column_names:
        table = table.sort_by([(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")])
    return table.combine_chunks()


def _plan(frame: Any, F: Any, raw_schema: pa.Schema, spec: DatasetSpec) -> ValidationPlan:  # noqa: N803
    """The partition's plan, from Spark: which integer/boolean columns hold a null, and pandera's verdict on
    columns whose type differs from the contract's (read alone)."""
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
        columns = pa.Table.from_pandas(frame.select(*[f"`{c}`" for c in sources]).toPandas())
        plan.judge_types(plan_columns_as_pandas(plan, columns, plan.unsure))
    return plan


def validate_on_spark(
    spark: Any, raw_uri: str, raw_schema: pa.Schema, spec: DatasetSpec
) -> ValidationOutcome:
    """Validate one raw version (``raw_uri``, Arrow schema ``raw_schema``) on Spark.

    Same :class:`ValidationOutcome` as ``validate_table(read(raw_uri), spec)``: the same
    valid and rejected rows in the same (drop) order, types, reject codes and reasons, rule counts.
    """
    frame = spark.read.parquet(raw_uri)
    F = functions_for(frame)  # noqa: N806
    buckets = max(1, int(spark.conf.get("spark.sql.shuffle.partitions") or 1))
    plan = _plan(frame, F, raw_schema, spec)
    cols = bucket_columns(raw_schema.names, spec)
    bucket = F.pmod(F.hash(*[F.col(f"`{c}`") for c in cols]), F.lit(buckets)) if cols else F.lit(0)
    results = (
        frame.withColumn(BUCKET, bucket)
        .groupBy(BUCKET)
        .applyInArrow(_bucket_validator(spec, raw_schema, plan), RESULT_SCHEMA)
        .toArrow()
        .to_pylist()
    )
    if not results:  # an empty raw version has no bucket: validate it directly (no rows, same columns)
        return validate_table(raw_schema.empty_table(), spec, plan)
    valid, rejected, metas = [], [], []
    for row in sorted(results, key=lambda r: r["bucket"]):
        if row["kind"] == "meta":
            metas.append(json.loads(row["payload"]))
        elif row["kind"] == "valid":
            valid.append(_from_ipc(row["payload"]))
        else:
            rejected.append(_from_ipc(row["payload"]))
    counts: dict[str, int] = {}
    for meta in metas:
        for code, hit in meta["rule_counts"].items():
            counts[code] = counts.get(code, 0) + hit
    schema_errors = list(dict.fromkeys(e for meta in metas for e in meta["schema_errors"]))
    return ValidationOutcome(
        valid_table=_in_drop_order(valid),
        rejected_table=_in_drop_order(rejected),
        canonical=spec.canonical,
        raw_rows=sum(m["raw_rows"] for m in metas),
        rule_counts=counts,
        schema_errors=schema_errors,
        dropped_columns=metas[0]["dropped_columns"],
    )
