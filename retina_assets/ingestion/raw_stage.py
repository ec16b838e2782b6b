"""The raw stage: one dataset's drops of one ``as_of_date`` converted into a stream of typed raw rows.

:func:`convert_partition` finds the partition's drops (:func:`~retina_assets.ingestion.landing.complete_drops_for_partition`:
a drop still being uploaded, by the client's completeness rule, fails the run whoever started it), reads each
drop once into a local snapshot hashed as it is copied (a drop whose content is not what the sensor saw
fails), keeps each drop's bytes in the lake's archive (:func:`snapshot_drops`, :func:`archive_drops`; a raw
version's inputs are the archived drops, so it can be rebuilt with :func:`convert_archived_drops` after the
landing file changed), opens and checks every file before a byte is written, compares the drops' schema with the previous
partition's (the dataset's ``drift`` policy decides: ``accept`` and ``warn`` report, ``fail`` raises
:class:`DriftPolicyError`), and returns a :class:`RecordBatchStream` to write as the raw version, with its
metadata. The Dagster raw asset and any Dagster-free caller (a notebook, a rebuild) run exactly this.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from retina_assets.ingestion.drift import DriftReport, compare_schemas, merge_schemas
from retina_assets.ingestion.landing import Drop, complete_drops_for_partition
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.snapshot import DropChangedError, FileSnapshot, snapshot_file
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.content_store import (
    ArchivedDrop,
    ContentMismatchError,
    archive_local_file,
    archive_uri,
    copy_hashing,
)
from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.versioned_store import RecordBatchStream, StagedVersion


class NoDropError(LookupError):
    """No drop of the dataset for the partition in the landing location."""


class DriftPolicyError(ValueError):
    """The drop's schema drifted and the dataset's drift policy is ``fail``: nothing is written."""

    def __init__(self, message: str, metadata: dict[str, Any]):
        super().__init__(message)
        self.metadata = metadata


@dataclass
class RawPartition:
    """What :func:`convert_partition` prepared: the drops, the drift report and the stream to write."""

    drops: list[Drop]
    drift: DriftReport
    stream: RecordBatchStream | StagedVersion  # a StagedVersion when Spark's executors wrote the rows
    archived: list[ArchivedDrop] = field(default_factory=list)  # the drops as kept in the lake's archive


def snapshot_drops(
    landing_fs: LakeFileSystem, lake_fs: LakeFileSystem, drops: list[Drop], max_bytes: int | None = None
) -> tuple[dict[str, FileSnapshot], tempfile.TemporaryDirectory[str]]:
    """Read each landing file once into a local snapshot in the lake's staging area
    (:func:`~retina_assets.ingestion.snapshot.snapshot_file`: hashed while copied, refused if it changes
    meanwhile). The conversion then reads the snapshot, so what is converted is exactly what is archived even
    if the client rewrites the landing file. Returns (drop URI -> snapshot, the folder holding them)."""
    workdir = tempfile.TemporaryDirectory(prefix="retina-drop-", dir=lake_fs.staging_dir())
    try:
        return {
            d.uri: snapshot_file(landing_fs, d.uri, workdir.name, d.name, max_bytes) for d in drops
        }, workdir
    except BaseException:
        workdir.cleanup()
        raise


def archive_drops(
    lake_fs: LakeFileSystem,
    client: str,
    dataset: str,
    drops: list[Drop],
    snapshots: Mapping[str, FileSnapshot],
) -> dict[str, ArchivedDrop]:
    """Keep each drop's snapshot in the lake's archive, ``<lake>/archive/<client>/<dataset>/<sha256>.<ext>``
    (immutable; the same bytes are kept once). Returns drop URI -> archived drop."""
    return {
        d.uri: archive_local_file(
            lake_fs, client, dataset, snapshots[d.uri].path, snapshots[d.uri].sha256, d.uri, d.name
        )
        for d in drops
    }


def partition_drops(
    fs: LakeFileSystem,
    landing_uri: str,
    client: ClientSpec,
    dataset: str,
    partition: str,
    expected_sha256: Mapping[str, str] | None = None,
) -> list[Drop]:
    """The complete drops of ``client``/``dataset`` for ``partition`` (by the client's completeness rule);
    raises :class:`NoDropError` when there is none and
    :class:`~retina_assets.ingestion.snapshot.DropChangedError` when a drop the run was started for
    (``expected_sha256``, drop name -> SHA-256) is gone."""
    spec = client.datasets[dataset]
    drops = complete_drops_for_partition(fs, landing_uri, client, dataset, partition)
    if not drops:
        raise NoDropError(f"no `{dataset}` drop for {partition} in {landing_uri} (pattern {spec.pattern!r})")
    missing = sorted(set(expected_sha256 or {}) - {d.name for d in drops})
    if missing:
        raise DropChangedError(
            missing[0], "this run was started for this drop, but it is no longer in the landing location"
        )
    return drops


def convert_partition(
    fs: LakeFileSystem,
    landing_uri: str,
    client: ClientSpec,
    dataset: str,
    partition: str,
    previous_schema: tuple[str | None, dict[str, str] | None] = (None, None),
    log: Callable[[str], None] | None = None,
    archive: LakeFileSystem | None = None,
    expected_sha256: Mapping[str, str] | None = None,
) -> RawPartition:
    """Prepare the raw version of ``client``/``dataset`` for ``partition`` (see the module docstring).

    ``previous_schema`` is ``(partition, drop schema)`` of the latest earlier partition, the reference for
    drift. With ``archive`` (the lake's filesystem) each drop is read once into a local snapshot
    (:func:`snapshot_drops`), checked, and kept in the lake's archive (:func:`archive_drops`); the stream
    reads the snapshots and its inputs are the archived drops; without it the drops are snapshotted by the
    conversion and the landing files are the inputs. ``expected_sha256`` (drop name -> SHA-256) is the
    content the run was started for (the sensor's ``retina/drop`` and ``retina/sha256`` run tags). Raises
    :class:`NoDropError`, :class:`~retina_assets.ingestion.landing.IncompleteDropError`,
    :class:`~retina_assets.ingestion.readers.DropReadError` (its subclasses
    :class:`~retina_assets.ingestion.drop_stream.DropLimitError` and
    :class:`~retina_assets.ingestion.snapshot.DropChangedError`) or
    :class:`~retina_assets.ingestion.coercion.SchemaMismatchError` (naming the file) before anything is
    written, and :class:`DriftPolicyError` when the policy is ``fail`` and the schema drifted.
    """
    spec = client.datasets[dataset]
    say = log or (lambda _msg: None)
    drops = partition_drops(fs, landing_uri, client, dataset, partition, expected_sha256)
    say(f"converting {len(drops)} drop(s): {[d.name for d in drops]}")
    if archive is None:
        conversion = DropConversion(drops, spec, fs, progress=say, expected_sha256=expected_sha256)
        return _prepare(client, dataset, partition, drops, conversion, {}, previous_schema)
    snapshots, workdir = snapshot_drops(fs, archive, drops, spec.limits.max_bytes)
    try:
        conversion = DropConversion(
            drops,
            spec,
            None,
            progress=say,
            snapshots=snapshots,
            workdir=workdir,
            expected_sha256=expected_sha256,
        )
        archived = planned_archive(archive, client.client, dataset, drops, snapshots)

        def keep() -> None:
            # once every batch was read (a drop refused half-way leaves nothing in the lake), before the raw
            # version that lists the archived drops is published
            archive_drops(archive, client.client, dataset, drops, snapshots)
            say("archived: " + ", ".join(f"{d.name} -> {d.uri}" for d in archived.values()))

        return _prepare(client, dataset, partition, drops, conversion, archived, previous_schema, at_end=keep)
    except BaseException:
        workdir.cleanup()  # a refused drop leaves no snapshot behind
        raise


def planned_archive(
    archive: LakeFileSystem,
    client: str,
    dataset: str,
    drops: Sequence[Drop],
    snapshots: Mapping[str, FileSnapshot],
) -> dict[str, ArchivedDrop]:
    """Landing URI -> where each snapshotted drop is (or will be) kept in the lake's archive, by its hash."""
    return {
        d.uri: ArchivedDrop(
            archive_uri(archive.root_uri, client, dataset, snapshots[d.uri].sha256, d.name),
            snapshots[d.uri].sha256,
            d.uri,
            d.name,
            snapshots[d.uri].size,
        )  # fmt: skip
        for d in drops
    }


def convert_archived_drops(
    lake_fs: LakeFileSystem,
    client: ClientSpec,
    dataset: str,
    partition: str,
    inputs: list[ArchivedDrop],
    log: Callable[[str], None] | None = None,
) -> RawPartition:
    """Prepare a raw version again from archived drops (a rebuild): each archived file is copied locally and
    checked against its hash (:class:`~retina_assets.storage.content_store.ContentMismatchError`), then
    converted exactly as at landing, with each row's ``_source_file`` the original landing file. The landing
    location is not read, so this works after the client replaced or deleted its file. No drift reference
    is used (drift changes metadata, not rows)."""
    drops, snapshots, workdir = archived_snapshots(lake_fs, dataset, partition, inputs)
    spec = client.datasets[dataset]
    try:
        conversion = DropConversion(drops, spec, None, progress=log, snapshots=snapshots, workdir=workdir)
        archived = {item.source: item for item in inputs}
        return _prepare(
            client, dataset, partition, drops, conversion, archived, (None, None), check_drift=False
        )
    except BaseException:
        workdir.cleanup()
        raise


def archived_snapshots(
    lake_fs: LakeFileSystem, dataset: str, partition: str, inputs: list[ArchivedDrop]
) -> tuple[list[Drop], dict[str, FileSnapshot], tempfile.TemporaryDirectory[str]]:
    """Local copies of archived drops, each checked against its hash while copied
    (:class:`~retina_assets.storage.content_store.ContentMismatchError`): the drops (named by their landing
    files), drop URI -> snapshot, and the folder holding them (the caller removes it)."""
    workdir = tempfile.TemporaryDirectory(prefix="retina-drop-", dir=lake_fs.staging_dir())
    drops: list[Drop] = []
    snapshots: dict[str, FileSnapshot] = {}
    for i, item in enumerate(inputs):
        local = os.path.join(workdir.name, f"{i}-{item.name}")
        digest = copy_hashing(lake_fs, item.uri, local)
        if digest != item.sha256:
            workdir.cleanup()
            raise ContentMismatchError(item.uri, item.sha256, digest)
        drops.append(Drop(item.source, item.name, item.size, item.sha256, dataset, partition))
        snapshots[item.source] = FileSnapshot(item.source, local, digest, os.path.getsize(local))
    return drops, snapshots, workdir


def _prepare(
    client: ClientSpec,
    dataset: str,
    partition: str,
    drops: list[Drop],
    conversion: DropConversion,
    archived: dict[str, ArchivedDrop],
    previous_schema: tuple[str | None, dict[str, str] | None],
    check_drift: bool = True,
    at_end: Callable[[], None] | None = None,
) -> RawPartition:
    report, metadata = describe_partition(
        client, dataset, partition, drops, conversion, archived, previous_schema, check_drift
    )
    stream = RecordBatchStream(
        schema=conversion.schema,
        batches=conversion.batches(on_complete=at_end),
        input_paths=[archived[d.uri].uri if d.uri in archived else d.uri for d in drops],
        metadata=metadata,
        after_write=lambda: {
            "rows_with_unparseable_values": conversion.stats.rows_with_errors,
            "rows_per_file": conversion.stats.rows_per_file,
            "conversion_seconds": round(conversion.stats.seconds, 3),
        },
    )
    return RawPartition(drops, report, stream, [archived[d.uri] for d in drops if d.uri in archived])


def describe_partition(
    client: ClientSpec,
    dataset: str,
    partition: str,
    drops: list[Drop],
    conversion: DropConversion,
    archived: Mapping[str, ArchivedDrop],
    previous_schema: tuple[str | None, dict[str, str] | None],
    check_drift: bool = True,
) -> tuple[DriftReport, dict[str, Any]]:
    """The drift report and the metadata of a raw version known before its rows are read (drop files,
    columns, drop schema, declared types, drift), the same whichever engine converts the rows; raises
    :class:`DriftPolicyError` when the schema drifted and the dataset's policy is ``fail``."""
    spec = client.datasets[dataset]
    schema = merge_schemas(list(conversion.drop_schemas().values()))
    report = compare_schemas(previous_schema[1], schema, previous_schema[0])
    drift_meta = {
        "schema_drift": {**report.to_dict(), "policy": spec.drift},
        "schema_drift_summary": report.summary(),
    }
    what = f"{client.client}/{dataset} [{partition}]"
    if check_drift and report.has_drift and spec.drift == "fail":
        raise DriftPolicyError(
            f"{what}: {report.summary()}. The dataset's drift policy is 'fail', so nothing was written: "
            "update the client spec (columns, or drift: warn|accept) and re-run.",
            drift_meta,
        )
    files = []
    for d in drops:
        snap = conversion.snapshots[d.uri]
        entry: dict[str, Any] = {
            "name": d.name, "uri": d.uri, "bytes": snap.size, "token": d.token, "sha256": snap.sha256,
        }  # fmt: skip
        if d.uri in archived:
            entry["archived"] = archived[d.uri].uri
        files.append(entry)
    return report, {
        "drop_files": files,
        "drop_columns": conversion.stats.drop_columns,
        "extra_columns": conversion.extra_columns,
        "drop_schema": schema,
        "declared_types": {n: c.type for n, c in spec.columns.items()},
        **drift_meta,
    }
