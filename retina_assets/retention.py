"""Retention: delete old versions by each client's policy, and the leftovers of killed runs.

    python -m retina_assets.retention              # dry run (the default): what would go, files and bytes
    python -m retina_assets.retention --apply      # delete it

The policy is the ``retention:`` block of each client spec (:class:`~retina_assets.model.spec.RetentionPolicy`:
``keep_last`` versions per partition, every version younger than ``keep_days``, per-zone overrides,
``staging_hours``). Without ``keep_last`` a client's versions are never deleted. Whatever the policy, a
version is kept when it is

* the current version of its partition (its last commit),
* pinned (:func:`retina_assets.lake.pin`),
* in the lineage closure of a kept version (a recorded input of it, of its inputs, ...), in any zone,
* or committed less than ``grace_hours`` ago.

Deleting a version appends a ``tombstone`` to its partition's commit log first (when, why, by whom), so
:func:`retina_assets.lake.versions` still lists it with ``deleted_at``/``deleted_reason``. Also removed,
after ``staging_hours``: staging files in ``<lake>/.tmp`` and ``.*.tmp`` files in view and version folders
(local lake),
the staging areas of multi-part writes (``<lake>/_staging/<id>/``, every backend: a Spark job killed before
its commit), the local temp folders of killed runs (``<tmp>/retina-*``), version files and multi-part
version folders no commit names (a writer killed between publishing and committing), and the files of
tombstoned versions a killed retention left behind. A multi-part version is deleted as its whole folder.

No Dagster needed: the ``retention`` job of the code location runs :func:`plan_retention` and
:func:`apply_retention` on its schedule.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from retina_assets.catalog import load_clients
from retina_assets.model.spec import ClientSpec, RetentionPolicy
from retina_assets.settings import LakeSettings
from retina_assets.storage import paths
from retina_assets.storage.filesystem import FileInfo
from retina_assets.storage.parts import is_multipart_uri
from retina_assets.storage.versioned_store import (
    DatasetVersion,
    PartitionKey,
    VersionedStore,
    active_pins,
    versions_from_log,
)

DEFAULT_GRACE_HOURS = 24.0
LOCAL_TEMP_PREFIX = (
    "retina-"  # local temp folders of stages: retina-staging, retina-validate-*, retina-drop-*
)

Kind = Literal["version", "tombstoned", "uncommitted", "staging"]


@dataclass(frozen=True)
class Removal:
    """One file or folder retention deletes (or would delete, in a dry run), and why."""

    kind: Kind
    uri: str
    num_bytes: int
    reason: str
    version: DatasetVersion | None = field(default=None, compare=False, repr=False)


@dataclass
class RetentionPlan:
    """What retention deletes, and how many versions it keeps for which reason."""

    removals: list[Removal] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)
    applied: bool = False

    @property
    def num_bytes(self) -> int:
        return sum(r.num_bytes for r in self.removals)

    def summary(self) -> str:
        verb = "freed" if self.applied else "would free"
        lines = [
            f"{'deleted' if self.applied else 'would delete'} [{r.kind}] {r.uri} ({r.num_bytes:,} bytes): {r.reason}"
            for r in self.removals
        ]
        kept = ", ".join(f"{n} {why}" for why, n in sorted(self.kept.items())) or "none"
        lines.append(f"versions kept: {kept}")
        lines.append(f"{verb} {len(self.removals)} files, {self.num_bytes:,} bytes")
        return "\n".join(lines)


def _age_hours(stamp: str | None, now: dt.datetime) -> float:
    if not stamp:
        return 0.0
    return (now - dt.datetime.fromisoformat(stamp)).total_seconds() / 3600


def plan_retention(
    store: VersionedStore,
    clients: Iterable[ClientSpec],
    *,
    grace_hours: float = DEFAULT_GRACE_HOURS,
    now: dt.datetime | None = None,
    local_temp_dir: str | None = None,
) -> RetentionPlan:
    """What retention would delete now (nothing is changed). See the module docstring for the rules."""
    now = now or dt.datetime.now(dt.UTC)
    policies: dict[str, RetentionPolicy] = {c.client: c.retention for c in clients}
    plan = RetentionPlan()
    by_path: dict[str, DatasetVersion] = {}
    candidates: dict[str, tuple[DatasetVersion, str]] = {}  # path -> version, reason
    retained: list[DatasetVersion] = []
    tombstoned: dict[str, DatasetVersion] = {}

    def keep(version: DatasetVersion, why: str) -> None:
        plan.kept[why] = plan.kept.get(why, 0) + 1
        retained.append(version)

    for key in store.all_partitions():
        entries = store.history(key.zone, key.client, key.dataset, key.partition)
        versions = versions_from_log(entries)
        pins = active_pins(entries)
        # newest commit of each content hash decides its rank (a re-committed old version counts as new)
        newest: dict[str, DatasetVersion] = {}
        for version in versions:
            by_path.setdefault(version.path, version)
            if version.deleted_at:
                tombstoned[version.path] = version
                continue
            tombstoned.pop(version.path, None)
            newest[version.content_hash] = version
        ranked = sorted(newest.values(), key=lambda v: v.commit_seq or 0, reverse=True)
        keep_last, keep_days = _policy(policies.get(key.client), key)
        for rank, version in enumerate(ranked):
            age = _age_hours(version.committed_at, now)
            if rank == 0:
                keep(version, "current")
            elif version.content_hash in pins:
                keep(version, "pinned")
            elif keep_last is None:
                keep(version, "no policy")
            elif rank < keep_last:
                keep(version, f"in last {keep_last}")
            elif age < grace_hours:
                keep(version, "in grace period")
            elif age < keep_days * 24:
                keep(version, f"younger than {keep_days:g} days")
            else:
                candidates[version.path] = (
                    version,
                    f"{key.zone} policy keep_last={keep_last} keep_days={keep_days:g}: "
                    f"version {rank + 1} of {len(ranked)}, committed {age / 24:.1f} days ago",
                )
    # lineage closure: whatever a kept version was built from is kept too, transitively
    stack = [p for v in retained for p in v.input_paths]
    while stack:
        path = stack.pop()
        if path in candidates:
            version, _ = candidates.pop(path)
            keep(version, "input of a kept version")
            stack.extend(version.input_paths)
    for version, reason in candidates.values():
        plan.removals.append(Removal("version", version.path, version.num_bytes, reason, version))

    staging_hours = min((p.staging_hours for p in policies.values()), default=RetentionPolicy().staging_hours)
    leftover_hours = max(staging_hours, 0.0)
    version_root = paths.join(store.lake_uri, paths.VERSIONS_DIR)
    for uri, (size, modified) in _version_files(store.fs.list_files(version_root, recursive=True)).items():
        what = "folder" if is_multipart_uri(uri) else "file"
        if uri in tombstoned:
            plan.removals.append(
                Removal("tombstoned", uri, size, f"{what} of a deleted version (tombstone recorded)")
            )
        elif uri not in by_path and _older(modified, leftover_hours, now):
            plan.removals.append(
                Removal("uncommitted", uri, size, f"no commit names it, older than {leftover_hours:g} h")
            )
    plan.removals.extend(_staging_areas(store, leftover_hours, now))
    plan.removals.extend(_staging_leftovers(store, leftover_hours, now, local_temp_dir))
    return plan


def _version_files(files: Iterable[FileInfo]) -> dict[str, tuple[int, float | None]]:
    """The versions the files under ``_versions/`` make up: a single-file version is its file, the parts of
    a multi-part version count as their folder. Version URI -> (bytes, newest modification time)."""
    found: dict[str, tuple[int, float | None]] = {}
    for info in files:
        folder = info.uri.rsplit("/", 1)[0]
        uri = folder if is_multipart_uri(folder) else info.uri
        size, newest = found.get(uri, (0, None))
        times = [t for t in (newest, info.modified) if t is not None]
        found[uri] = (size + info.size, max(times) if times else None)
    return found


def _staging_areas(store: VersionedStore, hours: float, now: dt.datetime) -> list[Removal]:
    """Staging areas of multi-part writes (``<lake>/_staging/<id>/``, every backend) whose newest file is
    older than ``hours``: left by a writer killed before its commit (a commit removes its area). An area
    still being written to has young files and stays."""
    return [
        Removal(
            "staging",
            area.uri,
            area.size,
            f"staging area of an uncommitted multi-part write, older than {hours:g} h",
        )
        for area in store.staging_areas()
        if _older(area.modified, hours, now)
    ]


def _policy(policy: RetentionPolicy | None, key: PartitionKey) -> tuple[int | None, float]:
    return policy.for_zone(key.zone) if policy is not None else (None, 0.0)


def _older(modified: float | None, hours: float, now: dt.datetime) -> bool:
    return modified is not None and (now.timestamp() - modified) > hours * 3600


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def _staging_leftovers(
    store: VersionedStore, hours: float, now: dt.datetime, local_temp_dir: str | None
) -> list[Removal]:
    """Staging files of killed writers older than ``hours``: in the local lake's ``.tmp`` and view folders
    (``.*.tmp``), and ``retina-*`` entries in the local temp folder (and in its ``retina-staging``)."""
    found: list[tuple[str, str]] = []
    if store.fs.is_local:
        lake = store.fs._strip(store.lake_uri)
        staging = os.path.join(lake, paths.STAGING_DIR)
        if os.path.isdir(staging):
            found += [(os.path.join(staging, n), "lake staging file") for n in os.listdir(staging)]
        # a writer killed inside an atomic replace leaves its temporary (.<id>.tmp) beside the target
        tops = [("raw", "validated", "rejected", "features"), (paths.VERSIONS_DIR,)]
        for top, what in zip(tops, ("half-replaced view file", "half-published version part"), strict=True):
            for name in top:
                for folder, _, files in os.walk(os.path.join(lake, name)):
                    found += [
                        (os.path.join(folder, n), what)
                        for n in files
                        if n.startswith(".") and n.endswith(".tmp")
                    ]
    temp = local_temp_dir or tempfile.gettempdir()
    if os.path.isdir(temp):
        for name in os.listdir(temp):
            if not name.startswith(LOCAL_TEMP_PREFIX):
                continue
            path = os.path.join(temp, name)
            if name == "retina-staging" and os.path.isdir(path):
                found += [(os.path.join(path, n), "local staging file") for n in os.listdir(path)]
            else:
                found.append((path, "local temp folder of a stage"))
    out = []
    for path, what in found:
        try:
            modified = os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        if _older(modified, hours, now):
            out.append(Removal("staging", path, _size(path), f"{what}, older than {hours:g} h"))
    return out


def _in_lake_staging(store: VersionedStore, uri: str) -> bool:
    return uri.startswith(paths.join(store.lake_uri, paths.PART_STAGING_DIR) + "/")


def apply_retention(store: VersionedStore, plan: RetentionPlan) -> RetentionPlan:
    """Delete what ``plan`` lists; returns what was deleted. A version is re-checked against its partition's
    log just before (skipped if it was re-committed or pinned since the plan was made)."""
    done: list[Removal] = []
    for removal in plan.removals:
        if removal.kind == "version" and removal.version is not None:
            v = removal.version
            entries = store.history(v.zone, v.client, v.dataset, v.partition)
            latest = [x for x in versions_from_log(entries) if x.content_hash == v.content_hash]
            if (latest and latest[-1].commit_seq != v.commit_seq) or v.content_hash in active_pins(entries):
                continue
            store.delete_version(v, removal.reason, by="retention")
        elif removal.kind == "staging" and not _in_lake_staging(store, removal.uri):
            if os.path.isdir(removal.uri):
                shutil.rmtree(removal.uri, ignore_errors=True)
            elif os.path.exists(removal.uri):
                os.remove(removal.uri)
        else:
            folder = removal.kind == "staging" or is_multipart_uri(removal.uri)
            store.fs.delete(removal.uri, recursive=folder)
        done.append(removal)
    return dataclasses.replace(plan, removals=done, applied=True)


def run_retention(
    lake_uri: str,
    clients: Iterable[ClientSpec],
    *,
    dry_run: bool = True,
    grace_hours: float = DEFAULT_GRACE_HOURS,
    storage_options: Mapping[str, object] | None = None,
) -> RetentionPlan:
    """Plan retention for the lake at ``lake_uri`` and, unless ``dry_run``, apply it."""
    store = VersionedStore(lake_uri, storage_options=storage_options)
    plan = plan_retention(store, clients, grace_hours=grace_hours)
    return plan if dry_run else apply_retention(store, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", help="lake URI (default: RETINA_LAKE_URI)")
    parser.add_argument("--clients", help="client specs folder (default: RETINA_CLIENTS_DIR)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", default=True, help="only report (the default)")
    mode.add_argument("--apply", action="store_true", help="delete what the policy allows")
    parser.add_argument("--grace-hours", type=float, default=DEFAULT_GRACE_HOURS)
    args = parser.parse_args(argv)
    settings = LakeSettings.from_env()
    started = time.monotonic()
    plan = run_retention(
        args.lake or settings.lake_uri,
        load_clients(args.clients or settings.clients_dir),
        dry_run=not args.apply,
        grace_hours=args.grace_hours,
    )
    print(plan.summary())
    print(f"({'applied' if plan.applied else 'dry run'} in {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
