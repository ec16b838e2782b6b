"""Content-addressed, immutable files beside the versions: archived drops and client spec documents.

Layout (``<lake>`` is ``RETINA_LAKE_URI``)::

    <lake>/archive/<client>/<dataset>/<sha256>.<ext>   each drop's original bytes, as the raw stage read them
    <lake>/_specs/<client>/<sha256>.json               each client spec document a version was made with

Both are named by the SHA-256 of their bytes and published with
:meth:`~retina_assets.storage.filesystem.LakeFileSystem.publish_file` (``replace=False``): written once,
atomically, never overwritten; the same bytes kept twice are one file. A raw version records the archived
drops as its inputs, so it can be rebuilt after the client replaced or deleted its landing file. The
``archive`` folder is a zone like ``raw`` for retention: a file in it may go only when no retained version
lists it among its inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from retina_assets.model.naming import check_name
from retina_assets.model.provenance import canonical_json, spec_document
from retina_assets.model.spec import ClientSpec
from retina_assets.storage.filesystem import LakeFileSystem
from retina_assets.storage.paths import join

ARCHIVE = "archive"
SPECS = "_specs"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,10}$")


class ContentMismatchError(ValueError):
    """A content-addressed file whose bytes no longer have the hash in its name."""

    def __init__(self, uri: str, expected: str, actual: str):
        super().__init__(f"{uri}: content hash is {actual}, expected {expected} (the file was changed)")
        self.uri, self.expected, self.actual = uri, expected, actual


def hash_from_name(uri: str) -> str | None:
    """The SHA-256 a content-addressed file is named by (``.../<sha256>.<ext>``), or ``None``."""
    stem = posixpath.basename(uri).split(".", 1)[0]
    return stem if _SHA256.match(stem) else None


def copy_hashing(fs: LakeFileSystem, uri: str, local_path: str, chunk: int = 4 << 20) -> str:
    """Copy ``uri`` to the local file ``local_path`` in one pass, returning the SHA-256 of the bytes copied."""
    digest = hashlib.sha256()
    with fs.open_read(uri) as src, open(local_path, "wb") as out:
        while block := src.read(chunk):
            digest.update(block)
            out.write(block)
    return digest.hexdigest()


def archive_uri(lake_uri: str, client: str, dataset: str, sha256: str, name: str) -> str:
    """Where a drop with these bytes is archived; the extension is taken from the drop's file name."""
    ext = posixpath.splitext(name)[1].lstrip(".").lower()
    suffix = f".{ext}" if _EXTENSION.match(ext) else ""
    return join(
        lake_uri, ARCHIVE, check_name("client", client), check_name("dataset", dataset), sha256 + suffix
    )


@dataclass(frozen=True)
class ArchivedDrop:
    """A drop kept in the archive: where it is, its hash, and the landing file it came from."""

    uri: str
    sha256: str
    source: str  # the landing file's URI (also each row's ``_source_file``)
    name: str
    size: int

    def to_input(self) -> dict[str, Any]:
        """The drop as a provenance input."""
        return {
            "path": self.uri,
            "sha256": self.sha256,
            "source": self.source,
            "name": self.name,
            "bytes": self.size,
        }

    @classmethod
    def from_input(cls, value: Mapping[str, Any]) -> ArchivedDrop:
        return cls(
            str(value["path"]),
            str(value["sha256"]),
            str(value["source"]),
            str(value["name"]),
            int(value["bytes"]),
        )


def archive_local_file(
    lake_fs: LakeFileSystem, client: str, dataset: str, local_path: str, sha256: str, source: str, name: str
) -> ArchivedDrop:
    """Keep the bytes of ``local_path`` (hash ``sha256``, already computed) as an archived drop."""
    uri = archive_uri(lake_fs.root_uri, client, dataset, sha256, name)
    lake_fs.publish_file(local_path, uri, replace=False)
    return ArchivedDrop(uri, sha256, source, name, os.path.getsize(local_path))


def spec_location(lake_fs: LakeFileSystem, spec: ClientSpec) -> tuple[str, bytes]:
    """Where a client spec's document (:func:`~retina_assets.model.provenance.spec_document`) is stored,
    named by its hash, and the document's bytes."""
    payload = canonical_json(spec_document(spec))
    return join(lake_fs.root_uri, SPECS, spec.client, f"{hashlib.sha256(payload).hexdigest()}.json"), payload


def store_spec(lake_fs: LakeFileSystem, spec: ClientSpec) -> str:
    """Store a client spec's document once (see :func:`spec_location`); returns its URI."""
    uri, payload = spec_location(lake_fs, spec)
    if not lake_fs.exists(uri):
        lake_fs.write_bytes(uri, payload, replace=False)
    return uri


def load_spec(lake_fs: LakeFileSystem, uri: str) -> dict[str, Any]:
    """A stored spec document, checked against the hash in its name (:class:`ContentMismatchError`)."""
    payload = lake_fs.read_bytes(uri)
    expected = hash_from_name(uri)
    actual = hashlib.sha256(payload).hexdigest()
    if expected is not None and actual != expected:
        raise ContentMismatchError(uri, expected, actual)
    return dict(json.loads(payload))
