"""Check the lake: every version against its hash, every current view against its commit.

    python -m retina_assets.fsck                 # report; exit 1 if anything is damaged
    python -m retina_assets.fsck --repair        # also rebuild damaged current views from their commits
                                                 # and remove stale staging areas

Problems found, per partition (from its commit log, :mod:`retina_assets.storage.commit_log`):

* ``missing version`` / ``corrupt version``: a committed, not deleted version whose file is gone or whose
  bytes do not hash to the recorded content hash. Not repairable here (the bytes are lost): rebuild the
  partition (re-run its asset) or restore the file.
* ``missing part`` / ``corrupt part`` / ``extra part``: the same for a multi-part version (a folder of
  ``part-NNNNN-<sha256>.parquet`` files): a recorded part is gone, a part's bytes do not hash to the hash
  in its name, or the folder holds a file that is not one of its parts (any of these makes every verified
  read of the version fail). Reported, never deleted or rewritten.
* ``missing view`` / ``stale view``: the partition's current-view files (``part-0.parquet``, and
  ``part-1.parquet``, ... for a multi-part version) are absent, are not the bytes of its last commit (a
  writer killed between commit and view, or a file changed by hand) or include a file left from an older
  version with more parts. ``--repair`` copies the committed version there again (if that version is
  intact), removing the leftover view files.
* ``unexpected file``: a file in a view folder other than ``part-<n>.parquet`` (hive readers would count
  it). Reported, never deleted (it may be someone's data).
* ``uncommitted view``: a view folder of a partition that has no commit log.
* ``stale staging``: a staging area ``<lake>/_staging/<id>/`` of a multi-part write whose newest file is
  older than ``--staging-hours`` (default 24): its writer was killed before committing. Never read by
  anyone; ``--repair`` removes it (so does retention).

The exit status is 0 when nothing is damaged (or everything damaged was repaired), 1 otherwise. No Dagster
needed; every file is hashed streamed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from retina_assets.settings import LakeSettings
from retina_assets.storage import paths
from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.integrity import hash_from_name
from retina_assets.storage.parts import combined_hash, is_multipart_uri
from retina_assets.storage.versioned_store import VIEW_FILE, DatasetVersion, VersionedStore

ZONES = ("raw", "validated", "rejected", "features")
STAGING_HOURS = 24.0  # a staging area older than this belongs to a killed writer (retention's default too)


@dataclass(frozen=True)
class Problem:
    """One damaged thing: what, where, details, and whether ``--repair`` fixed it."""

    kind: str
    uri: str
    detail: str
    repaired: bool = False


@dataclass
class FsckReport:
    """What a check found."""

    versions_checked: int = 0
    views_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def damaged(self) -> bool:
        return any(not p.repaired for p in self.problems)

    def summary(self) -> str:
        lines = [
            f"{'repaired' if p.repaired else 'DAMAGED'} [{p.kind}] {p.uri}: {p.detail}" for p in self.problems
        ]
        state = "damaged" if self.damaged else "ok"
        lines.append(
            f"{state}: {self.versions_checked} versions and {self.views_checked} current views checked, "
            f"{len(self.problems)} problems ({sum(p.repaired for p in self.problems)} repaired)"
        )
        return "\n".join(lines)


def fsck(
    lake_uri: str,
    *,
    repair: bool = False,
    storage_options: Mapping[str, Any] | None = None,
    staging_hours: float = STAGING_HOURS,
    now: dt.datetime | None = None,
) -> FsckReport:
    """Check (and with ``repair``, fix the current views of, and remove stale staging areas from) the lake at
    ``lake_uri``. A staging area counts as stale once its newest file is older than ``staging_hours``."""
    store = VersionedStore(lake_uri, storage_options=storage_options)
    fs = store.fs
    report = FsckReport()
    hashes: dict[str, str | None] = {}

    def hash_of(uri: str) -> str | None:
        if uri not in hashes:
            hashes[uri] = fs.sha256(uri) if fs.exists(uri) else None
        return hashes[uri]

    committed_views: set[str] = set()
    intact: dict[str, bool] = {}
    for key in store.all_partitions():
        versions = store.versions(key.zone, key.client, key.dataset, key.partition)
        for version in versions:
            if version.deleted_at or version.path in intact:
                continue
            report.versions_checked += 1
            found = (
                _check_parts(fs, version, hash_of)
                if is_multipart_uri(version.path)
                else _check_file(version, hash_of)
            )
            report.problems.extend(found)
            intact[version.path] = not found
        if not versions:
            continue
        head = versions[-1]
        view_dir = paths.partition_dir(store.lake_uri, key.zone, key.client, key.dataset, key.partition)
        expected = store.view_files(head)
        present = [f.uri for f in fs.list_files(view_dir) if VIEW_FILE.match(f.uri.rsplit("/", 1)[-1])]
        committed_views.update(expected, present)
        report.views_checked += 1
        wrong = [uri for uri, digest in expected.items() if hash_of(uri) != digest]
        leftover = [uri for uri in present if uri not in expected]
        if not wrong and not leftover:
            continue
        first = next(iter(expected))
        kind = "missing view" if all(hash_of(uri) is None for uri in expected) else "stale view"
        detail = f"should be version {head.content_hash} (commit {head.commit_seq})"
        if len(expected) == 1 and not leftover:
            detail += f", has {hash_of(first)}" if hash_of(first) else ""
        else:
            notes = [
                f"{uri.rsplit('/', 1)[-1]} " + (f"has {hash_of(uri)}" if hash_of(uri) else "is missing")
                for uri in wrong
            ]
            notes += [f"{uri.rsplit('/', 1)[-1]} is left from an older version" for uri in leftover]
            detail += f" in {len(expected)} view file(s): " + ", ".join(notes)
        fixed = False
        if repair and intact.get(head.path, False):
            store.publish_view(head)
            fixed = True
            detail += "; copied from the committed version"
        elif repair:
            detail += "; not repairable: the committed version itself is missing or corrupt"
        report.problems.append(Problem(kind, first, detail, repaired=fixed))
    for zone in ZONES:
        for info in fs.list_files(paths.join(store.lake_uri, zone), recursive=True):
            if not VIEW_FILE.match(info.uri.rsplit("/", 1)[-1]):
                report.problems.append(
                    Problem(
                        "unexpected file", info.uri, "not a current-view file: hive readers would read it"
                    )
                )
            elif info.uri not in committed_views:
                report.problems.append(
                    Problem("uncommitted view", info.uri, "no commit log for this partition")
                )
    report.problems.extend(_stale_staging(store, staging_hours, now or dt.datetime.now(dt.UTC), repair))
    return report


def _check_file(version: DatasetVersion, hash_of: Callable[[str], str | None]) -> list[Problem]:
    actual = hash_of(version.path)
    if actual is None:
        return [Problem("missing version", version.path, f"committed as seq {version.commit_seq}")]
    if actual != version.content_hash:
        return [
            Problem(
                "corrupt version",
                version.path,
                f"recorded sha256 {version.content_hash}, file has {actual}",
            )
        ]
    return []


def _check_parts(
    fs: LakeFileSystem, version: DatasetVersion, hash_of: Callable[[str], str | None]
) -> list[Problem]:
    """A multi-part version: the folder holds exactly the recorded parts, each hashing to its name."""
    recorded = [str(p["name"]) for p in version.parts or []]
    listed = [f.uri.rsplit("/", 1)[-1] for f in fs.list_files(version.path)]
    if not listed:
        return [Problem("missing version", version.path, f"committed as seq {version.commit_seq}")]
    problems = []
    if not recorded or combined_hash(recorded) != version.content_hash:
        problems.append(
            Problem(
                "corrupt version",
                version.path,
                f"its record's parts do not combine to {version.content_hash}",
            )
        )
    for name in recorded:
        uri = paths.join(version.path, name)
        actual = hash_of(uri) if name in listed else None
        if actual is None:
            problems.append(Problem("missing part", uri, f"part of version {version.content_hash}"))
        elif actual != hash_from_name(name):
            problems.append(
                Problem("corrupt part", uri, f"named by sha256 {hash_from_name(name)}, has {actual}")
            )
    for name in listed:
        if name not in recorded:
            problems.append(
                Problem(
                    "extra part",
                    paths.join(version.path, name),
                    f"not a part of version {version.content_hash}: a reader of the folder would read it "
                    "(reported, never deleted)",
                )
            )
    return problems


def _stale_staging(store: VersionedStore, hours: float, now: dt.datetime, repair: bool) -> list[Problem]:
    """Staging areas (``<lake>/_staging/<id>/``) whose newest file is older than ``hours``: a multi-part write
    killed before its commit. Never read; ``repair`` removes them."""
    problems = []
    for area in store.staging_areas():
        if area.modified is None or (now.timestamp() - area.modified) <= hours * 3600:
            continue
        detail = (
            f"staging area of an uncommitted multi-part write ({area.size:,} bytes), older than {hours:g} h"
        )
        if repair:
            store.fs.delete(area.uri, recursive=True)
            detail += "; removed"
        problems.append(Problem("stale staging", area.uri, detail, repaired=repair))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", help="lake URI (default: RETINA_LAKE_URI)")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="rebuild damaged current views from commits, remove stale staging areas",
    )
    parser.add_argument(
        "--staging-hours",
        type=float,
        default=STAGING_HOURS,
        help="age after which a staging area counts as left by a killed writer (default %(default)s)",
    )
    args = parser.parse_args(argv)
    report = fsck(
        args.lake or LakeSettings.from_env().lake_uri, repair=args.repair, staging_hours=args.staging_hours
    )
    print(report.summary())
    return 1 if report.damaged else 0


if __name__ == "__main__":
    sys.exit(main())
