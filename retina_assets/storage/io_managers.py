"""The IO manager that stores every asset output as an immutable, versioned Parquet file.

Contract (relied on by every stage and by users):

* ``handle_output`` writes through :class:`~retina_assets.storage.versioned_store.VersionedStore` (new
  immutable content-addressed path, atomic, deduplicated) and records on the materialization ``path``,
  ``content_hash``, ``row_count``, ``num_bytes``, ``input_paths``, ``deduplicated`` (and for features
  ``published_path``, the hive partition file).
* ``load_input`` returns a :class:`DatasetRef` for **exactly** the path the upstream materialization of
  that partition recorded in the Dagster event log, never "whatever is newest in the folder". Outside a
  Dagster run (no instance) it falls back to the lake's own version records.

Asset keys follow the lake's naming contract, from which zone and dataset are derived:
``[client, raw_<dataset>]``, ``[client, validated_<dataset>]``, ``[client, rejected_<dataset>]`` and
``[client, <feature>]``.
"""

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import pyarrow as pa

from retina_assets.storage.credentials import StorageCredentials
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore, table_from_any

_ZONE_PREFIXES = (("raw_", "raw"), ("validated_", "validated"), ("rejected_", "rejected"))

# (run_id, step_key) -> input paths loaded by that step; load_input and handle_output of one step run in
# one process, so this lets every output record the exact versions it was computed from.
_LOADED_INPUTS: dict[tuple[str, str], list[str]] = defaultdict(list)
_LOADED_LOCK = threading.Lock()


def zone_and_dataset(asset_key: dg.AssetKey) -> tuple[str, str, str]:
    """``(zone, client, dataset)`` for an asset key of the lake's naming contract."""
    if len(asset_key.path) != 2:
        raise ValueError(f"asset key {asset_key.to_user_string()} is not of the form <client>/<name>")
    client, name = asset_key.path
    for prefix, zone in _ZONE_PREFIXES:
        if name.startswith(prefix):
            return zone, client, name[len(prefix) :]
    return "features", client, name


@dataclass
class RecordBatchStream:
    """An output too large to hold in memory: a schema and an iterator of batches, written as streamed.

    ``input_paths`` are the sources the batches came from (e.g. the landing files of a drop) and
    ``metadata`` is added to the materialization.
    """

    schema: pa.Schema
    batches: Iterable[pa.RecordBatch]
    input_paths: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    table_layout: bool = False  # write as the same rows in one Table would be (see VersionedStore.write)
    after_write: Callable[[], dict[str, Any]] | None = None  # metadata known only once streamed


def version_metadata(version: DatasetVersion) -> dict[str, Any]:
    """Materialization metadata for a stored version (shown in the UI, used by ``load_input``)."""
    meta: dict[str, Any] = {
        "path": dg.MetadataValue.path(version.path),
        "content_hash": version.content_hash,
        "row_count": dg.MetadataValue.int(version.row_count),
        "dagster/row_count": dg.MetadataValue.int(version.row_count),
        "num_bytes": dg.MetadataValue.int(version.num_bytes),
        "input_paths": dg.MetadataValue.json(list(version.input_paths)),
        "deduplicated": dg.MetadataValue.bool(version.deduplicated),
        "created_at": version.created_at,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, type_) for name, type_ in version.columns.items()]
        ),
    }
    if version.published_path:
        meta["published_path"] = dg.MetadataValue.path(version.published_path)
    return meta


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores outputs as immutable versions in the lake at ``lake_uri`` (local path, s3:// or abfs://)."""

    lake_uri: str
    credentials: StorageCredentials = StorageCredentials()

    def _options(self) -> dict[str, Any] | None:
        return self.credentials.storage_options(self.lake_uri)

    def _store(self) -> VersionedStore:
        return VersionedStore(self.lake_uri, storage_options=self._options())

    # --- output ------------------------------------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        zone, client, dataset = zone_and_dataset(context.asset_key)
        partition = context.asset_partition_key
        store = self._store()
        loaded = _pop_loaded(context.run_id, context.step_key)
        extra: dict[str, Any] = {}
        if isinstance(obj, RecordBatchStream):
            inputs = [*obj.input_paths, *loaded]
            extra = obj.metadata
            version = store.write(
                zone, client, dataset, partition, obj.batches, schema=obj.schema,
                input_paths=inputs, run_id=context.run_id, table_layout=obj.table_layout,
            )  # fmt: skip
            if obj.after_write is not None:
                extra = {**extra, **obj.after_write()}
        else:
            version = store.write(
                zone, client, dataset, partition, table_from_any(obj), input_paths=loaded,
                run_id=context.run_id,
            )  # fmt: skip
        context.log.info(
            f"{context.asset_key.to_user_string()} [{partition}]: "
            + ("unchanged, reusing " if version.deduplicated else "wrote ")
            + f"{version.row_count:,} rows -> {version.path}"
        )
        context.add_output_metadata({**version_metadata(version), **extra})

    # --- input -------------------------------------------------------------------------------------
    def load_input(self, context: dg.InputContext) -> DatasetRef:
        upstream_key = context.asset_key
        partition = context.asset_partition_key
        ref = _ref_from_event_log(context, upstream_key, partition)
        if ref is None:
            zone, client, dataset = zone_and_dataset(upstream_key)
            current = self._store().current(zone, client, dataset, partition)
            if current is None:
                raise dg.Failure(
                    f"{upstream_key.to_user_string()} has no materialization for partition {partition}: "
                    "materialize it first"
                )
            ref = DatasetRef(current.path, current.content_hash, current.row_count, partition)
        ref = dataclasses.replace(ref, storage_options=self._options())
        step = _run_and_step(context)
        if step is not None:
            with _LOADED_LOCK:
                _LOADED_INPUTS[step].append(ref.uri)
        context.log.info(f"loading {upstream_key.to_user_string()} [{partition}] from {ref.uri}")
        return ref


def _run_and_step(context: dg.InputContext) -> tuple[str, str] | None:
    try:
        return context.step_context.run_id, context.step_context.step.key
    except (dg.DagsterInvariantViolationError, AttributeError):
        return None


def _pop_loaded(run_id: str, step_key: str) -> list[str]:
    with _LOADED_LOCK:
        return list(dict.fromkeys(_LOADED_INPUTS.get((run_id, step_key), [])))


def _ref_from_event_log(context: dg.InputContext, key: dg.AssetKey, partition: str) -> DatasetRef | None:
    """The version the latest materialization of ``key``/``partition`` recorded, from the event log."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:
        return None
    result = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    )
    if not result.records:
        return None
    materialization = result.records[0].asset_materialization
    assert materialization is not None
    meta = materialization.metadata
    if "path" not in meta:
        return None
    rows = meta.get("row_count")
    return DatasetRef(
        uri=str(meta["path"].value),
        content_hash=str(meta["content_hash"].value) if "content_hash" in meta else None,
        row_count=int(rows.value) if rows is not None else None,  # type: ignore[arg-type]
        partition=partition,
    )
