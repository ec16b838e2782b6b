"""Dataframe access to the lake for data scientists, from the lake alone (no Dagster instance needed).

    from retina_assets import lake
    lake.load("demo/order_summary")                                  # current data, all partitions, pandas
    lake.load("demo/validated_orders", partition="2011-01-05")       # one partition
    lake.load("demo/validated_orders", version="<sha256 or prefix>") # one exact version by content hash
    lake.load("/path/to/<sha256>.parquet")                           # one exact version by path
    lake.versions("demo/validated_orders", partition="2011-01-05")   # versions with lineage

The lake URI comes from ``RETINA_LAKE_URI`` or an explicit :func:`connect`. Dataset names follow the asset
keys (``<client>/<name>``), so ``validated_orders`` lives in the ``validated`` zone and ``order_summary`` in
``features``. "Current" means the newest version record of each partition under ``<lake>/_manifests/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from retina_assets.storage import paths
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore

Engine = Literal["pandas", "polars", "arrow", "spark"]
_ZONE_PREFIXES = (("raw_", "raw"), ("validated_", "validated"), ("rejected_", "rejected"))


class LakeLookupError(LookupError):
    """An unknown dataset, partition or version; the message names what was asked and what exists."""


@dataclass(frozen=True)
class Lake:
    """A read-only view of one lake root."""

    uri: str

    @property
    def store(self) -> VersionedStore:
        return VersionedStore(self.uri)

    def _resolve(self, name: str) -> tuple[str, str, str]:
        if name.count("/") != 1:
            raise LakeLookupError(f"dataset {name!r} is not of the form '<client>/<dataset>'")
        client, dataset = name.split("/")
        zone = "features"
        for prefix, candidate in _ZONE_PREFIXES:
            if dataset.startswith(prefix):
                zone, dataset = candidate, dataset[len(prefix) :]
                break
        paths.check_name("client", client)
        paths.check_name("dataset", dataset)
        if not self.store.partitions(zone, client, dataset):
            raise LakeLookupError(
                f"unknown dataset {name!r}: no versions recorded under {self.uri}/_manifests"
            )
        return zone, client, dataset

    def partitions(self, name: str) -> list[str]:
        """Partition keys of a dataset that have at least one version, sorted."""
        return self.store.partitions(*self._resolve(name))

    def versions(self, name: str, partition: str | None = None) -> list[DatasetVersion]:
        """All versions (oldest first per partition) with lineage: input_paths, created_at, run_id."""
        zone, client, dataset = self._resolve(name)
        keys = (
            [self._check_partition(name, partition)]
            if partition
            else self.store.partitions(zone, client, dataset)
        )
        return [v for key in keys for v in self.store.versions(zone, client, dataset, key)]

    def _check_partition(self, name: str, partition: str) -> str:
        known = self.partitions(name)
        if partition not in known:
            raise LakeLookupError(f"unknown partition {partition!r} of {name!r}; known partitions: {known}")
        return partition

    def load(
        self,
        name: str,
        partition: str | None = None,
        version: str | None = None,
        engine: Engine = "pandas",
        spark: Any = None,
    ) -> Any:
        """Load current data (all partitions, with ``as_of_date``), one partition, or one exact version.

        ``name`` may also be the path of a version file. ``version`` is a content hash (or unique prefix).
        """
        if name.endswith(".parquet") or "://" in name or name.startswith("/"):
            table = self.store.read_table(name)
            return _convert(table, engine, spark)
        if version is not None:
            matches = [v for v in self.versions(name, partition) if v.content_hash.startswith(version)]
            hashes = {v.content_hash for v in matches}
            if not hashes:
                raise LakeLookupError(f"no version of {name!r} has content hash {version!r}")
            if len(hashes) > 1:
                raise LakeLookupError(
                    f"content hash prefix {version!r} of {name!r} is ambiguous: {sorted(hashes)}"
                )
            chosen = matches[-1]
            return _convert(
                _with_partition(self.store.read_table(chosen.path), chosen.partition), engine, spark
            )
        zone, client, dataset = self._resolve(name)
        keys = (
            [self._check_partition(name, partition)]
            if partition
            else self.store.partitions(zone, client, dataset)
        )
        tables = []
        for key in keys:
            current = self.store.current(zone, client, dataset, key)
            assert current is not None
            tables.append(_with_partition(self.store.read_table(current.path), key))
        return _convert(pa.concat_tables(tables, promote_options="default"), engine, spark)


def _with_partition(table: pa.Table, partition: str) -> pa.Table:
    if paths.PARTITION_COLUMN in table.column_names:
        return table
    return table.append_column(paths.PARTITION_COLUMN, pa.array([partition] * table.num_rows, pa.string()))


def _convert(table: pa.Table, engine: Engine, spark: Any) -> Any:
    if engine == "arrow":
        return table
    if engine == "pandas":
        return table.to_pandas()
    if engine == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if engine == "spark":
        if spark is None:
            from pyspark.sql import SparkSession

            spark = SparkSession.builder.getOrCreate()
        return spark.createDataFrame(table.to_pandas())
    raise ValueError(f"unknown engine {engine!r}; expected pandas, polars, arrow or spark")


_current: Lake | None = None


def connect(uri: str | None = None) -> Lake:
    """Use the lake at ``uri`` (default ``RETINA_LAKE_URI``) for the module-level functions."""
    global _current
    uri = uri or os.environ.get("RETINA_LAKE_URI")
    if not uri:
        raise LakeLookupError("no lake: set RETINA_LAKE_URI or call lake.connect(uri)")
    _current = Lake(VersionedStore(uri).lake_uri)
    return _current


def _lake() -> Lake:
    return _current or connect()


def load(
    name: str,
    partition: str | None = None,
    version: str | None = None,
    engine: Engine = "pandas",
    spark: Any = None,
) -> Any:
    """See :meth:`Lake.load`."""
    return _lake().load(name, partition=partition, version=version, engine=engine, spark=spark)


def versions(name: str, partition: str | None = None) -> list[DatasetVersion]:
    """See :meth:`Lake.versions`."""
    return _lake().versions(name, partition)


def partitions(name: str) -> list[str]:
    """See :meth:`Lake.partitions`."""
    return _lake().partitions(name)
