"""What a feature is: the canonical datasets it reads, its output schema and its builders.

A feature is declared once, as a :class:`Feature`, and listed in :data:`retina_assets.features.FEATURES`.
That one registration is all the rest of the lake needs: a client spec may name it under ``features:``
(checked against the registry, with the datasets it reads), the Dagster layer grows one partitioned asset
per client from it (inputs = the client's validated datasets it reads), the drop sensor rebuilds it when one
of those datasets gets a drop, and the Spark engine runs its Spark builder when the client asks for Spark.

Builders are plain functions of dataframes, so they can be called from a notebook, a test or a Spark job
without any orchestration:

* ``build(inputs)``: in-process, ``inputs`` maps each canonical dataset read to a polars DataFrame of the
  declared :attr:`Feature.columns` (those the version has), or to a LazyFrame scanning them if the feature
  is declared ``lazy``; returns the feature rows (a DataFrame) and run metadata.
* ``build_spark(inputs, F)``: the same on Spark DataFrames; ``F`` is the ``pyspark.sql.functions`` module
  matching the frames (classic or Spark Connect), handed in by the engine.

A feature of one day reads that day's version of each input. A feature with ``history=True`` (customer
features for models: recency, frequency, age) reads **every** validated partition of its inputs up to and
including the day it is built for: the caller hands it one exact version per partition, its ``build`` gets
each input as the rows of all of them with an ``as_of_date`` column (the partition each row came from) and
is called as ``build(inputs, as_of_date)``, so it knows the end of the observation period even when that
day sent no rows.

Both must return the same rows; the engine sorts them by :attr:`Feature.sort_by` and casts them to
:attr:`Feature.schema`, so identical inputs give identical bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import polars as pl
import pyarrow as pa

from retina_assets.model.naming import PARTITION_COLUMN
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.parts import local_parquet_files

# (rows, metadata) as a builder returns them
BuiltFeature = tuple[Any, dict[str, Any]]


@dataclass(frozen=True)
class Feature:
    """One feature: what it reads, what it produces, and how (see the module docstring)."""

    name: str
    reads: tuple[str, ...]  # canonical datasets (validated zone), e.g. ("orders",)
    schema: pa.Schema
    sort_by: tuple[str, ...]
    description: str
    build: Callable[..., BuiltFeature]  # build(inputs), or build(inputs, as_of_date) with history=True
    build_spark: Callable[[Mapping[str, Any], ModuleType], BuiltFeature] | None = None
    # canonical dataset -> the columns the builders use (only these are loaded); absent = every column
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # True: reads every partition of its inputs up to the one being built (see the module docstring)
    history: bool = False
    # the in-process builder takes polars LazyFrames scanning the versions (it streams what it can) instead
    # of loaded DataFrames
    lazy: bool = False

    def input_columns(self, canonical: str, ref: DatasetRef) -> list[str] | None:
        """The declared columns of ``canonical`` that the version ``ref`` has (from its footer), or ``None``
        for every column."""
        wanted = self.columns.get(canonical)
        if wanted is None:
            return None
        present = set(ref.to_arrow_schema().names)
        return [c for c in wanted if c in present]


# what a builder is given per canonical dataset: one version, or (history features) one per partition
FeatureInput = DatasetRef | Sequence[DatasetRef]


def build_in_process(
    feature: Feature, inputs: Mapping[str, FeatureInput], as_of_date: str | None = None
) -> tuple[pa.Table, dict[str, Any]]:
    """Build ``feature`` in this process from exact input versions (canonical dataset -> version, or for a
    ``history`` feature canonical dataset -> the versions of every partition up to ``as_of_date``).

    Returns the rows as Arrow (cast to the feature's schema, sorted by its ``sort_by``) and the builder's
    metadata.
    """
    if feature.history:
        if as_of_date is None:
            raise ValueError(f"feature {feature.name!r} reads history: give the as_of_date it is built for")
        frames: dict[str, Any] = {
            canonical: history_frame(feature, canonical, refs) for canonical, refs in inputs.items()
        }
        rows, metadata = feature.build(frames, as_of_date)
    else:
        frames = {}
        for canonical, ref in inputs.items():
            if not isinstance(ref, DatasetRef):
                raise TypeError(f"feature {feature.name!r} reads one version of {canonical!r}, got several")
            frames[canonical] = (_scan if feature.lazy else _load)(ref, feature.input_columns(canonical, ref))
        rows, metadata = feature.build(frames)
    table = rows.to_arrow().select(feature.schema.names).cast(feature.schema)
    return table.sort_by([(c, "ascending") for c in feature.sort_by]), metadata


def history_frame(feature: Feature, canonical: str, refs: FeatureInput) -> pl.DataFrame:
    """The rows of every version in ``refs`` (the feature's declared columns) with an ``as_of_date`` column
    holding each version's partition; versions of older schemas get nulls for columns they lack."""
    if isinstance(refs, DatasetRef):
        refs = [refs]
    tables = []
    for ref in refs:
        if ref.partition is None:
            raise ValueError(f"{ref.uri}: a history input needs the partition of each version")
        table = ref.to_arrow(columns=feature.input_columns(canonical, ref))
        tables.append(table.append_column(PARTITION_COLUMN, pa.array([ref.partition] * table.num_rows)))
    if not tables:
        raise ValueError(f"feature {feature.name!r}: no versions of {canonical!r} to read")
    frame = pl.from_arrow(pa.concat_tables(tables, promote_options="default"))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _load(ref: DatasetRef, columns: list[str] | None) -> pl.DataFrame:
    frame = pl.from_arrow(ref.to_arrow(columns=columns))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _scan(ref: DatasetRef, columns: list[str] | None) -> pl.LazyFrame:
    """A lazy scan of a version: read by polars row group by row group when it is local (a file, or the parts
    of a multi-part version, in order), else loaded (only ``columns``) and wrapped."""
    if "://" not in ref.uri or ref.uri.startswith("file://"):
        ref.verify()  # the bytes are the recorded version's (a streamed hash) before polars reads them
        # a multi-part version is its folder: its parts in order, nothing inferred from the path above it
        files = local_parquet_files(ref.uri.removeprefix("file://"))
        scan = pl.scan_parquet(files, hive_partitioning=False)
        return scan.select(columns) if columns is not None else scan
    return _load(ref, columns).lazy()
