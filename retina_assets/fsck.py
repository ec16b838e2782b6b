"""Check the lake: every version against its hash, every current view against its commit.

    python -m retina_assets.fsck                 # report; exit 1 if anything is damaged
    python -m retina_assets.fsck --repair        # also rebuild damaged current views from their commits

Problems found, per partition (from its commit log, :mod:`retina_assets.storage.commit_log`):

* ``missing version`` / ``corrupt version``: a committed, not deleted version whose file is gone or whose
  bytes do not hash to the recorded content hash. Not repairable here (the bytes are lost): rebuild the
  partition (re-run its asset) or restore the file.
* ``missing view`` / ``stale view``: the partition's ``part-0.parquet`` is absent or is not the bytes of its
  last commit (a writer killed between commit and view, or a file changed by hand). ``--repair`` copies the
  committed version there again (if that version is intact).
* ``unexpected file``: a file in a view folder other than ``part-0.parquet`` (hive readers would count it).
  Reported, never deleted (it may be someone's data).
* ``uncommitted view``: a view folder of a partition that has no commit log.

The exit status is 0 when nothing is damaged (or everything damaged was repaired), 1 otherwise. No Dagster
needed; every file is hashed streamed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from retina_assets.settings import LakeSettings
from retina_assets.storage import paths
from retina_assets.storage.versioned_store import PUBLISHED_FILE, VersionedStore

ZONES = ("raw", "validated", "rejected", "features")


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
    lake_uri: str, *, repair: bool = False, storage_options: Mapping[str, Any] | None = None
) -> FsckReport:
    """Check (and with ``repair``, fix the current views of) the lake at ``lake_uri``."""
    store = VersionedStore(lake_uri, storage_options=storage_options)
    fs = store.fs
    report = FsckReport()
    hashes: dict[str, str | None] = {}

    def hash_of(uri: str) -> str | None:
        if uri not in hashes:
            hashes[uri] = fs.sha256(uri) if fs.exists(uri) else None
        return hashes[uri]

    committed_views: set[str] = set()
    for key in store.all_partitions():
        versions = store.versions(key.zone, key.client, key.dataset, key.partition)
        for version in versions:
            if version.deleted_at:
                continue
            report.versions_checked += 1
            actual = hash_of(version.path)
            if actual is None:
                report.problems.append(
                    Problem("missing version", version.path, f"committed as seq {version.commit_seq}")
                )
            elif actual != version.content_hash:
                report.problems.append(
                    Problem(
                        "corrupt version",
                        version.path,
                        f"recorded sha256 {version.content_hash}, file has {actual}",
                    )
                )
        if not versions:
            continue
        head = versions[-1]
        view = store.view_path(key.zone, key.client, key.dataset, key.partition)
        committed_views.add(view)
        report.views_checked += 1
        actual = hash_of(view)
        if actual == head.content_hash:
            continue
        kind = "missing view" if actual is None else "stale view"
        detail = f"should be version {head.content_hash} (commit {head.commit_seq})" + (
            f", has {actual}" if actual else ""
        )
        fixed = False
        if repair and hash_of(head.path) == head.content_hash:
            store.publish_view(head)
            fixed = True
            detail += "; copied from the committed version"
        elif repair:
            detail += "; not repairable: the committed version itself is missing or corrupt"
        report.problems.append(Problem(kind, view, detail, repaired=fixed))
    for zone in ZONES:
        for info in fs.list_files(paths.join(store.lake_uri, zone), recursive=True):
            if info.uri.rsplit("/", 1)[-1] != PUBLISHED_FILE:
                report.problems.append(
                    Problem(
                        "unexpected file", info.uri, "not a current-view file: hive readers would read it"
                    )
                )
            elif info.uri not in committed_views:
                report.problems.append(
                    Problem("uncommitted view", info.uri, "no commit log for this partition")
                )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lake", help="lake URI (default: RETINA_LAKE_URI)")
    parser.add_argument("--repair", action="store_true", help="rebuild damaged current views from commits")
    args = parser.parse_args(argv)
    report = fsck(args.lake or LakeSettings.from_env().lake_uri, repair=args.repair)
    print(report.summary())
    return 1 if report.damaged else 0


if __name__ == "__main__":
    sys.exit(main())
