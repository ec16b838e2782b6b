"""The raw stage: one dataset's drops of one ``as_of_date`` converted into a stream of typed raw rows.

:func:`convert_partition` finds the partition's drops (:func:`~retina_assets.ingestion.landing.complete_drops_for_partition`:
a drop still being uploaded, by the client's completeness rule, fails the run whoever started it), snapshots
and checks every file before a byte is written (a drop whose content is not what the sensor saw fails), compares the drops' schema with the previous
partition's (the dataset's ``drift`` policy decides: ``accept`` and ``warn`` report, ``fail`` raises
:class:`DriftPolicyError`), and returns a :class:`RecordBatchStream` to write as the raw version, with its
metadata. The Dagster raw asset and any Dagster-free caller (a notebook, a rebuild) run exactly this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from retina_assets.ingestion.drift import DriftReport, compare_schemas, merge_schemas
from retina_assets.ingestion.landing import Drop, complete_drops_for_partition
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.ingestion.snapshot import DropChangedError
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.versioned_store import RecordBatchStream


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
    stream: RecordBatchStream


def convert_partition(
    fs: LakeFileSystem,
    landing_uri: str,
    client: ClientSpec,
    dataset: str,
    partition: str,
    previous_schema: tuple[str | None, dict[str, str] | None] = (None, None),
    log: Callable[[str], None] | None = None,
    expected_sha256: Mapping[str, str] | None = None,
) -> RawPartition:
    """Prepare the raw version of ``client``/``dataset`` for ``partition`` (see the module docstring).

    ``previous_schema`` is ``(partition, drop schema)`` of the latest earlier partition, the reference for
    drift. ``expected_sha256`` (drop name -> SHA-256) is the content the run was started for (the sensor's
    ``retina/drop`` and ``retina/sha256`` run tags). Raises :class:`NoDropError`,
    :class:`~retina_assets.ingestion.landing.IncompleteDropError`,
    :class:`~retina_assets.ingestion.readers.DropReadError` (its subclasses
    :class:`~retina_assets.ingestion.drop_stream.DropLimitError` and
    :class:`~retina_assets.ingestion.snapshot.DropChangedError`) or
    :class:`~retina_assets.ingestion.coercion.SchemaMismatchError` (naming the file) before anything is
    written, and :class:`DriftPolicyError` when the policy is ``fail`` and the schema drifted.
    """
    spec = client.datasets[dataset]
    say = log or (lambda _msg: None)
    drops = complete_drops_for_partition(fs, landing_uri, client, dataset, partition)
    if not drops:
        raise NoDropError(f"no `{dataset}` drop for {partition} in {landing_uri} (pattern {spec.pattern!r})")
    missing = sorted(set(expected_sha256 or {}) - {d.name for d in drops})
    if missing:
        raise DropChangedError(
            missing[0], "this run was started for this drop, but it is no longer in the landing location"
        )
    say(f"converting {len(drops)} drop(s): {[d.name for d in drops]}")
    conversion = DropConversion(drops, spec, fs, progress=say, expected_sha256=expected_sha256)
    schema = merge_schemas(list(conversion.drop_schemas().values()))
    report = compare_schemas(previous_schema[1], schema, previous_schema[0])
    drift_meta = {
        "schema_drift": {**report.to_dict(), "policy": spec.drift},
        "schema_drift_summary": report.summary(),
    }
    what = f"{client.client}/{dataset} [{partition}]"
    if report.has_drift and spec.drift == "fail":
        raise DriftPolicyError(
            f"{what}: {report.summary()}. The dataset's drift policy is 'fail', so nothing was written: "
            "update the client spec (columns, or drift: warn|accept) and re-run.",
            drift_meta,
        )
    stream = RecordBatchStream(
        schema=conversion.schema,
        batches=conversion.batches(),
        input_paths=[d.uri for d in drops],
        metadata={
            "drop_files": [
                {
                    "name": d.name,
                    "uri": d.uri,
                    "bytes": conversion.snapshots[d.uri].size,
                    "token": d.token,
                    "sha256": conversion.snapshots[d.uri].sha256,
                }
                for d in drops
            ],
            "drop_columns": conversion.stats.drop_columns,
            "extra_columns": conversion.extra_columns,
            "drop_schema": schema,
            "declared_types": {n: c.type for n, c in spec.columns.items()},
            **drift_meta,
        },
        after_write=lambda: {
            "rows_with_unparseable_values": conversion.stats.rows_with_errors,
            "rows_per_file": conversion.stats.rows_per_file,
            "conversion_seconds": round(conversion.stats.seconds, 3),
        },
    )
    return RawPartition(drops, report, stream)
