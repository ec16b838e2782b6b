"""Dataframe access to the lake for data scientists, from the lake alone (no Dagster instance needed).

    from retina_assets import lake
    lake.load("demo/order_summary")                                  # current data, all partitions, pandas
    lake.load("demo/order_summary", as_="polars")                    # or "arrow", "spark" (spark=session)
    lake.load("demo/validated_orders", partition="2011-01-05")       # one partition
    lake.load("demo/validated_orders", version="<sha256 or prefix>") # one exact version by content hash
    lake.load("/path/to/<sha256>.parquet")                           # one exact version by path
    lake.load("/path/to/<sha256>")                                   # a multi-part version: its folder
    lake.load("demo/order_summary", as_of="2024-05-01T12:00:00Z")    # what was current then (time travel)
    lake.versions("demo/validated_orders", partition="2011-01-05")   # versions with lineage (and deletions)
    lake.history("demo/validated_orders", partition="2011-01-05")    # the commit log: commits, pins, tombstones
    lake.lineage(path)                                               # version -> inputs -> landing drop
    lake.pin(path, "model v3 was trained on it") / lake.unpin(path, "retired")  # keep from retention

The lake URI comes from ``RETINA_LAKE_URI`` or an explicit :func:`connect`. Dataset names follow the asset
keys (``<client>/<name>``), so ``validated_orders`` lives in the ``validated`` zone and ``order_summary`` in
``features``. "Current" means the version of each partition's last commit in its commit log under
``<lake>/_commits/`` (:mod:`retina_assets.storage.commit_log`). Every load checks the bytes it reads against
the recorded content hash and raises
:class:`~retina_assets.storage.integrity.ContentHashMismatchError` (path, both hashes) when they differ.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa

from retina_assets.engines.spark import functions_for, spark_session
from retina_assets.model.naming import PARTITION_COLUMN, DatasetName
from retina_assets.storage.commit_log import CommitEntry
from retina_assets.storage.filesystem import filesystem_for
from retina_assets.storage.integrity import hash_from_name, verify
from retina_assets.storage.parts import is_multipart_uri
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore

Frame = Literal["pandas", "polars", "arrow", "spark"]
FRAMES = ("pandas", "polars", "arrow", "spark")


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
        try:
            parsed = DatasetName.parse(name)
        except ValueError as exc:
            raise LakeLookupError(str(exc)) from None
        zone, client, dataset = parsed.zone, parsed.client, parsed.dataset
        if not self.store.partitions(zone, client, dataset):
            raise LakeLookupError(
                f"unknown dataset {name!r}: no versions committed under {self.uri}/_commits"
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

    def history(self, name: str, partition: str | None = None) -> list[CommitEntry]:
        """The commit log entries (commits, pins, unpins, tombstones) of one or every partition, in order."""
        zone, client, dataset = self._resolve(name)
        keys = (
            [self._check_partition(name, partition)]
            if partition
            else self.store.partitions(zone, client, dataset)
        )
        return [e for key in keys for e in self.store.history(zone, client, dataset, key)]

    def pin(self, path: str, reason: str) -> CommitEntry:
        """Keep the version at ``path`` from retention (recorded with who, when and ``reason``)."""
        return self.store.pin(self.version_of(path), reason)

    def unpin(self, path: str, reason: str) -> CommitEntry:
        """Release a :meth:`pin` (recorded too)."""
        return self.store.unpin(self.version_of(path), reason)

    def version_of(self, path: str) -> DatasetVersion:
        """The version record of a version of this lake, named by its path (a file, or the folder of a
        multi-part version), by one of its parts, or by a file of its partition's current view (then the
        current version). Raises :class:`LakeLookupError` if none."""
        root = self.uri.rstrip("/") + "/"
        parts = path.rstrip("/")[len(root) :].split("/") if path.startswith(root) else []
        if parts and parts[0] == "_versions":
            parts = parts[1:]
            if len(parts) == 6 and is_multipart_uri("/".join(parts[:5])):  # a part: its version's folder
                path, parts = path.rsplit("/", 1)[0], parts[:5]
        if len(parts) == 5 and parts[3].startswith(f"{PARTITION_COLUMN}="):
            zone, client, dataset, part_dir = parts[:4]
            found = self.store.versions(zone, client, dataset, part_dir.split("=", 1)[1])
            if found and path in self.store.view_files(found[-1]):  # the view is the current version
                return found[-1]
            for version in reversed(found):
                if path.rstrip("/") == version.path:
                    return version
        raise LakeLookupError(f"{path} is not a recorded version of the lake at {self.uri}")

    def lineage(self, path: str) -> list[DatasetVersion | str]:
        """Where a version came from: its record, then (depth first) the records of its inputs, down to
        the landing files (given as plain paths, they are not lake versions)."""
        out: list[DatasetVersion | str] = []
        seen: set[str] = set()

        def walk(current: str) -> None:
            if current in seen:
                return
            seen.add(current)
            try:
                version = self.version_of(current)
            except LakeLookupError:
                out.append(current)
                return
            out.append(version)
            for parent in version.input_paths:
                walk(parent)

        walk(path)
        return out

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
        as_: Frame = "pandas",
        spark: Any = None,
        engine: Frame | None = None,
        as_of: str | dt.datetime | None = None,
    ) -> Any:
        """Load current data (all partitions, with ``as_of_date``), one partition, or one exact version.

        ``name`` is ``<client>/<dataset>`` or the path of a version file. ``version`` is a content hash
        (or a unique prefix of one). ``as_of`` (a datetime, or an ISO 8601 string; naive = UTC) loads what
        was current at that time, from the commit logs: partitions not yet written then are left out.
        ``as_`` picks the frame type: ``pandas`` (default), ``polars``, ``arrow`` or ``spark`` (``spark`` =
        a SparkSession; default: Spark Connect at ``$RETINA_SPARK_REMOTE`` or local mode). Every result
        carries an ``as_of_date`` string column, except a version loaded by path, which is returned exactly
        as stored. ``engine=`` is an older spelling of ``as_=``. Every file read is checked against its
        recorded content hash first (a path that is no recorded version: against the hash in its name).
        """
        as_ = engine or as_
        if as_ not in FRAMES:
            raise ValueError(f"unknown frame type as_={as_!r}; expected one of {list(FRAMES)}")
        if _is_path(name):
            expected = self._expected_hash(name)
            if as_ == "spark":
                if expected is not None:
                    verify(filesystem_for(name), name, expected)
                return _spark(spark).read.parquet(name)
            return _convert(self.store.read_table(name, expected_hash=expected), as_)
        chosen_versions: list[DatasetVersion] = []
        if version is not None:
            chosen_versions = [self._version(name, partition, version)]
        elif as_of is not None:
            when = (
                dt.datetime.fromisoformat(as_of.replace("Z", "+00:00")) if isinstance(as_of, str) else as_of
            )
            zone, client, dataset = self._resolve(name)
            keys = [self._check_partition(name, partition)] if partition else self.partitions(name)
            for key in keys:
                found = self.store.as_of(zone, client, dataset, key, when)
                if found is not None:
                    chosen_versions.append(found)
            if not chosen_versions:
                raise LakeLookupError(f"{name!r} had no committed version at {when.isoformat()}")
        if chosen_versions:
            for chosen in chosen_versions:
                if chosen.deleted_at:
                    raise LakeLookupError(
                        f"version {chosen.content_hash} of {name!r} [{chosen.partition}] was deleted at "
                        f"{chosen.deleted_at}: {chosen.deleted_reason}"
                    )
            selected = [(v.path, v.partition, v.content_hash) for v in chosen_versions]
        else:
            zone, client, dataset = self._resolve(name)
            keys = (
                [self._check_partition(name, partition)]
                if partition
                else self.store.partitions(zone, client, dataset)
            )
            selected = []
            for key in keys:
                current = self.store.current(zone, client, dataset, key)
                if current is None:  # pragma: no cover - partitions() lists only recorded partitions
                    raise LakeLookupError(f"partition {key!r} of {name!r} has no version record")
                selected.append((current.path, key, current.content_hash))
        if as_ == "spark":
            for path, _, expected in selected:
                verify(self.store.fs, path, expected)
            return _spark_frame(_spark(spark), [(path, key) for path, key, _ in selected])
        tables = [
            _with_partition(self.store.read_table(path, expected_hash=expected), key)
            for path, key, expected in selected
        ]
        return _convert(pa.concat_tables(tables, promote_options="default"), as_)

    def _expected_hash(self, path: str) -> str | None:
        """The hash a file or folder loaded by path must have: its version's; a current-view file's: the
        bytes the current version published there (for a multi-part version, its part's); a part's: the
        one in its name. Else the one in its name, else ``None`` (not a lake version: read unchecked)."""
        try:
            version = self.version_of(path)
        except LakeLookupError:
            return hash_from_name(path)
        if path.rstrip("/") == version.path:
            return version.content_hash
        return self.store.view_files(version).get(path) or hash_from_name(path)

    def _version(self, name: str, partition: str | None, version: str) -> DatasetVersion:
        matches = [v for v in self.versions(name, partition) if v.content_hash.startswith(version)]
        hashes = {v.content_hash for v in matches}
        if not hashes:
            raise LakeLookupError(f"no version of {name!r} has content hash {version!r}")
        if len(hashes) > 1:
            raise LakeLookupError(
                f"content hash prefix {version!r} of {name!r} is ambiguous: {sorted(hashes)}"
            )
        return matches[-1]


def _is_path(name: str) -> bool:
    return name.endswith(".parquet") or "://" in name or name.startswith("/")


def _with_partition(table: pa.Table, partition: str) -> pa.Table:
    if PARTITION_COLUMN in table.column_names:
        return table
    return table.append_column(PARTITION_COLUMN, pa.array([partition] * table.num_rows, pa.string()))


def _convert(table: pa.Table, as_: Frame) -> Any:
    if as_ == "arrow":
        return table
    if as_ == "pandas":
        return table.to_pandas()
    import polars as pl

    return pl.from_arrow(table)


def _spark(spark: Any) -> Any:
    if spark is not None:
        return spark
    return spark_session()


def _spark_frame(spark: Any, selected: list[tuple[str, str]]) -> Any:
    """One Spark DataFrame over the chosen version files, read by Spark itself (in parallel, one file
    per task), with ``as_of_date`` taken from each row's file path."""
    frame = spark.read.option("mergeSchema", "true").parquet(*[path for path, _ in selected])
    F = functions_for(frame)  # noqa: N806
    if PARTITION_COLUMN in frame.columns:
        return frame
    pattern = f"{PARTITION_COLUMN}=([^/]+)/"
    return frame.withColumn(PARTITION_COLUMN, F.regexp_extract(F.col("_metadata.file_path"), pattern, 1))


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
    as_: Frame = "pandas",
    spark: Any = None,
    engine: Frame | None = None,
    as_of: str | dt.datetime | None = None,
) -> Any:
    """See :meth:`Lake.load`."""
    return _lake().load(
        name, partition=partition, version=version, as_=as_, spark=spark, engine=engine, as_of=as_of
    )


def versions(name: str, partition: str | None = None) -> list[DatasetVersion]:
    """See :meth:`Lake.versions`."""
    return _lake().versions(name, partition)


def partitions(name: str) -> list[str]:
    """See :meth:`Lake.partitions`."""
    return _lake().partitions(name)


def lineage(path: str) -> list[DatasetVersion | str]:
    """See :meth:`Lake.lineage`."""
    return _lake().lineage(path)


def history(name: str, partition: str | None = None) -> list[CommitEntry]:
    """See :meth:`Lake.history`."""
    return _lake().history(name, partition)


def pin(path: str, reason: str) -> CommitEntry:
    """See :meth:`Lake.pin`."""
    return _lake().pin(path, reason)


def unpin(path: str, reason: str) -> CommitEntry:
    """See :meth:`Lake.unpin`."""
    return _lake().unpin(path, reason)
