"""The immutable, content-addressed dataset store, with a commit log per partition.

Guarantees, on every backend (local disk, S3, Azure):

* **A path always means the same bytes.** A version is written once to
  ``<lake>/_versions/<zone>/<client>/<dataset>/as_of_date=X/<sha256 of its bytes>.parquet``, never
  overwritten, and made read-only where the backend allows it (local disk). Only retention deletes one, and
  it leaves a tombstone in the commit log first.
* **Atomic visibility.** Parquet is written to a staging file, hashed, then published in one step
  (:meth:`LakeFileSystem.publish_file`); a reader never sees a half file.
* **Commits.** Making a version current appends a ``commit`` entry to the partition's commit log
  (:mod:`retina_assets.storage.commit_log`) with a put-if-absent on the next sequence number. A writer that
  finds another version committed since it started raises :class:`CommitConflictError` naming the partition
  and the winner; it never overwrites it. The log is the source of truth: :meth:`VersionedStore.current`,
  :meth:`~VersionedStore.versions`, :meth:`~VersionedStore.history`, time travel
  (:meth:`~VersionedStore.as_of`), pins and tombstones all read it.
* **A current view per zone.** After the commit, the version is copied (never hard-linked) to
  ``<lake>/<zone>/<client>/<dataset>/as_of_date=X/part-0.parquet`` by an atomic replace, so every zone root
  is a plain hive dataset holding exactly the current version of each partition. A writer re-checks the log
  after replacing the view and re-publishes the head if another commit landed meanwhile, so racing writers
  end with view and log agreeing. A process killed between commit and view leaves the view one commit
  behind (never pointing at missing data); the next write of the partition or ``fsck --repair`` fixes it.
* **Dedupe.** If the new bytes equal the current version of the partition, nothing is committed and the
  current version is returned (``deduplicated=True``).

A version is one file (``<sha256>.parquet``) or, when written in parallel (Spark executors), a folder of part
files whose names carry their hashes (:mod:`retina_assets.storage.parts`); the record's ``path`` names the
file or folder and ``parts`` lists the parts. Both are committed, deduplicated, verified and published the
same way; the current view of a multi-part version is its parts copied as ``part-0.parquet``,
``part-1.parquet``, ... (each file replaced atomically; a reader of the view during the swap of a
multi-part version may see a mix of parts, a reader of the version never does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import queue
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.model.naming import PARTITION_COLUMN, SOURCE_ROW
from retina_assets.storage import paths
from retina_assets.storage.commit_log import CommitEntry, CommitLog, current_user, utc_now
from retina_assets.storage.filesystem import FileInfo, LakeFileSystem, filesystem_for, sha256_file
from retina_assets.storage.integrity import (
    ContentHashMismatchError,
    hash_from_name,
    verified_local_files,
    verify,
    version_parts,
)
from retina_assets.storage.parts import StagedPart, combined_hash, is_multipart_uri

PARQUET_COMPRESSION = "zstd"
PUBLISHED_FILE = "part-0.parquet"
VIEW_SETTLE_ATTEMPTS = 5

# Fields of DatasetVersion that come from the commit log, not from the version record itself.
_LOG_FIELDS = ("deduplicated", "commit_seq", "committed_at", "deleted_at", "deleted_reason")


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version of one partition of one dataset.

    ``path`` is the version's file, or the folder of a multi-part version (``parts`` lists its files; never
    changes meaning); ``published_path`` the partition's (first) current-view file it was copied to when
    committed. ``commit_seq``/``committed_at`` say where in the partition's commit
    log it became current; ``deleted_at``/``deleted_reason`` are set once retention deleted its file.
    """

    zone: str
    client: str
    dataset: str
    partition: str
    path: str
    content_hash: str
    row_count: int
    num_bytes: int
    created_at: str
    columns: dict[str, str] = field(default_factory=dict)
    input_paths: list[str] = field(default_factory=list)
    run_id: str | None = None
    published_path: str | None = None
    # what made it (code, locked environment, libraries, spec, engine, inputs with hashes; see
    # retina_assets.model.provenance); None for versions written before provenance was recorded
    provenance: dict[str, Any] | None = None
    # a multi-part version's parts (name, sha256, row_count, num_bytes), in order; None for one file
    parts: list[dict[str, Any]] | None = None
    deduplicated: bool = False
    commit_seq: int | None = None
    committed_at: str | None = None
    deleted_at: str | None = None
    deleted_reason: str | None = None

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        for name in _LOG_FIELDS:
            record.pop(name)
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> DatasetVersion:
        known = {f for f in cls.__dataclass_fields__ if f not in _LOG_FIELDS}
        return cls(**{k: v for k, v in record.items() if k in known})

    @property
    def label(self) -> str:
        """``<zone>/<client>/<dataset> [<partition>]``, for messages."""
        return f"{self.zone}/{self.client}/{self.dataset} [{self.partition}]"


class CommitConflictError(RuntimeError):
    """Another writer committed a different version of the partition after this write started."""

    def __init__(self, label: str, attempted: str, winner: DatasetVersion):
        self.label, self.attempted, self.winner = label, attempted, winner
        super().__init__(
            f"{label}: commit conflict: version {winner.content_hash} (run {winner.run_id}, committed "
            f"{winner.committed_at}) became current while this write of {attempted} was in progress; "
            "nothing of this write was made current. Re-run to build on the version that won."
        )


def versions_from_log(entries: Sequence[CommitEntry]) -> list[DatasetVersion]:
    """The versions a commit log made current, oldest first, each with its commit and deletion fields."""
    out: list[DatasetVersion] = []
    alive: dict[str, list[int]] = {}
    for entry in entries:
        if entry.action == "commit" and entry.version is not None:
            version = dataclasses.replace(
                DatasetVersion.from_record(entry.version), commit_seq=entry.seq, committed_at=entry.at
            )
            alive.setdefault(version.content_hash, []).append(len(out))
            out.append(version)
        elif entry.action == "tombstone" and entry.content_hash:
            for index in alive.pop(entry.content_hash, []):
                out[index] = dataclasses.replace(out[index], deleted_at=entry.at, deleted_reason=entry.reason)
    return out


def active_pins(entries: Sequence[CommitEntry]) -> dict[str, CommitEntry]:
    """Content hash -> the ``pin`` entry still in force (not undone by a later ``unpin``)."""
    pins: dict[str, CommitEntry] = {}
    for entry in entries:
        if entry.action == "pin" and entry.content_hash:
            pins[entry.content_hash] = entry
        elif entry.action == "unpin" and entry.content_hash:
            pins.pop(entry.content_hash, None)
    return pins


@dataclass(frozen=True)
class PartitionKey:
    """One partition of one dataset in one zone."""

    zone: str
    client: str
    dataset: str
    partition: str


@dataclass
class RecordBatchStream:
    """An output too large to hold in memory: a schema and an iterator of batches, written as streamed.

    ``input_paths`` are the sources the batches came from (e.g. the landing files of a drop) and
    ``metadata`` describes the output (JSON-able values); ``after_write`` adds what is known only once
    every batch was consumed.
    """

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    input_paths: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    table_layout: bool = False  # write as the same rows in one Table would be (see VersionedStore.write)
    after_write: Callable[[], dict[str, Any]] | None = None  # metadata known only once streamed


@dataclass
class StagedVersion:
    """An output whose rows were already written as parts where they were computed (Spark executors, via
    :func:`stage_part`) and wait in ``staging_area`` to be committed as one multi-part version
    (:meth:`VersionedStore.commit_parts`; the IO manager does it for an asset that returns one).
    ``metadata`` describes the output (JSON-able values), ``input_paths`` are its sources."""

    parts: list[StagedPart]
    schema: pa.Schema
    staging_area: str
    input_paths: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def _clean_schema(schema: pa.Schema) -> pa.Schema:
    """Drop pandas' index metadata so bytes depend on the data, not on the dataframe library used."""
    meta = dict(schema.metadata or {})
    meta.pop(b"pandas", None)
    return schema.with_metadata(meta or None)


def output_input_paths(output: Any, input_paths: Sequence[str] = ()) -> list[str]:
    """The inputs of a stage output: those a stream or staged version names itself, then ``input_paths``."""
    own = output.input_paths if isinstance(output, RecordBatchStream | StagedVersion) else []
    return [*own, *input_paths]


def table_from_any(data: Any) -> pa.Table:
    """Accept a pyarrow Table, a pandas or polars DataFrame and return a pyarrow Table."""
    if isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "to_arrow") and not hasattr(data, "iloc"):  # polars
        table = data.to_arrow()
    else:
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"cannot store {type(data).__name__}: expected a pyarrow Table or a DataFrame")
        table = pa.Table.from_pandas(data, preserve_index=False)
        # An object column with no values (an empty partition, or all None) has no type Arrow can infer:
        # store it as string rather than Parquet's useless null type, so partitions share one schema.
        for i, field_ in enumerate(table.schema):
            if pa.types.is_null(field_.type):
                table = table.set_column(i, field_.name, table.column(i).cast(pa.string()))
    return table.replace_schema_metadata(_clean_schema(table.schema).metadata)


class VersionedStore:
    """Reads and writes immutable dataset versions below one lake root."""

    def __init__(
        self,
        lake_uri: str,
        fs: LakeFileSystem | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ):
        self.fs = fs or filesystem_for(lake_uri, storage_options)
        self.lake_uri = self.fs.root_uri

    def __repr__(self) -> str:
        return f"VersionedStore({self.lake_uri!r})"

    def commit_log(self, zone: str, client: str, dataset: str, partition: str) -> CommitLog:
        """The commit log of one partition."""
        return CommitLog(self.fs, paths.commit_log_dir(self.lake_uri, zone, client, dataset, partition))

    def view_path(self, zone: str, client: str, dataset: str, partition: str) -> str:
        """The partition's file in the zone's current view (hive): ``.../as_of_date=X/part-0.parquet``."""
        return paths.join(
            paths.partition_dir(self.lake_uri, zone, client, dataset, partition), PUBLISHED_FILE
        )

    # --- writing -----------------------------------------------------------------------------------
    def write(
        self,
        zone: str,
        client: str,
        dataset: str,
        partition: str,
        data: pa.Table | Iterable[pa.RecordBatch],
        *,
        schema: pa.Schema | None = None,
        input_paths: Sequence[str] = (),
        run_id: str | None = None,
        table_layout: bool = False,
        provenance: Mapping[str, Any] | None = None,
    ) -> DatasetVersion:
        """Write one partition version and commit it; see the module docstring for the guarantees.

        ``data`` is a Table or an iterable of record batches (streamed to disk, bounded memory; then
        ``schema`` is required). An empty input writes a valid zero-row file with the schema. With
        ``table_layout=True`` a stream is written exactly as the same rows given as one Table would be (row
        groups of ``ROW_GROUP_ROWS``, the same statistics and encodings: the same bytes), for outputs computed
        in pieces that must not differ from their whole-table twin.

        Raises :class:`CommitConflictError` when another version of the partition was committed after this
        call read the log (optimistic concurrency): the winner stays current, this version is not committed.
        ``provenance`` is stored in the version's record as given (a deduplicated write returns the existing
        record, with the provenance of the run that first wrote those bytes).
        """
        log = self.commit_log(zone, client, dataset, partition)
        base_entries = log.entries()
        base_seq = base_entries[-1].seq if base_entries else 0
        committed = versions_from_log(base_entries)
        base = committed[-1] if committed else None
        view = self.view_path(zone, client, dataset, partition)
        with self.fs.staged_file() as staged:
            row_count, written_schema = _write_parquet(staged, data, schema, table_layout)
            digest = sha256_file(staged)
            num_bytes = os.path.getsize(staged)
            if base is not None and base.content_hash == digest:
                # unchanged: nothing to commit, but bring the view in step (a killed writer may have left it
                # behind its commit)
                self._replace_view(zone, client, dataset, partition, [staged])
                self._settle_view(zone, client, dataset, partition, digest)
                return dataclasses.replace(base, deduplicated=True)
            uri = paths.join(
                paths.version_dir(self.lake_uri, zone, client, dataset, partition), f"{digest}.parquet"
            )
            self._publish_version(staged, uri, digest)
            version = DatasetVersion(
                zone=zone,
                client=client,
                dataset=dataset,
                partition=partition,
                path=uri,
                content_hash=digest,
                row_count=row_count,
                num_bytes=num_bytes,
                created_at=utc_now(),
                columns={f.name: str(f.type) for f in written_schema},
                input_paths=list(input_paths),
                run_id=run_id,
                published_path=view,
                provenance=dict(provenance) if provenance is not None else None,
            )
            entry, ours = self._commit(log, version, base_seq)
            if not ours:  # a racing writer committed the same bytes first: that commit is the version
                self._settle_view(zone, client, dataset, partition, "")
                return dataclasses.replace(versions_from_log([entry])[0], deduplicated=True)
            self._replace_view(zone, client, dataset, partition, [staged])
        self._settle_view(zone, client, dataset, partition, digest)
        return dataclasses.replace(version, commit_seq=entry.seq, committed_at=entry.at)

    def write_output(
        self,
        zone: str,
        client: str,
        dataset: str,
        partition: str,
        output: Any,
        *,
        input_paths: Sequence[str] = (),
        run_id: str | None = None,
        provenance: Mapping[str, Any] | None = None,
    ) -> DatasetVersion:
        """Write any stage output as a version of the partition: a :class:`StagedVersion` whose parts were
        already written is committed (:meth:`commit_parts`), a :class:`RecordBatchStream` is streamed, a table
        or frame is written whole (:meth:`write`). Its inputs are :func:`output_input_paths`."""
        paths = output_input_paths(output, input_paths)
        if isinstance(output, StagedVersion):
            return self.commit_parts(
                zone, client, dataset, partition, output.parts, schema=output.schema, input_paths=paths,
                run_id=run_id, provenance=provenance, staging_area=output.staging_area,
            )  # fmt: skip
        if isinstance(output, RecordBatchStream):
            return self.write(
                zone, client, dataset, partition, output.batches, schema=output.schema, input_paths=paths,
                run_id=run_id, table_layout=output.table_layout, provenance=provenance,
            )  # fmt: skip
        return self.write(
            zone, client, dataset, partition, table_from_any(output), input_paths=paths, run_id=run_id,
            provenance=provenance,
        )  # fmt: skip

    def staging_area(self) -> str:
        """A fresh folder in the lake (``<lake>/_staging/<id>``) for the parts of one multi-part write,
        reachable by every executor on an object store as on local disk; :meth:`commit_parts` removes it."""
        return paths.join(self.lake_uri, paths.PART_STAGING_DIR, uuid.uuid4().hex)

    def staging_areas(self) -> list[FileInfo]:
        """The staging areas present now (:meth:`staging_area` folders not yet removed by their commit), each as
        one :class:`FileInfo`: its URI, the bytes of its files and the newest file's modification time (the
        folder's own, for an empty one on local disk). An area is never read as a version: readers see only
        committed versions and the current view."""
        root = paths.join(self.lake_uri, paths.PART_STAGING_DIR)
        areas: dict[str, tuple[int, float | None]] = {}
        for info in self.fs.list_files(root, recursive=True):
            area = paths.join(root, info.uri[len(root) :].lstrip("/").split("/", 1)[0])
            size, newest = areas.get(area, (0, None))
            times = [t for t in (newest, info.modified) if t is not None]
            areas[area] = (size + info.size, max(times) if times else None)
        local_root = self.fs._strip(root)
        if self.fs.is_local and os.path.isdir(local_root):  # writers killed before their first part
            for name in os.listdir(local_root):
                area = paths.join(root, name)
                if area not in areas and os.path.isdir(self.fs._strip(area)):
                    areas[area] = (0, os.stat(self.fs._strip(area)).st_mtime)
        return [FileInfo(uri, size, "", newest) for uri, (size, newest) in sorted(areas.items())]

    def commit_parts(
        self,
        zone: str,
        client: str,
        dataset: str,
        partition: str,
        parts: Sequence[StagedPart],
        *,
        schema: pa.Schema,
        input_paths: Sequence[str] = (),
        run_id: str | None = None,
        provenance: Mapping[str, Any] | None = None,
        staging_area: str | None = None,
    ) -> DatasetVersion:
        """Publish parts written by :func:`stage_part` (e.g. on Spark executors) as one multi-part version of
        the partition, with the guarantees of :meth:`write`: content-addressed (the hash combines the parts'
        hashes, computed where they were written), deduplicated against the current version, committed with
        the same optimistic check (:class:`CommitConflictError`), then the view replaced. The driver moves
        files; it never reads the data except to copy the parts into the current view. ``staging_area`` (from
        :meth:`staging_area`) is removed afterwards, whatever happens."""
        try:
            return self._commit_parts(
                zone, client, dataset, partition, parts, schema, input_paths, run_id, provenance
            )
        finally:
            if staging_area is not None:
                self.fs.delete(staging_area, recursive=True)

    def _commit_parts(
        self,
        zone: str,
        client: str,
        dataset: str,
        partition: str,
        parts: Sequence[StagedPart],
        schema: pa.Schema,
        input_paths: Sequence[str],
        run_id: str | None,
        provenance: Mapping[str, Any] | None,
    ) -> DatasetVersion:
        if not parts:
            raise ValueError(
                f"{zone}/{client}/{dataset} [{partition}]: a multi-part write needs at least one part"
            )
        indexes = [p.index for p in parts]
        if len(set(indexes)) != len(indexes):
            raise ValueError(
                f"{zone}/{client}/{dataset} [{partition}]: duplicate part indexes {sorted(indexes)}"
            )
        ordered = sorted(parts, key=lambda p: p.index)
        digest = combined_hash(p.name for p in ordered)
        log = self.commit_log(zone, client, dataset, partition)
        base_entries = log.entries()
        base_seq = base_entries[-1].seq if base_entries else 0
        committed = versions_from_log(base_entries)
        base = committed[-1] if committed else None
        if base is not None and base.content_hash == digest:
            self._settle_view(zone, client, dataset, partition, "")
            return dataclasses.replace(base, deduplicated=True)
        folder = paths.join(paths.version_dir(self.lake_uri, zone, client, dataset, partition), digest)
        for part in ordered:
            self._publish_part(part, paths.join(folder, part.name))
        version = DatasetVersion(
            zone=zone,
            client=client,
            dataset=dataset,
            partition=partition,
            path=folder,
            content_hash=digest,
            row_count=sum(p.row_count for p in ordered),
            num_bytes=sum(p.num_bytes for p in ordered),
            created_at=utc_now(),
            columns={f.name: str(f.type) for f in _clean_schema(schema)},
            input_paths=list(input_paths),
            run_id=run_id,
            published_path=self.view_path(zone, client, dataset, partition),
            provenance=dict(provenance) if provenance is not None else None,
            parts=[
                {"name": p.name, "sha256": p.sha256, "row_count": p.row_count, "num_bytes": p.num_bytes}
                for p in ordered
            ],
        )
        entry, ours = self._commit(log, version, base_seq)
        if not ours:
            self._settle_view(zone, client, dataset, partition, "")
            return dataclasses.replace(versions_from_log([entry])[0], deduplicated=True)
        self._settle_view(zone, client, dataset, partition, "")
        return dataclasses.replace(version, commit_seq=entry.seq, committed_at=entry.at)

    def _publish_part(self, part: StagedPart, uri: str) -> None:
        """Move a staged part to its place in the version folder and seal it. A part already there (same
        name: same bytes) is kept if its bytes hash to its name, else replaced."""
        if self.fs.exists(uri):
            with contextlib.suppress(ContentHashMismatchError):
                verify(self.fs, uri, part.sha256)
                return
        self.fs.copy(part.uri, uri)
        try:
            verify(self.fs, uri, part.sha256)  # remembered: publishing the view does not hash it again
        except ContentHashMismatchError as exc:
            self.fs.delete(uri)
            raise ValueError(
                f"{part.uri}: staged part hashes to {exc.actual}, not to the {part.sha256} its writer reported"
            ) from None
        self.fs.seal(uri)

    def _replace_view(
        self,
        zone: str,
        client: str,
        dataset: str,
        partition: str,
        files: Sequence[str],
        *,
        in_lake: bool = False,
    ) -> None:
        """Make ``files`` (in order; local files, or with ``in_lake`` files of this object-store lake) the
        partition's current view: ``part-0.parquet``, ``part-1.parquet``, ...; view files beyond them (left
        by a version with more parts) are removed afterwards."""
        view_dir = paths.partition_dir(self.lake_uri, zone, client, dataset, partition)
        wanted = [paths.join(view_dir, view_file_name(i)) for i in range(len(files))]
        for source, uri in zip(files, wanted, strict=True):
            if in_lake:
                self.fs.copy(source, uri)
            else:
                self.fs.replace_with_copy(source, uri)
        if len(files) > 1 or self.fs.exists(paths.join(view_dir, view_file_name(1))):
            for info in self.fs.list_files(view_dir):
                if VIEW_FILE.match(info.uri.rsplit("/", 1)[-1]) and info.uri not in wanted:
                    self.fs.delete(info.uri)

    def _publish_version(self, staged: str, uri: str, digest: str) -> None:
        """Publish the staged bytes at their content-addressed path and seal them. A file already there is
        kept if it has the same bytes (an earlier or concurrent write of the same content) and replaced if
        not (damage: the name says what the bytes must be)."""
        if not self.fs.publish_file(staged, uri, replace=False) and self.fs.sha256(uri) != digest:
            self.fs.replace_with_copy(staged, uri)
        self.fs.seal(uri)

    def _commit(self, log: CommitLog, version: DatasetVersion, base_seq: int) -> tuple[CommitEntry, bool]:
        """Append the ``commit`` entry after ``base_seq``; pins and tombstones appended meanwhile are stepped
        over, another commit is a conflict (unless it committed the same bytes: then it is returned with
        ``False``). Returns the commit entry and whether it is this writer's."""
        seq = base_seq + 1
        txn = uuid.uuid4().hex
        while True:
            entry = CommitEntry(seq=seq, action="commit", at=utc_now(), txn=txn, version=version.to_record())
            holder = log.try_append(entry)
            if holder is None:
                return entry, True
            if holder.action == "commit":
                winner = versions_from_log([holder])[0]
                if winner.content_hash == version.content_hash:
                    return holder, False
                raise CommitConflictError(version.label, version.content_hash, winner)
            seq = holder.seq + 1

    def _settle_view(self, zone: str, client: str, dataset: str, partition: str, written: str) -> None:
        """After this writer replaced the view with ``written``: while the log's head is another version
        (committed by a racing writer), re-publish the head, so the last view written is the head's."""
        view = self.view_path(zone, client, dataset, partition)
        for _ in range(VIEW_SETTLE_ATTEMPTS):
            head = self.current(zone, client, dataset, partition)
            if head is None or head.content_hash == written:
                return
            self.publish_view(head)
            written = head.content_hash
        raise RuntimeError(f"{view}: the current view did not settle after {VIEW_SETTLE_ATTEMPTS} attempts")

    def view_files(self, version: DatasetVersion) -> dict[str, str]:
        """The current-view files ``version`` is published as, in order, each with the SHA-256 its bytes
        have: ``part-0.parquet`` for a single-file version, ``part-<i>.parquet`` for part ``i`` of a
        multi-part one."""
        view_dir = paths.partition_dir(
            self.lake_uri, version.zone, version.client, version.dataset, version.partition
        )
        if not version.parts:
            return {paths.join(view_dir, PUBLISHED_FILE): version.content_hash}
        return {
            paths.join(view_dir, view_file_name(i)): str(part["sha256"])
            for i, part in enumerate(version.parts)
        }

    def publish_view(self, version: DatasetVersion) -> str:
        """Copy ``version`` (verified against its hash) to its partition's current view; returns the view's
        first file (``part-0.parquet``). The parts of a multi-part version on an object store are copied by
        the service (server-side), after each was checked against the hash its name carries."""
        key = (version.zone, version.client, version.dataset, version.partition)
        if is_multipart_uri(version.path) and not self.fs.is_local:
            verify(self.fs, version.path, version.content_hash)
            self._replace_view(*key, version_parts(self.fs, version.path, version.content_hash), in_lake=True)
        else:
            with verified_local_files(self.fs, version.path, version.content_hash) as local:
                self._replace_view(*key, local)
        return self.view_path(*key)

    def pin(self, version: DatasetVersion, reason: str, by: str | None = None) -> CommitEntry:
        """Keep ``version`` from retention until unpinned; recorded in its partition's commit log."""
        return self._annotate(version, "pin", reason, by)

    def unpin(self, version: DatasetVersion, reason: str, by: str | None = None) -> CommitEntry:
        """Undo :meth:`pin` (recorded too)."""
        return self._annotate(version, "unpin", reason, by)

    def delete_version(self, version: DatasetVersion, reason: str, by: str | None = None) -> CommitEntry:
        """Delete a version's file, leaving a ``tombstone`` entry (written first) saying when and why."""
        entry = self._annotate(version, "tombstone", reason, by)
        self.fs.delete(version.path, recursive=version.parts is not None)
        return entry

    def _annotate(self, version: DatasetVersion, action: Any, reason: str, by: str | None) -> CommitEntry:
        if not reason or not reason.strip():
            raise ValueError(f"a {action} of {version.path} needs a reason")
        log = self.commit_log(version.zone, version.client, version.dataset, version.partition)
        return log.append(
            action,
            content_hash=version.content_hash,
            path=version.path,
            reason=reason,
            by=by or current_user(),
        )

    # --- reading -----------------------------------------------------------------------------------
    def history(self, zone: str, client: str, dataset: str, partition: str) -> list[CommitEntry]:
        """Every entry of the partition's commit log (commits, pins, unpins, tombstones), in order."""
        return self.commit_log(zone, client, dataset, partition).entries()

    def versions(self, zone: str, client: str, dataset: str, partition: str) -> list[DatasetVersion]:
        """All committed versions of a partition, oldest first (deleted ones carry ``deleted_at``)."""
        return versions_from_log(self.history(zone, client, dataset, partition))

    def current(self, zone: str, client: str, dataset: str, partition: str) -> DatasetVersion | None:
        """The version of the partition's last commit, or ``None`` if it was never written."""
        found = self.versions(zone, client, dataset, partition)
        return found[-1] if found else None

    def as_of(
        self, zone: str, client: str, dataset: str, partition: str, when: dt.datetime
    ) -> DatasetVersion | None:
        """The version that was current at ``when`` (aware, or naive = UTC), or ``None`` if none was yet."""
        when = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        chosen = None
        for version in self.versions(zone, client, dataset, partition):
            if version.committed_at and dt.datetime.fromisoformat(version.committed_at) <= when:
                chosen = version
        return chosen

    def pins(self, zone: str, client: str, dataset: str, partition: str) -> dict[str, CommitEntry]:
        """Content hash -> pin entry, for the versions of the partition pinned now."""
        return active_pins(self.history(zone, client, dataset, partition))

    def partitions(self, zone: str, client: str, dataset: str) -> list[str]:
        """Partition keys that have at least one commit log entry, sorted."""
        root = paths.join(self.lake_uri, paths.COMMITS_DIR, zone, client, dataset)
        keys = set()
        for info in self.fs.list_files(root, recursive=True):
            for part in info.uri.split("/"):
                if part.startswith(f"{PARTITION_COLUMN}="):
                    keys.add(part.split("=", 1)[1])
        return sorted(keys)

    def all_partitions(self) -> list[PartitionKey]:
        """Every partition of every dataset in every zone that has a commit log (one listing), sorted."""
        root = paths.join(self.lake_uri, paths.COMMITS_DIR)
        found = set()
        prefix = root.rstrip("/") + "/"
        for info in self.fs.list_files(root, recursive=True):
            parts = info.uri[len(prefix) :].split("/") if info.uri.startswith(prefix) else []
            if len(parts) == 5 and parts[3].startswith(f"{PARTITION_COLUMN}="):
                found.add(PartitionKey(parts[0], parts[1], parts[2], parts[3].split("=", 1)[1]))
        return sorted(found, key=lambda k: (k.zone, k.client, k.dataset, k.partition))

    def read_table(
        self, uri: str, columns: Sequence[str] | None = None, expected_hash: str | None = None
    ) -> pa.Table:
        """Read one version file into a pyarrow Table, after checking its bytes against ``expected_hash``
        (default: the hash its ``<sha256>.parquet`` name carries; a file named otherwise is not checked)."""
        expected = expected_hash or hash_from_name(uri)
        with verified_local_files(self.fs, uri, expected) as local:
            tables = [pq.read_table(part, columns=list(columns) if columns else None) for part in local]
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)

    def read_version(self, version: DatasetVersion, columns: Sequence[str] | None = None) -> pa.Table:
        """Read a version, checked against its recorded content hash."""
        return self.read_table(version.path, columns, expected_hash=version.content_hash)


# the files of a partition's current view: part-0.parquet, part-1.parquet, ...
VIEW_FILE = re.compile(r"^part-\d+\.parquet$")


def view_file_name(index: int) -> str:
    """The name of the ``index``-th file of a partition's current view (``part-<index>.parquet``)."""
    return PUBLISHED_FILE if index == 0 else f"part-{index}.parquet"


def stage_part(
    fs: LakeFileSystem,
    staging_area: str,
    index: int,
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
) -> StagedPart:
    """Write one part of a multi-part version into ``staging_area`` (from :meth:`VersionedStore.staging_area`)
    and return its :class:`StagedPart`; runs where the rows are (a Spark executor), holding one row group at a
    time. The bytes depend only on the rows, their order and ``schema`` (the store's Parquet options, row
    groups of ``ROW_GROUP_ROWS``), so the same rows give the same part hash on any machine."""
    with fs.staged_file() as local:
        row_count, _ = _write_parquet(local, batches, schema, table_layout=True)
        digest = sha256_file(local)
        num_bytes = os.path.getsize(local)
        part = StagedPart(index, "", digest, row_count, num_bytes)
        uri = paths.join(staging_area, part.name)
        fs.publish_file(local, uri, replace=True)
    return dataclasses.replace(part, uri=uri)


_END = object()


def prefetch(source: Iterable[pa.RecordBatch], depth: int = 2) -> Iterator[pa.RecordBatch]:
    """Yield ``source``'s items, producing up to ``depth`` of them ahead in a background thread.

    Lets a stream's producer (reading and typing a drop: pyarrow and polars, which release the GIL) run
    while the consumer compresses and writes the previous batch, so both cores work. At most ``depth`` + 2
    batches exist at once (queue, one being produced, one being written): memory stays bounded. An
    exception in the producer is re-raised here, unchanged; if the consumer stops early, the producer is
    told to stop and its iterator is closed.
    """
    items: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        iterator = iter(source)
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        items.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
            failure.append(exc)
        finally:
            close = getattr(iterator, "close", None)
            if stop.is_set() and close is not None:
                close()
            while True:
                try:
                    items.put(_END, timeout=0.1)
                    break
                except queue.Full:
                    if stop.is_set():
                        break

    worker = threading.Thread(target=produce, name="retina-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                break
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.1)
        worker.join()
    if failure:
        raise failure[0]


# Integer columns that count up row by row (the drop line number kept for lineage): dictionary encoding only
# costs time and space; delta encoding stores them in a few bytes per page (5M rows: 5 MB and 0.15 s with
# plain + zstd, 26 KB and 0.05 s with DELTA_BINARY_PACKED).
_SEQUENTIAL_INTEGERS = frozenset({SOURCE_ROW})


def _encoding_options(schema: pa.Schema) -> dict[str, Any]:
    """``use_dictionary`` and ``column_encoding`` arguments of the Parquet writer for ``schema``."""
    sequential = [f.name for f in schema if f.name in _SEQUENTIAL_INTEGERS and pa.types.is_integer(f.type)]
    if not sequential:
        return {"use_dictionary": True}
    return {
        "use_dictionary": [n for n in schema.names if n not in sequential],
        "column_encoding": dict.fromkeys(sequential, "DELTA_BINARY_PACKED"),
    }


ROW_GROUP_ROWS = 256_000


def _write_parquet(
    path: str, data: pa.Table | Iterable[pa.RecordBatch], schema: pa.Schema | None, table_layout: bool = False
) -> tuple[int, pa.Schema]:
    if isinstance(data, pa.Table):
        table = data.replace_schema_metadata(_clean_schema(data.schema).metadata)
        pq.write_table(
            table,
            path,
            compression=PARQUET_COMPRESSION,
            row_group_size=ROW_GROUP_ROWS,
            **_encoding_options(table.schema),
        )
        return table.num_rows, table.schema
    if schema is None:
        raise ValueError("a schema is required when writing a stream of record batches")
    schema = _clean_schema(schema)
    if table_layout:
        return _write_stream_as_table(path, data, schema), schema
    rows = 0
    # Streams are the raw zone (an archive of the drop, read whole by validation): min/max statistics are kept
    # for numeric and time columns only; string statistics cost ~20% of the encoding time for no pruning use.
    with pq.ParquetWriter(
        path,
        schema,
        compression=PARQUET_COMPRESSION,
        **_encoding_options(schema),
        write_statistics=[
            f.name for f in schema if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        ]
        or False,
    ) as writer:
        for batch in prefetch(data):
            if batch.num_rows:
                writer.write_batch(batch.cast(schema) if batch.schema != schema else batch)
                rows += batch.num_rows
    return rows, schema


def _write_stream_as_table(path: str, batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> int:
    """Write a stream exactly as ``pq.write_table`` writes the concatenated rows: row groups of
    ``ROW_GROUP_ROWS`` contiguous rows each, with the Table path's options. Holds one row group at a time."""
    rows = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    with pq.ParquetWriter(
        path, schema, compression=PARQUET_COMPRESSION, **_encoding_options(schema)
    ) as writer:

        def flush(count: int) -> None:
            nonlocal pending, pending_rows, rows
            table = pa.Table.from_batches(pending, schema=schema)
            group, rest = table.slice(0, count).combine_chunks(), table.slice(count)
            writer.write_table(group, row_group_size=ROW_GROUP_ROWS)
            rows += group.num_rows
            pending, pending_rows = rest.to_batches(), rest.num_rows

        for batch in batches:
            if not batch.num_rows:
                continue
            pending.append(batch.cast(schema) if batch.schema != schema else batch)
            pending_rows += batch.num_rows
            while pending_rows >= ROW_GROUP_ROWS:
                flush(ROW_GROUP_ROWS)
        if pending_rows:
            flush(pending_rows)
        if rows == 0:
            writer.write_table(schema.empty_table(), row_group_size=ROW_GROUP_ROWS)
    return rows
