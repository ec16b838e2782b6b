"""Rebuild a recorded version from its recorded inputs and spec, and say whether the bytes are the same.

    python -m retina_assets.verify <version path>
    python -m retina_assets.verify demo/validated_orders --partition 2010-12-01 [--recursive]
    python -m retina_assets.verify demo/raw_orders --partition 2010-12-01 --spec current

Every version's record carries its provenance (:mod:`retina_assets.model.provenance`): the stage, the engine,
the client spec it was made with (stored once under ``<lake>/_specs/``), and its inputs with their hashes
(raw: the archived drops under ``<lake>/archive/``). :func:`rebuild` copies the inputs into a scratch folder
(checking each against its recorded hash), runs the same stage (:mod:`retina_assets.ingestion.raw_stage`,
:mod:`retina_assets.engines.stages`) on the recorded engine and writes the result with
:class:`~retina_assets.storage.versioned_store.VersionedStore` into a scratch lake. :func:`verify` compares:

* ``IDENTICAL``: same SHA-256 (exit status 0);
* ``DIFFERENT``: the reasons (a changed or tampered input, the stored spec document no longer matching its
  hash), rows, schema, the first differing rows, and the provenance fields that differ from now (code,
  ``uv.lock``, library versions, the client's current spec) (exit status 1);
* ``CANNOT VERIFY``: no provenance recorded, an input deleted (e.g. by retention), bad arguments (exit 2).

``--recursive`` first verifies every input that is itself a version, down to the archived drops (whose
hashes are checked). ``--spec current`` rebuilds with the client's spec as it is now in
``RETINA_CLIENTS_DIR`` instead of the recorded one ("would this version come out the same today?").
:func:`restore` writes a rebuilt version back into the lake (the Dagster job ``retina_rebuild_version`` runs
it with the usual metadata). Works on local disk, S3 and Azure lakes; the scratch area is a local folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from retina_assets.catalog import load_clients_and_errors
from retina_assets.engines.spark import spark_session
from retina_assets.engines.spark_raw import convert_archived_drops_on_spark
from retina_assets.engines.stages import build_feature, validate_partition
from retina_assets.features import FEATURES as FEATURE_REGISTRY
from retina_assets.features.registry import FeatureInput
from retina_assets.ingestion.raw_stage import convert_archived_drops
from retina_assets.lake import Lake, LakeLookupError
from retina_assets.model.naming import FEATURES, RAW, REJECTED, VALIDATED, DatasetName
from retina_assets.model.provenance import (
    complete_provenance,
    differences,
    environment,
    provenance_basis,
    sha256_of,
    spec_document,
    spec_from_document,
)
from retina_assets.model.spec import ClientSpec
from retina_assets.quality.checks import CheckContext
from retina_assets.settings import LakeSettings
from retina_assets.storage import paths
from retina_assets.storage.content_store import (
    ArchivedDrop,
    ContentMismatchError,
    copy_hashing,
    hash_from_name,
    load_spec,
)
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.filesystem import LakeFileSystem, filesystem_for
from retina_assets.storage.parts import (
    combined_hash,
    is_multipart_uri,
    parse_part_name,
    part_file_name,
)
from retina_assets.storage.versioned_store import (
    DatasetVersion,
    VersionedStore,
)

IDENTICAL, DIFFERENT, CANNOT = "IDENTICAL", "DIFFERENT", "CANNOT VERIFY"
EXIT_CODES = {IDENTICAL: 0, DIFFERENT: 1, CANNOT: 2}
SHOWN_ROWS = 5


class CannotVerify(Exception):
    """The version cannot be rebuilt: the message says why (no provenance, an input gone, ...)."""


class ChangedInputsUnusable(Exception):
    """Inputs no longer have their recorded hashes, and the stage fails on their bytes."""

    def __init__(self, reasons: list[str], error: Exception):
        super().__init__("; ".join(reasons))
        self.reasons = [
            *reasons,
            f"rebuilding from the changed inputs failed: {type(error).__name__}: {error}",
        ]


@dataclass
class Rebuilt:
    """A version rebuilt in a scratch lake, and what was noticed while rebuilding."""

    version: DatasetVersion  # in the scratch lake
    scratch: VersionedStore
    reasons: list[str] = field(default_factory=list)  # why the result may differ (changed inputs, spec)
    siblings: dict[str, DatasetVersion] = field(default_factory=dict)  # the validated/rejected pair


@dataclass
class Verdict:
    """The result of verifying one version."""

    path: str
    status: str
    recorded: DatasetVersion | None = None
    rebuilt_hash: str | None = None
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def report(self) -> str:
        what = self.path
        if self.recorded is not None:
            v = self.recorded
            what = f"{DatasetName(v.zone, v.client, v.dataset)} [{v.partition}] {v.content_hash[:16]}"
        head = f"{self.status}  {what}"
        if self.rebuilt_hash and self.status != CANNOT:
            head += f"  (rebuilt {self.rebuilt_hash[:16]} in {self.seconds:.1f}s)"
        return "\n".join([head, *(f"  {line}" for line in self.details)])


# --- rebuilding ------------------------------------------------------------------------------------------
def _spec_for(
    lake_fs: LakeFileSystem, version: DatasetVersion, use_current: ClientSpec | None
) -> tuple[ClientSpec, list[str]]:
    provenance = version.provenance or {}
    if use_current is not None:
        recorded = provenance.get("spec", {})
        notes = []
        if recorded.get("uri"):
            try:
                old = load_spec(lake_fs, recorded["uri"])
                changed = differences(old, spec_document(use_current))
                if changed:
                    notes.append(
                        "rebuilt with the current spec, which differs from the recorded one in: "
                        + ", ".join(sorted(changed))
                    )
            except (OSError, ContentMismatchError, ValueError):
                pass
        return use_current, notes
    uri = provenance.get("spec", {}).get("uri")
    if not uri:
        raise CannotVerify(f"{version.path}: no spec recorded in its provenance")
    try:
        return spec_from_document(load_spec(lake_fs, uri)), []
    except FileNotFoundError:
        raise CannotVerify(f"{version.path}: its recorded spec {uri} no longer exists") from None
    except ContentMismatchError as exc:
        raise CannotVerify(f"{version.path}: its recorded spec was changed: {exc}") from None


def _local_inputs(
    lake_fs: LakeFileSystem, version: DatasetVersion, folder: str
) -> tuple[dict[str, str], list[str]]:
    """Copy each recorded input into ``folder``: input path -> local copy, and the inputs whose bytes no
    longer have their recorded hash."""
    local: dict[str, str] = {}
    changed: list[str] = []
    for i, item in enumerate((version.provenance or {}).get("inputs", [])):
        path = str(item["path"])
        dest = os.path.join(folder, f"{i}-{os.path.basename(path)}")
        try:
            if is_multipart_uri(path):
                # a folder keeps its name (its hash) so the local copy reads as the multi-part version it is
                dest = os.path.join(folder, str(i), path.rstrip("/").rsplit("/", 1)[-1])
                actual = _copy_parts_hashing(lake_fs, path, dest)
            else:
                actual = copy_hashing(lake_fs, path, dest)
        except FileNotFoundError:
            raise CannotVerify(
                f"input {path} of {version.path} no longer exists (deleted, e.g. by retention)"
            ) from None
        if item.get("sha256") and actual != item["sha256"]:
            changed.append(f"input {path} was changed: its SHA-256 is {actual}, recorded {item['sha256']}")
        local[path] = dest
    return local, changed


def _copy_parts_hashing(lake_fs: LakeFileSystem, uri: str, dest: str) -> str:
    """Copy the parts of the multi-part version folder ``uri`` into the local folder ``dest``, hashing each
    on the way; returns the version hash the copied parts make (their indexes with the hashes of the bytes
    copied, :func:`combined_hash`): the recorded one unless a part was changed, removed or added."""
    names = [f.uri.rsplit("/", 1)[-1] for f in lake_fs.list_files(uri)]
    parsed = [(name, parse_part_name(name)) for name in names]
    if not any(index is not None for _, index in parsed):
        raise FileNotFoundError(uri)
    os.makedirs(dest, exist_ok=True)
    copied = []
    for name, found in parsed:
        if found is None:
            continue
        actual = copy_hashing(lake_fs, paths.join(uri, name), os.path.join(dest, name))
        copied.append(part_file_name(found[0], actual))
        if actual != found[1]:  # keep the bytes under the name they have, so a local read checks them
            os.replace(os.path.join(dest, name), os.path.join(dest, copied[-1]))
    return combined_hash(copied)


def rebuild(
    lake_uri: str,
    version: DatasetVersion,
    scratch_dir: str,
    *,
    current_spec: ClientSpec | None = None,
    spark: Callable[[], Any] | None = None,
    storage_options: dict[str, Any] | None = None,
    target: VersionedStore | None = None,
    run_id: str | None = None,
) -> Rebuilt:
    """Rebuild ``version`` (a version of the lake at ``lake_uri``) from its recorded inputs and spec (or
    ``current_spec``), on its recorded engine, into a scratch lake under ``scratch_dir`` or, with
    ``target``, into that store (then with a provenance record naming ``run_id`` and ``rebuilt_from``).
    ``scratch_dir`` holds the local copies of the inputs. Raises :class:`CannotVerify` when impossible."""
    provenance = version.provenance
    if not provenance:
        raise CannotVerify(f"{version.path}: no provenance recorded (written before versions recorded it)")
    lake_fs = filesystem_for(lake_uri, storage_options)
    spec, notes = _spec_for(lake_fs, version, current_spec)
    inputs_dir = os.path.join(scratch_dir, "inputs")
    os.makedirs(inputs_dir, exist_ok=True)
    if target is None:
        scratch = VersionedStore(os.path.join(scratch_dir, "lake"))
        Path(scratch.lake_uri).mkdir(parents=True, exist_ok=True)
    else:
        scratch = target
    engine = str(provenance.get("engine") or spec.engine)
    zone, dataset, partition = version.zone, version.dataset, version.partition
    spec_uri = provenance.get("spec", {}).get("uri")

    def record(out_zone: str, inputs: list[dict[str, Any]]) -> dict[str, Any] | None:
        if target is None:
            return None
        basis = provenance_basis(spec, out_zone, dataset, engine, spec_uri)
        return {**complete_provenance(basis, inputs, run_id, partition), "rebuilt_from": version.path}

    if zone == RAW:
        drops = [ArchivedDrop.from_input(item) for item in provenance.get("inputs", [])]
        reasons: list[str] = []
        for drop in drops:
            if not lake_fs.exists(drop.uri):
                raise CannotVerify(
                    f"archived drop {drop.uri} of {version.path} no longer exists (deleted, e.g. by retention)"
                )
        try:
            if engine == "spark":  # the executors read the archived drops and write the parts again
                prepared = convert_archived_drops_on_spark(
                    lake_fs, spec, dataset, partition, drops, (spark or spark_session)(), scratch.lake_uri,
                    storage_options if target is not None else None,
                )  # fmt: skip
            else:
                prepared = convert_archived_drops(lake_fs, spec, dataset, partition, drops)
        except ContentMismatchError as exc:
            # rebuild from the changed bytes anyway, to show what they give
            reasons.append(
                f"archived drop {exc.uri} was changed: its SHA-256 is {exc.actual}, recorded {exc.expected}"
            )
            changed = [
                ArchivedDrop(d.uri, exc.actual if d.uri == exc.uri else d.sha256, d.source, d.name, d.size)
                for d in drops
            ]
            prepared = convert_archived_drops(lake_fs, spec, dataset, partition, changed)
        rebuilt = scratch.write_output(
            RAW, spec.client, dataset, partition, prepared.stream,
            provenance=record(RAW, [d.to_input() for d in prepared.archived]),
        )  # fmt: skip
        return Rebuilt(rebuilt, scratch, notes + reasons)
    local, reasons = _local_inputs(lake_fs, version, inputs_dir)
    try:
        return _rebuild_from_versions(
            lake_uri, version, spec, engine, local, scratch, record, spark, notes + reasons
        )
    except Exception as exc:
        if reasons:
            raise ChangedInputsUnusable(reasons, exc) from exc
        raise


def _rebuild_from_versions(
    lake_uri: str,
    version: DatasetVersion,
    spec: ClientSpec,
    engine: str,
    local: dict[str, str],
    scratch: VersionedStore,
    record: Callable[[str, list[dict[str, Any]]], dict[str, Any] | None],
    spark: Callable[[], Any] | None,
    reasons: list[str],
) -> Rebuilt:
    """Validation or a feature rebuilt from local copies of its input versions."""
    zone, dataset, partition = version.zone, version.dataset, version.partition
    if zone in (VALIDATED, REJECTED):
        if len(local) != 1:
            raise CannotVerify(f"{version.path}: expected one raw input, recorded {list(local)}")
        ((raw_path, raw_local),) = local.items()
        raw = DatasetRef(raw_local, partition=partition)
        raw = DatasetRef(raw_local, row_count=raw.footer_row_count(), partition=partition)
        ctx = CheckContext(
            partition=partition, previous_row_counts=[], previous_partition=None, references=[]
        )
        outcome = validate_partition(raw, spec.datasets[dataset], ctx, engine, spark=spark, store=scratch)
        try:
            pair = {}
            for out_zone, rows in ((VALIDATED, outcome.valid), (REJECTED, outcome.rejected)):
                pair[out_zone] = scratch.write_output(
                    out_zone, spec.client, dataset, partition, rows, input_paths=[raw_path],
                    provenance=record(out_zone, _hashed([raw_path])),
                )  # fmt: skip
        finally:
            outcome.close()
        return Rebuilt(pair[zone], scratch, reasons, pair)
    if zone == FEATURES:
        feature = FEATURE_REGISTRY[dataset]
        history: dict[str, list[DatasetRef]] = {}
        for path, copy in local.items():
            source = Lake(lake_uri).version_of(path)
            canonical = spec.datasets[source.dataset].canonical
            ref = DatasetRef(copy, source.content_hash, source.row_count, source.partition)
            history.setdefault(canonical, []).append(ref)
        refs: dict[str, FeatureInput] = {
            # a history feature reads every recorded partition up to its own, oldest first
            canonical: sorted(found, key=lambda r: r.partition or "") if feature.history else found[-1]
            for canonical, found in history.items()
        }
        # a history feature builds in-process on every client, as its asset does
        rows, _ = build_feature(
            feature, refs, "pandas" if feature.history else engine, spark=spark, as_of_date=partition,
            store=scratch,
        )  # fmt: skip
        rebuilt = scratch.write_output(
            FEATURES, spec.client, dataset, partition, rows, input_paths=list(local),
            provenance=record(FEATURES, _hashed(list(local))),
        )  # fmt: skip
        return Rebuilt(rebuilt, scratch, reasons)
    raise CannotVerify(f"{version.path}: unknown zone {zone!r}")


def _hashed(paths: list[str]) -> list[dict[str, Any]]:
    return [{"path": p, "sha256": hash_from_name(p)} for p in paths]


def restore(
    lake_uri: str,
    path: str,
    *,
    run_id: str | None = None,
    spark: Callable[[], Any] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> tuple[DatasetVersion, list[DatasetVersion]]:
    """Rebuild the version at ``path`` into the lake itself from its recorded inputs and spec, making the
    result the current version of its partition again (e.g. after a bad rule change). Returns the
    recorded version and the versions written (validated and rejected are rebuilt as a pair); a written
    version's hash equals the recorded one unless the environment changed (see :func:`verify_version`)."""
    lake = Lake(lake_uri)
    try:
        version = lake.version_of(path)
    except LakeLookupError as exc:
        raise CannotVerify(str(exc)) from None
    target = VersionedStore(lake_uri, storage_options=storage_options)
    with tempfile.TemporaryDirectory(prefix="retina-rebuild-") as scratch:
        rebuilt = rebuild(
            lake_uri, version, scratch, spark=spark, storage_options=storage_options, target=target,
            run_id=run_id,
        )  # fmt: skip
    if rebuilt.reasons:
        raise CannotVerify("; ".join(rebuilt.reasons))
    written = list(rebuilt.siblings.values()) or [rebuilt.version]
    return version, written


# --- comparing -------------------------------------------------------------------------------------------
def _schema_changes(recorded: pa.Schema, rebuilt: pa.Schema) -> list[str]:
    old = {f.name: str(f.type) for f in recorded}
    new = {f.name: str(f.type) for f in rebuilt}
    out = [f"column {n!r} only in the recorded version ({t})" for n, t in old.items() if n not in new]
    out += [f"column {n!r} only in the rebuilt version ({t})" for n, t in new.items() if n not in old]
    out += [
        f"column {n!r}: {old[n]} recorded, {new[n]} rebuilt" for n in old if n in new and old[n] != new[n]
    ]
    if not out and list(old) != list(new):
        out.append(f"column order differs: {list(old)} recorded, {list(new)} rebuilt")
    return out


def _first_differing_rows(recorded: pa.Table, rebuilt: pa.Table, limit: int = SHOWN_ROWS) -> list[str]:
    common = [n for n in recorded.column_names if n in rebuilt.column_names]
    left, right = recorded.select(common), rebuilt.select(common)
    out: list[str] = []
    step = 10_000
    for start in range(0, max(left.num_rows, right.num_rows), step):
        a, b = left.slice(start, step), right.slice(start, step)
        if a.equals(b):
            continue
        rows_a, rows_b = a.to_pylist(), b.to_pylist()
        for i in range(max(len(rows_a), len(rows_b))):
            ra = rows_a[i] if i < len(rows_a) else None
            rb = rows_b[i] if i < len(rows_b) else None
            if ra == rb:
                continue
            if ra is None or rb is None:
                out.append(
                    f"row {start + i}: {'only rebuilt' if ra is None else 'only recorded'}: {ra or rb}"
                )
            else:
                diff = {k: (ra[k], rb[k]) for k in ra if ra[k] != rb[k]}
                out.append(
                    f"row {start + i}: "
                    + ", ".join(f"{k}: {v[0]!r} recorded, {v[1]!r} rebuilt" for k, v in diff.items())
                )
            if len(out) >= limit:
                return out
    return out


def _layout(version: DatasetVersion) -> tuple[str, ...]:
    """How a version is stored: one file, or a multi-part folder with its parts' row counts."""
    if not version.parts:
        return ("file",)
    return ("parts", *(str(p.get("row_count")) for p in version.parts))


def _describe_layout(version: DatasetVersion) -> str:
    if not version.parts:
        return "one file"
    count = len(version.parts)
    return f"a folder of {count} part{'s' if count != 1 else ''}"


def _layout_note(recorded: DatasetVersion, rebuilt: DatasetVersion) -> list[str]:
    """The verdict's line naming both layouts, when either is multi-part (else nothing to say)."""
    if not recorded.parts and not rebuilt.parts:
        return []
    return [f"layout: {_describe_layout(recorded)} recorded, {_describe_layout(rebuilt)} rebuilt"]


def _in_row_order(table: pa.Table) -> pa.Table:
    """``table``'s rows sorted by every column (so two layouts of the same rows compare equal); columns
    Arrow cannot sort by (lists, structs) are left out of the sort key."""
    keys = []
    for field_ in table.schema:
        kind = field_.type
        if pa.types.is_nested(kind) or pa.types.is_null(kind) or pa.types.is_dictionary(kind):
            continue
        keys.append((field_.name, "ascending"))
    return table.sort_by(keys) if keys else table


def _same_rows_and_types(recorded: pa.Table, rebuilt: pa.Table) -> bool:
    """The same columns with the same types, and the same rows in the same order (``NaN`` equals ``NaN``)."""
    if recorded.schema.remove_metadata() != rebuilt.schema.remove_metadata():
        return False
    if recorded.num_rows != rebuilt.num_rows:
        return False
    a, b = recorded.replace_schema_metadata(None), rebuilt.replace_schema_metadata(None)
    return a.equals(b) or not _first_differing_rows(a, b, limit=1)


def _environment_changes(version: DatasetVersion, current_spec: ClientSpec | None) -> list[str]:
    provenance = version.provenance or {}
    changed = differences(provenance.get("environment", {}), environment())
    out = [f"environment.{path}: {old!r} recorded, {new!r} now" for path, (old, new) in changed.items()]
    if current_spec is not None:
        now_sha = spec_document(current_spec)
        recorded = provenance.get("spec", {})
        if recorded.get("sha256") and sha256_of(now_sha) != recorded["sha256"]:
            out.append(
                f"spec: the client's current spec ({sha256_of(now_sha)[:16]}) differs from the recorded one ({recorded['sha256'][:16]})"
            )
    return out


def verify_version(
    lake_uri: str,
    path: str,
    *,
    use_current_spec: bool = False,
    clients_dir: str | None = None,
    spark: Callable[[], Any] | None = None,
) -> Verdict:
    """Verify one version of the lake at ``lake_uri`` (see the module docstring)."""
    started = time.perf_counter()
    lake = Lake(lake_uri)
    try:
        version = lake.version_of(path)
    except LakeLookupError as exc:
        return Verdict(path, CANNOT, details=[str(exc)])
    current = _current_spec(version.client, clients_dir)
    if use_current_spec and current is None:
        return Verdict(
            path, CANNOT, version, details=[f"no current spec of client {version.client!r} in {clients_dir}"]
        )
    with tempfile.TemporaryDirectory(prefix="retina-verify-") as scratch:
        try:
            rebuilt = rebuild(
                lake_uri, version, scratch, current_spec=current if use_current_spec else None, spark=spark
            )
        except CannotVerify as exc:
            return Verdict(path, CANNOT, version, details=[str(exc)], seconds=time.perf_counter() - started)
        except ChangedInputsUnusable as exc:
            return Verdict(
                path, DIFFERENT, version, details=exc.reasons, seconds=time.perf_counter() - started
            )
        new = rebuilt.version
        layouts = _layout_note(version, new)
        if new.content_hash == version.content_hash and not rebuilt.reasons:
            return Verdict(
                path, IDENTICAL, version, new.content_hash, layouts, seconds=time.perf_counter() - started
            )
        details = list(rebuilt.reasons)
        same_layout = _layout(version) == _layout(new)
        if new.content_hash != version.content_hash:
            recorded_table = lake.store.read_version(version)
            rebuilt_table = rebuilt.scratch.read_version(new)
            if not same_layout:
                # other files cannot have the same bytes: the rows (in any order) and their types decide
                recorded_table, rebuilt_table = _in_row_order(recorded_table), _in_row_order(rebuilt_table)
                if not rebuilt.reasons and _same_rows_and_types(recorded_table, rebuilt_table):
                    note = (
                        f"rows and types: identical ({recorded_table.num_rows:,} rows; compared as rows "
                        "because the layouts differ)"
                    )
                    return Verdict(
                        path, IDENTICAL, version, new.content_hash, [*layouts, note],
                        seconds=time.perf_counter() - started,
                    )  # fmt: skip
            details.append(f"sha256: {version.content_hash} recorded, {new.content_hash} rebuilt")
            details += layouts
            if recorded_table.num_rows != rebuilt_table.num_rows:
                details.append(
                    f"rows: {recorded_table.num_rows:,} recorded, {rebuilt_table.num_rows:,} rebuilt"
                )
            else:
                details.append(f"rows: {recorded_table.num_rows:,} in both")
            details += [f"schema: {c}" for c in _schema_changes(recorded_table.schema, rebuilt_table.schema)]
            rows = _first_differing_rows(recorded_table, rebuilt_table)
            details += [f"first differing rows: {r}" for r in rows] or [
                "rows and values are equal: the files differ in encoding or file metadata"
                if same_layout
                else "rows and values are equal"
            ]
        else:
            details.append(f"sha256: {version.content_hash} recorded, {new.content_hash} rebuilt")
        details += [f"differs from now: {c}" for c in _environment_changes(version, current)]
        return Verdict(path, DIFFERENT, version, new.content_hash, details, time.perf_counter() - started)


def _current_spec(client: str, clients_dir: str | None) -> ClientSpec | None:
    specs, _ = load_clients_and_errors(clients_dir or LakeSettings.from_env().clients_dir)
    return next((s for s in specs if s.client == client), None)


def verify(
    lake_uri: str,
    path: str,
    *,
    recursive: bool = False,
    use_current_spec: bool = False,
    clients_dir: str | None = None,
    spark: Callable[[], Any] | None = None,
) -> list[Verdict]:
    """Verify ``path``; with ``recursive``, first each of its inputs back to the archived drops (inputs
    before the versions made from them; every version once)."""
    verdicts: list[Verdict] = []
    seen: set[str] = set()
    lake = Lake(lake_uri)

    def walk(current: str) -> None:
        if current in seen:
            return
        seen.add(current)
        try:
            version = lake.version_of(current)
        except LakeLookupError:
            verdicts.append(_check_archived(lake_uri, current))
            return
        if recursive:
            for parent in version.input_paths:
                walk(parent)
        verdicts.append(
            verify_version(
                lake_uri, current, use_current_spec=use_current_spec, clients_dir=clients_dir, spark=spark
            )
        )

    walk(path)
    return verdicts


def _check_archived(lake_uri: str, path: str) -> Verdict:
    """An input that is not a version (an archived drop): it must exist and still have its hash."""
    expected = hash_from_name(path)
    fs = filesystem_for(lake_uri)
    with tempfile.TemporaryDirectory(prefix="retina-verify-") as scratch:
        try:
            actual = copy_hashing(fs, path, os.path.join(scratch, "drop"))
        except FileNotFoundError:
            return Verdict(
                path, CANNOT, details=[f"archived drop {path} no longer exists (deleted, e.g. by retention)"]
            )
    if expected is None:
        return Verdict(path, CANNOT, details=[f"{path} is neither a version nor a content-addressed file"])
    if actual != expected:
        return Verdict(
            path, DIFFERENT, details=[f"archived drop was changed: its SHA-256 is {actual}, named {expected}"]
        )
    return Verdict(path, IDENTICAL, rebuilt_hash=actual)


def resolve_path(lake_uri: str, target: str, partition: str | None) -> str:
    """The version path ``target`` names: a path as given, or ``client/asset`` with ``partition`` (its
    current version)."""
    if "/" in target and (target.endswith(".parquet") or "://" in target or target.startswith("/")):
        return target
    if not partition:
        raise CannotVerify(f"{target!r} is a dataset name: give --partition YYYY-MM-DD (or a version path)")
    try:
        name = DatasetName.parse(target)
    except ValueError as exc:
        raise CannotVerify(str(exc)) from None
    current = VersionedStore(lake_uri).current(name.zone, name.client, name.dataset, partition)
    if current is None:
        raise CannotVerify(f"{target} has no version for partition {partition} in {lake_uri}")
    return current.path


def iter_report(verdicts: list[Verdict]) -> Iterator[str]:
    for verdict in verdicts:
        yield verdict.report()


def overall_exit_code(verdicts: list[Verdict]) -> int:
    """2 if any version cannot be verified, else 1 if any differs, else 0."""
    codes = {v.exit_code for v in verdicts}
    return 2 if 2 in codes else 1 if 1 in codes else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retina_assets.verify", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("target", help="a version path, or <client>/<asset> with --partition")
    parser.add_argument(
        "--partition", help="as_of_date YYYY-MM-DD (with a dataset name: its current version)"
    )
    parser.add_argument(
        "--recursive", action="store_true", help="verify the inputs too, down to the archived drops"
    )
    parser.add_argument(
        "--spec",
        choices=("recorded", "current"),
        default="recorded",
        help="which client spec to rebuild with",
    )
    parser.add_argument("--lake", help="lake URI (default RETINA_LAKE_URI)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    settings = LakeSettings.from_env()
    lake_uri = VersionedStore(args.lake or settings.lake_uri).lake_uri
    try:
        path = resolve_path(lake_uri, args.target, args.partition)
    except CannotVerify as exc:
        print(f"{CANNOT}  {args.target}\n  {exc}")
        return 2
    verdicts = verify(
        lake_uri,
        path,
        recursive=args.recursive,
        use_current_spec=args.spec == "current",
        clients_dir=settings.clients_dir,
    )
    for line in iter_report(verdicts):
        print(line)
    return overall_exit_code(verdicts)


if __name__ == "__main__":
    sys.exit(main())
