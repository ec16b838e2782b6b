"""The IO manager that stores every asset output as an immutable, versioned Parquet file.

Contract (relied on by every stage and by users):

* ``handle_output`` writes through :class:`~retina_assets.storage.versioned_store.VersionedStore` (new
  immutable content-addressed path, atomic, deduplicated) and records on the materialization ``path``,
  ``content_hash``, ``row_count``, ``num_bytes``, ``input_paths``, ``deduplicated``, ``provenance`` (the
  version record's: code, locked environment, libraries, spec, engine, inputs with hashes; completed from
  the ``provenance`` basis the asset puts on its output) and for features ``published_path``, the hive
  partition file. The content hash is reported as the materialization's data version.
* ``load_input`` returns a :class:`DatasetRef` for **exactly** the path the upstream materialization of
  that partition recorded in the Dagster event log, never "whatever is newest in the folder". Outside a
  Dagster run (no instance) it falls back to the lake's own version records. An input declared with
  ``metadata={HISTORY_INPUT: True}`` (a ``history`` feature) gets an :class:`InputHistory`: the exact
  version recorded for every partition up to the one being built, without those whose blocking checks
  failed.

Asset keys follow the lake's naming contract (:class:`~retina_assets.model.naming.DatasetName`), from which
zone, client and dataset are derived.
"""

import dataclasses
import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import dagster as dg

from retina_assets.defs.gate import FAILED_BLOCKING
from retina_assets.defs.instance import latest_materialization, latest_materializations_up_to
from retina_assets.defs.metadata import to_metadata
from retina_assets.defs.resources import LakeResource
from retina_assets.model.naming import DatasetName
from retina_assets.model.provenance import complete_provenance
from retina_assets.storage.content_store import hash_from_name
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import (
    DatasetVersion,
    RecordBatchStream,
    StagedVersion,
    VersionedStore,
    output_input_paths,
)

# (run_id, step_key) -> input paths loaded by that step; load_input and handle_output of one step run in
# one process, so this lets every output record the exact versions it was computed from.
_LOADED_INPUTS: dict[tuple[str, str], list[str]] = defaultdict(list)
_LOADED_LOCK = threading.Lock()
# input metadata key: load every partition of the upstream up to this one (an InputHistory)
HISTORY_INPUT = "retina/history"


def dataset_name(asset_key: dg.AssetKey) -> DatasetName:
    """The lake dataset an asset key names (``[client, validated_orders]`` -> validated/client/orders)."""
    return DatasetName.parse(asset_key.path)


def version_metadata(version: DatasetVersion) -> dict[str, Any]:
    """Materialization metadata for a stored version (shown in the UI, used by ``load_input``)."""
    meta: dict[str, Any] = {
        "path": dg.MetadataValue.path(version.path),
        "content_hash": version.content_hash,
        "row_count": dg.MetadataValue.int(version.row_count),
        "dagster/row_count": dg.MetadataValue.int(version.row_count),
        "num_bytes": dg.MetadataValue.int(version.num_bytes),
        # files the version is made of: 1, or the parts of a multi-part version (its path is their folder)
        "parts": dg.MetadataValue.int(len(version.parts) if version.parts else 1),
        "input_paths": dg.MetadataValue.json(list(version.input_paths)),
        "deduplicated": dg.MetadataValue.bool(version.deduplicated),
        "created_at": version.created_at,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, type_) for name, type_ in version.columns.items()]
        ),
    }
    if version.published_path:
        meta["published_path"] = dg.MetadataValue.path(version.published_path)
    if version.provenance is not None:
        meta[PROVENANCE] = dg.MetadataValue.json(version.provenance)
    return meta


PROVENANCE = "provenance"  # metadata key: the asset's provenance basis in, the full record out
DATA_VERSION_TAG = "dagster/data_version"
CODE_VERSION_TAG = "dagster/code_version"


def provenance_inputs(
    input_paths: list[str], given: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Provenance inputs for ``input_paths``: the ``given`` entries for paths they describe (archived drops),
    else path and the hash its content-addressed name carries."""
    known = {str(entry["path"]): entry for entry in given or []}
    return [known.get(path) or {"path": path, "sha256": hash_from_name(path)} for path in input_paths]


def write_output(
    store: VersionedStore,
    name: DatasetName,
    partition: str,
    obj: Any,
    input_paths: list[str],
    run_id: str | None,
    basis: dict[str, Any] | None = None,
) -> tuple[DatasetVersion, dict[str, Any]]:
    """Write one output (a table or frame, a :class:`RecordBatchStream`, or a :class:`StagedVersion` whose
    parts executors already wrote) as a version of ``name``; returns
    the version and the output's own metadata (plain values). ``basis`` (from
    :func:`retina_assets.model.provenance.provenance_basis`, optionally with ``inputs``) is completed into the
    version's provenance record."""
    paths = output_input_paths(obj, input_paths)
    provenance = None
    if basis is not None:
        given = basis.get("inputs")
        core = {k: v for k, v in basis.items() if k != "inputs"}
        provenance = complete_provenance(core, provenance_inputs(paths, given), run_id, partition)
    version = store.write_output(
        name.zone,
        name.client,
        name.dataset,
        partition,
        obj,
        input_paths=input_paths,
        run_id=run_id,
        provenance=provenance,
    )
    if isinstance(obj, StagedVersion):
        return version, dict(obj.metadata)
    if isinstance(obj, RecordBatchStream):
        after = obj.after_write() if obj.after_write is not None else {}
        return version, {**obj.metadata, **after}
    return version, {}


def version_tags(version: DatasetVersion) -> dict[str, str]:
    """Tags that make a materialization recorded by hand (not through the IO manager) carry the version's
    content hash as its data version and the code version it was made with."""
    tags = {DATA_VERSION_TAG: version.content_hash}
    code_version = (version.provenance or {}).get("code_version")
    if code_version:
        tags[CODE_VERSION_TAG] = str(code_version)
    return tags


@dataclasses.dataclass(frozen=True)
class InputHistory:
    """What a history input loads: the exact version of each partition up to the one being built, and the
    partitions left out because their blocking checks failed (partition -> failed checks)."""

    refs: tuple[DatasetRef, ...]
    excluded: dict[str, list[str]]


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores outputs as immutable versions in ``lake`` (the :class:`LakeResource` the assets also use)."""

    lake: LakeResource

    def _options(self) -> dict[str, Any] | None:
        return self.lake.storage_options()

    def _store(self) -> VersionedStore:
        return self.lake.store()

    # --- output ------------------------------------------------------------------------------------
    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        loaded = _pop_loaded(context.run_id, context.step_key)
        if obj is None:  # a ranged step wrote its days itself (record_partition)
            return
        partition = context.asset_partition_key
        basis = (context.output_metadata or {}).get(PROVENANCE)
        basis = getattr(basis, "value", basis)
        version, extra = write_output(
            self._store(), dataset_name(context.asset_key), partition, obj, loaded, context.run_id,
            dict(basis) if isinstance(basis, dict) else None,
        )  # fmt: skip
        # the content hash is the data version: identical bytes leave downstream assets fresh
        context.step_context.set_data_version(context.asset_key, dg.DataVersion(version.content_hash))
        context.log.info(written_message(context.asset_key, partition, version))
        context.add_output_metadata({**version_metadata(version), **to_metadata(extra)})

    # --- input -------------------------------------------------------------------------------------
    def load_input(
        self, context: dg.InputContext
    ) -> DatasetRef | InputHistory | dict[str, DatasetRef] | dict[str, InputHistory]:
        upstream_key = context.asset_key
        history = bool((context.definition_metadata or {}).get(HISTORY_INPUT))
        partitions = list(context.asset_partition_keys)
        if len(partitions) > 1:  # a ranged run: every day of the range, each from its own record
            if history:
                return self._load_history_range(context, upstream_key, partitions)
            # the step records each day's inputs itself (record_partition), so nothing is tracked here
            return {
                partition: self._load_one(context, upstream_key, partition, track=False)
                for partition in partitions
            }
        partition = context.asset_partition_key
        if history:
            return self._load_history(context, upstream_key, partition)
        return self._load_one(context, upstream_key, partition)

    def _load_one(
        self, context: dg.InputContext, upstream_key: dg.AssetKey, partition: str, track: bool = True
    ) -> DatasetRef:
        """The exact version the latest materialization of ``upstream_key``/``partition`` recorded."""
        ref = _ref_from_event_log(context, upstream_key, partition)
        if ref is None:
            name = dataset_name(upstream_key)
            current = self._store().current(name.zone, name.client, name.dataset, partition)
            if current is None:
                raise dg.Failure(
                    f"{upstream_key.to_user_string()} has no materialization for partition {partition}: "
                    "materialize it first"
                )
            ref = DatasetRef(current.path, current.content_hash, current.row_count, partition)
        ref = dataclasses.replace(ref, storage_options=self._options())
        step = _run_and_step(context) if track else None
        if step is not None:
            with _LOADED_LOCK:
                _LOADED_INPUTS[step].append(ref.uri)
        context.log.info(f"loading {upstream_key.to_user_string()} [{partition}] from {ref.uri}")
        return ref

    def _load_history_range(
        self, context: dg.InputContext, key: dg.AssetKey, partitions: list[str]
    ) -> dict[str, InputHistory]:
        """:meth:`_load_history` for every day of a ranged run, from one event-log query."""
        recorded = latest_materializations_up_to(context.instance, key, max(partitions))
        return {
            partition: self._load_history(
                context, key, partition, {k: m for k, m in recorded.items() if k <= partition}, track=False
            )
            for partition in partitions
        }

    def _load_history(
        self,
        context: dg.InputContext,
        key: dg.AssetKey,
        partition: str,
        recorded: dict[str, dg.AssetMaterialization] | None = None,
        track: bool = True,
    ) -> InputHistory:
        """Every partition of ``key`` up to ``partition``: the exact version each one's latest
        materialization recorded, leaving out (and naming) those whose blocking checks failed."""
        if recorded is None:
            recorded = latest_materializations_up_to(context.instance, key, partition)
        refs: list[DatasetRef] = []
        excluded: dict[str, list[str]] = {}
        for key_of, materialization in recorded.items():
            failed = materialization.metadata.get(FAILED_BLOCKING)
            if failed is not None and failed.value:
                excluded[key_of] = list(failed.value)  # type: ignore[arg-type]
                continue
            ref = _ref_from_metadata(materialization.metadata, key_of)
            if ref is not None:
                refs.append(dataclasses.replace(ref, storage_options=self._options()))
        if partition not in recorded:
            raise dg.Failure(
                f"{key.to_user_string()} has no materialization for partition {partition}: materialize it first"
            )
        step = _run_and_step(context) if track else None
        if step is not None:
            with _LOADED_LOCK:
                _LOADED_INPUTS[step].extend(ref.uri for ref in refs)
        context.log.info(
            f"loading {key.to_user_string()} history up to [{partition}]: {len(refs)} partition(s)"
            + (
                f", left out {len(excluded)} with failed blocking checks: {sorted(excluded)}"
                if excluded
                else ""
            )
        )
        return InputHistory(tuple(refs), excluded)


def written_message(key: dg.AssetKey, partition: str, version: DatasetVersion) -> str:
    """The run-log line for one written version."""
    return (
        f"{key.to_user_string()} [{partition}]: "
        + ("unchanged, reusing " if version.deduplicated else "wrote ")
        + f"{version.row_count:,} rows -> {version.path}"
    )


def record_partition(
    context: dg.AssetExecutionContext,
    store: VersionedStore,
    key: dg.AssetKey,
    partition: str,
    obj: Any,
    input_paths: list[str],
    metadata: dict[str, Any],
) -> DatasetVersion:
    """In a ranged run: write one day's output of ``key`` as a version (as :meth:`LakeIOManager.handle_output`
    does) and attach to that day's materialization the asset's own ``metadata`` (with its ``provenance``
    basis) plus the version's metadata: the same keys and values a single-day run records. The step then
    yields ``Output(None)``; Dagster records one materialization per day of the range with its own metadata."""
    basis = metadata.get(PROVENANCE)
    basis = getattr(basis, "value", basis)
    version, extra = write_output(
        store, dataset_name(key), partition, obj, input_paths, context.run_id,
        dict(basis) if isinstance(basis, dict) else None,
    )  # fmt: skip
    context.add_asset_metadata(
        {**metadata, **version_metadata(version), **to_metadata(extra)},
        asset_key=key,
        partition_key=partition,
    )
    context.log.info(written_message(key, partition, version))
    return version


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
    materialization = latest_materialization(instance, key, partition)
    return _ref_from_metadata(materialization.metadata if materialization is not None else {}, partition)


def _ref_from_metadata(meta: Mapping[str, Any], partition: str) -> DatasetRef | None:
    """The version a materialization's metadata records (``path``, ``content_hash``, ``row_count``)."""
    if "path" not in meta:
        return None
    rows = meta.get("row_count")
    return DatasetRef(
        uri=str(meta["path"].value),
        content_hash=str(meta["content_hash"].value) if "content_hash" in meta else None,
        row_count=int(rows.value) if rows is not None else None,  # type: ignore[arg-type]
        partition=partition,
    )
