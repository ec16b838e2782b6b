"""One immutable local snapshot of a landed file: what a conversion reads, whatever happens to the original.

:func:`snapshot_file` copies a file (local or remote) once into a folder the caller owns, hashing the bytes
as they are copied, and makes the copy read-only. Everything after that reads the snapshot only, so what is
converted is exactly one complete version of the drop, identified by its SHA-256; a file rewritten while it
was being copied is refused rather than half read.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from dataclasses import dataclass

from retina_assets.ingestion.drop_stream import DropLimitError, DropReadError
from retina_assets.storage.filesystem import LakeFileSystem

COPY_BLOCK_BYTES = 4 << 20


class DropChangedError(DropReadError):
    """A drop whose bytes changed while it was read, or differ from the bytes a run was started for."""


@dataclass(frozen=True)
class FileSnapshot:
    """A read-only local copy of ``uri``: its path, SHA-256 and size in bytes."""

    uri: str
    path: str
    sha256: str
    size: int


def snapshot_file(
    fs: LakeFileSystem, uri: str, folder: str, name: str | None = None, max_bytes: int | None = None
) -> FileSnapshot:
    """Copy ``uri`` once into ``folder`` (streaming, hashing as it goes) and return the read-only copy.

    Raises :class:`DropChangedError` if the file's size or change token moved while it was copied (it is
    still being written or was replaced), and :class:`~retina_assets.ingestion.drop_stream.DropLimitError`
    if it is larger than ``max_bytes``. ``name`` (default: the URI's last part) names the file in errors
    and ends the snapshot's file name, so its suffix (e.g. ``.gz``) is kept.
    """
    name = name or uri.rsplit("/", 1)[-1]
    before = fs.info(uri)
    if max_bytes is not None and before.size > max_bytes:
        raise DropLimitError(name, f"{before.size:,} bytes, more than {max_bytes:,} (limits.max_bytes)")
    path = os.path.join(folder, f"{uuid.uuid4().hex}-{name}")
    digest = hashlib.sha256()
    copied = 0
    with fs.open_read(uri) as source, open(path, "xb") as copy:
        while block := source.read(COPY_BLOCK_BYTES):
            copied += len(block)
            if max_bytes is not None and copied > max_bytes:
                raise DropLimitError(name, f"more than {max_bytes:,} bytes (limits.max_bytes)")
            digest.update(block)
            copy.write(block)
    after = fs.info(uri)
    if (after.size, after.token) != (before.size, before.token) or copied != after.size:
        raise DropChangedError(
            name,
            f"the file changed while it was being read ({before.size:,} bytes before, {copied:,} read, "
            f"{after.size:,} after); nothing was converted: re-run once it is no longer written to",
        )
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP)
    return FileSnapshot(uri, path, digest.hexdigest(), copied)
