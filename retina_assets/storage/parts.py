"""Multi-part versions: one version written as several Parquet files (e.g. by Spark executors in parallel).

Layout and identity (the same on every backend)::

    <lake>/_versions/<zone>/<client>/<dataset>/as_of_date=X/<version hash>/part-00000-<sha256>.parquet
                                                                          /part-00003-<sha256>.parquet

* Each part file is immutable and named by its index and the SHA-256 of its bytes, computed where it was
  written (on the executor), so every part can be checked on its own.
* The version's content hash is the SHA-256 of the sorted part file names joined by newlines
  (:func:`combined_hash`): it changes when any part's bytes change, and it is computed from small strings on
  the driver, never from the data. Identical parts give the identical version (dedupe on re-runs).
* The version's ``path`` is its folder: pyarrow, DuckDB (``<folder>/*.parquet``), polars and Spark read
  it as one dataset, in part order.
* A version that is one file keeps the single-file layout (``<sha256>.parquet``); a multi-part version is
  recognised by its folder name (64 hex digits, no extension).

Parts are first written to a staging folder in the lake (``<lake>/_staging/<txn>/``, which executors can
reach on an object store as well as on local disk), then moved under the version folder and published by the
partition's commit (:meth:`retina_assets.storage.versioned_store.VersionedStore.commit_parts`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

PART_FILE = re.compile(r"^part-(\d{5})-([0-9a-f]{64})\.parquet$")
VERSION_FOLDER = re.compile(r"^[0-9a-f]{64}$")


def part_file_name(index: int, sha256: str) -> str:
    """``part-00003-<sha256>.parquet``: a part's immutable name."""
    if not 0 <= index < 100_000:
        raise ValueError(f"part index {index} is out of range (0..99999)")
    return f"part-{index:05d}-{sha256}.parquet"


def parse_part_name(name: str) -> tuple[int, str] | None:
    """(index, sha256) of a part file name, or ``None`` if ``name`` is not one."""
    match = PART_FILE.match(name)
    return (int(match.group(1)), match.group(2)) if match else None


def combined_hash(part_names: Iterable[str]) -> str:
    """A multi-part version's content hash: SHA-256 of its sorted part file names, newline-joined."""
    names = sorted(part_names)
    if not names:
        raise ValueError("a multi-part version needs at least one part")
    for name in names:
        if parse_part_name(name) is None:
            raise ValueError(f"{name!r} is not a part file name (part-NNNNN-<sha256>.parquet)")
    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def is_multipart_uri(uri: str) -> bool:
    """True when ``uri`` names a multi-part version's folder (its last segment is a 64-hex hash)."""
    return bool(VERSION_FOLDER.match(uri.rstrip("/").rsplit("/", 1)[-1]))


def local_parquet_files(path: str) -> list[str]:
    """The Parquet files of a local copy of a version, in order: the file itself, or the part files of a
    multi-part version's folder in part order (other files in the folder are not parts and are left out).
    For readers that take a list of files (polars' scans, pyarrow's ``ParquetFile`` per file)."""
    if not os.path.isdir(path):
        return [path]
    return [os.path.join(path, n) for n in sorted(os.listdir(path)) if parse_part_name(n) is not None]


@dataclass(frozen=True)
class StagedPart:
    """One part written to staging: where it is, its index in the version, and its hash and size (computed
    where it was written). Small, so executors return these to the driver instead of data."""

    index: int
    uri: str
    sha256: str
    row_count: int
    num_bytes: int

    @property
    def name(self) -> str:
        """The part's file name in its version folder."""
        return part_file_name(self.index, self.sha256)
