"""Immutable, content-addressed files that are not datasets: executed notebooks (``.ipynb`` and their
rendered ``.html``) kept beside the versions they produced.

The same guarantees as dataset versions: a path always means the same bytes (``<sha256>.<ext>``), it is
published atomically and never replaced, and writing the same bytes again returns the existing path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from retina_assets.storage import paths
from retina_assets.storage.filesystem import filesystem_for


def write_artifact(
    lake_uri: str,
    kind: str,
    client: str,
    name: str,
    partition: str,
    data: bytes,
    extension: str,
    storage_options: Mapping[str, Any] | None = None,
) -> str:
    """Store ``data`` as ``<lake>/_artifacts/<kind>/<client>/<name>/as_of_date=<partition>/<sha256>.<ext>``
    and return that URI (see the module docstring for the guarantees)."""
    if not re.fullmatch(r"[a-z0-9]{1,10}", extension):
        raise ValueError(f"artifact extension {extension!r} is not a short lower-case word")
    fs = filesystem_for(lake_uri, storage_options)
    folder = paths.artifact_dir(fs.root_uri, kind, client, name, partition)
    uri = paths.join(folder, f"{hashlib.sha256(data).hexdigest()}.{extension}")
    fs.write_bytes(uri, data, replace=False)
    return uri
