"""Verified reads: the bytes of a version are checked against its recorded content hash before use.

A version's path is named after the SHA-256 of its bytes and its commit records that hash, so a flipped
byte, a truncated upload or a file replaced behind the lake's back is caught here, with the path and both
hashes in the error, instead of flowing into downstream results.

Cost: one streamed pass over the file (4 MiB chunks, bounded memory). On local disk the file is hashed in
place and then read by pyarrow from the page cache; from S3 or Azure it is downloaded once to local staging,
hashed there and read from that copy, so the bytes checked are the bytes read. A file verified once is not
hashed again by the same process while its size and change token (mtime or ETag) stay the same.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Iterator

from retina_assets.storage.filesystem import LakeFileSystem, sha256_file
from retina_assets.storage.parts import combined_hash, is_multipart_uri, parse_part_name

# a version file (<sha256>.parquet), a part of a multi-part version (part-NNNNN-<sha256>.parquet) or a
# multi-part version's folder (<sha256>)
_HASH_NAME = re.compile(r"^(?:part-\d{5}-)?([0-9a-f]{64})(?:\.parquet)?$")
_VERIFIED: dict[tuple[str, str], tuple[int, str]] = {}
_VERIFIED_LOCK = threading.Lock()


class ContentHashMismatchError(ValueError):
    """The bytes at a version's path do not hash to the recorded content hash."""

    def __init__(self, uri: str, expected: str, actual: str):
        self.uri, self.expected, self.actual = uri, expected, actual
        super().__init__(
            f"{uri}: content hash mismatch: recorded sha256 {expected}, file has sha256 {actual}. "
            "The file was changed or damaged after it was written; run `python -m retina_assets.fsck` "
            "to check the lake (and `--repair` to rebuild current views from their commits)."
        )


def hash_from_name(uri: str) -> str | None:
    """The content hash a version's name carries (``<sha256>.parquet``, a part's
    ``part-NNNNN-<sha256>.parquet`` or a multi-part version's folder ``<sha256>``), or ``None``."""
    match = _HASH_NAME.match(uri.rstrip("/").rsplit("/", 1)[-1])
    return match.group(1) if match else None


def version_parts(fs: LakeFileSystem, uri: str, expected: str | None) -> list[str]:
    """The part files of the multi-part version folder ``uri``, in part order, after checking that the
    folder holds exactly the parts whose names combine to ``expected`` (a missing, extra or renamed part
    raises :class:`ContentHashMismatchError`). Each part's bytes are checked by :func:`verify`."""
    files = [f.uri for f in fs.list_files(uri) if parse_part_name(f.uri.rsplit("/", 1)[-1])]
    names = [f.rsplit("/", 1)[-1] for f in files]
    if not files:
        raise ContentHashMismatchError(uri, expected or "(a multi-part version)", "no part files")
    if expected is not None:
        actual = combined_hash(names)
        if actual != expected:
            raise ContentHashMismatchError(uri, expected, f"{actual} (from its parts {names})")
    return sorted(files, key=lambda f: f.rsplit("/", 1)[-1])


def verify(fs: LakeFileSystem, uri: str, expected: str) -> None:
    """Raise :class:`ContentHashMismatchError` unless the bytes at ``uri`` hash to ``expected`` (streamed).
    A multi-part version's folder is checked part by part (:func:`version_parts`)."""
    if is_multipart_uri(uri):
        for part in version_parts(fs, uri, expected):
            verify(fs, part, hash_from_name(part) or "")
        return
    info = fs.info(uri)
    key = (uri, expected)
    with _VERIFIED_LOCK:
        if _VERIFIED.get(key) == (info.size, info.token):
            return
    actual = fs.sha256(uri)
    if actual != expected:
        raise ContentHashMismatchError(uri, expected, actual)
    with _VERIFIED_LOCK:
        _VERIFIED[key] = (info.size, info.token)


def check_download(local: str, uri: str, expected: str | None) -> None:
    """Check a local download ``local`` of ``uri`` against ``expected`` (a no-op without one)."""
    if expected is not None:
        actual = sha256_file(local)
        if actual != expected:
            raise ContentHashMismatchError(uri, expected, actual)


@contextlib.contextmanager
def verified_local_files(fs: LakeFileSystem, uri: str, expected: str | None) -> Iterator[list[str]]:
    """Local paths holding the bytes of a version, in order: the one file of a single-file version, or the
    parts of a multi-part version folder, each checked like :func:`verified_local_file`."""
    if not is_multipart_uri(uri):
        with verified_local_file(fs, uri, expected) as local:
            yield [local]
        return
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(verified_local_file(fs, part, hash_from_name(part)))
            for part in version_parts(fs, uri, expected)
        ]


@contextlib.contextmanager
def verified_local_file(fs: LakeFileSystem, uri: str, expected: str | None) -> Iterator[str]:
    """A local path holding the bytes of ``uri``, checked against ``expected`` (when given).

    Local disk: the file itself, hashed in place. Object stores: a download into local staging, hashed and
    removed afterwards, so what the caller reads is exactly what was checked.
    """
    if fs.is_local:
        if expected is not None:
            verify(fs, uri, expected)
        yield fs._strip(uri)
        return
    local = os.path.join(fs.staging_dir(), f"{uuid.uuid4().hex}-verified.parquet")
    try:
        fs.fs.get(fs._strip(uri), local)
        check_download(local, uri, expected)
        yield local
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(local)
