"""Running a stage on the engine a client (or a run) chose: ``pandas`` (in-process) or ``spark``.

These are the stage entry points the Dagster assets call, and the ones a notebook, a Spark job or a verify
command calls without Dagster. Each takes exact input versions (:class:`DatasetRef`) and returns the outputs
to commit: in-process, as data (tables, or streams for large partitions); on Spark, as
:class:`~retina_assets.storage.versioned_store.StagedVersion` parts the executors already wrote into the
lake of the ``store`` given. Committing them is the caller's (the IO manager's
:func:`~retina_assets.defs.io_manager.write_output`, or :class:`VersionedStore`'s ``write``/``commit_parts``),
the same commit on both engines.

``spark`` is a zero-argument function returning a Spark session, called only when the Spark engine runs
(default :func:`retina_assets.engines.spark.spark_session`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from retina_assets.engines.spark import spark_session
from retina_assets.engines.spark_features import build_on_spark
from retina_assets.engines.spark_validation import SparkValidation, validate_on_spark
from retina_assets.features.registry import Feature, FeatureInput, build_in_process
from retina_assets.model.spec import ENGINES, DatasetSpec
from retina_assets.quality.bucketed_validation import BUCKET_ROWS, BucketedValidation, validate_in_buckets
from retina_assets.quality.checks import CheckContext, OutcomeSummary
from retina_assets.quality.validation import ValidationOutcome, validate_table
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import RecordBatchStream, StagedVersion, VersionedStore

SessionFactory = Callable[[], Any]


def check_engine(engine: str) -> str:
    """``engine`` if it is one of :data:`~retina_assets.model.spec.ENGINES`, else a ``ValueError``."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}")
    return engine


@dataclass
class ValidatedPartition:
    """The outputs of validating one raw version: validated and rejected rows (frames, streams for a
    partition validated in buckets, or :class:`StagedVersion` parts written by Spark executors), the figures
    the checks need, and a :meth:`close` for working files."""

    valid: Any
    rejected: Any
    summary: OutcomeSummary
    bucketed: BucketedValidation | None = None
    on_spark: SparkValidation | None = None

    @property
    def parts(self) -> int:
        """How many parts each output was laid out in (1 in-process)."""
        return self.on_spark.parts if self.on_spark is not None else 1

    def close(self) -> None:
        """Delete working files: a bucketed validation's, or Spark's staged parts not committed (call once
        both outputs are written)."""
        if self.bucketed is not None:
            self.bucketed.close()
        if self.on_spark is not None:
            self.on_spark.discard()


def run_validation(spec: DatasetSpec, raw: DatasetRef) -> ValidationOutcome:
    """Validate a raw version in one piece, in this process (the Spark engine never holds a partition in one
    piece: see :func:`validate_partition`)."""
    return validate_table(raw.to_arrow(), spec)


def _need_store(store: VersionedStore | None, what: str) -> VersionedStore:
    if store is None:
        raise ValueError(f"{what} on Spark is written into the lake by the executors: give the store")
    return store


def validate_partition(
    raw: DatasetRef,
    spec: DatasetSpec,
    ctx: CheckContext,
    engine: str = "pandas",
    spark: SessionFactory | None = None,
    bucket_rows: int | None = None,
    log: Callable[[str], None] | None = None,
    store: VersionedStore | None = None,
) -> ValidatedPartition:
    """Validate one raw version into validated and rejected rows with the figures for its checks.

    In-process, a version of more than ``bucket_rows`` (default :data:`BUCKET_ROWS`) rows is validated in key-hash buckets with bounded
    memory and the same result (:mod:`retina_assets.quality.bucketed_validation`); its outputs are streams
    in the whole-table layout, so they are stored as the same bytes. On Spark
    (:mod:`retina_assets.engines.spark_validation`) the executors write both outputs as parts in ``store``'s
    lake (parts of about ``bucket_rows`` rows), with the same rows, types, codes and check figures.
    """
    bucket_rows = bucket_rows or BUCKET_ROWS
    if check_engine(engine) == "spark":
        result = validate_on_spark(
            (spark or spark_session)(), raw, spec, ctx, _need_store(store, "validation"), bucket_rows
        )
        say = log or (lambda _msg: None)
        say(f"validated on Spark in {result.parts} part(s): the executors wrote both outputs")
        return ValidatedPartition(result.valid, result.rejected, result.summary, on_spark=result)
    if (raw.row_count or 0) > bucket_rows:
        bucketed = validate_in_buckets(raw, spec, ctx, bucket_rows=bucket_rows, log=log)
        return ValidatedPartition(
            valid=RecordBatchStream(bucketed.valid_schema, bucketed.valid_batches(), table_layout=True),
            rejected=RecordBatchStream(
                bucketed.rejected_schema, bucketed.rejected_batches(), table_layout=True
            ),
            summary=bucketed.summary,
            bucketed=bucketed,
        )
    outcome = run_validation(spec, raw)
    return ValidatedPartition(
        outcome.valid_table, outcome.rejected_table, OutcomeSummary.of(outcome, spec, ctx)
    )


def build_feature(
    feature: Feature,
    inputs: Mapping[str, FeatureInput],
    engine: str = "pandas",
    spark: SessionFactory | None = None,
    as_of_date: str | None = None,
    store: VersionedStore | None = None,
) -> tuple[pa.Table | StagedVersion, dict[str, Any]]:
    """Build ``feature`` from exact input versions (canonical dataset -> version; for a ``history`` feature,
    -> the versions of every partition up to ``as_of_date``) on ``engine`` and the builder's metadata.

    The rows are the same on both engines: in-process a table (cast to the feature's schema, sorted); on
    Spark parts the executors wrote into ``store``'s lake (each part sorted by the same key). A ``history``
    feature builds in-process only.
    """
    if check_engine(engine) == "spark":
        if feature.history:
            raise ValueError(f"feature {feature.name!r} reads history and runs in-process only")
        return build_on_spark(
            feature,
            (spark or spark_session)(),
            inputs,
            _need_store(store, f"feature {feature.name!r}"),  # type: ignore[arg-type]
        )
    return build_in_process(feature, inputs, as_of_date)
