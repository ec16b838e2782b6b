"""Putting the demo client's drops into a landing zone on an object store."""

from __future__ import annotations

from pathlib import Path

from retina_assets.storage.filesystem import filesystem_for


def upload_demo_drops(landing_uri: str, tmp_path: Path, days: int) -> list[str]:
    """Write the demo drops locally, then upload them to ``<landing_uri>/demo/``; returns their URIs."""
    from retina_assets.demo import SAMPLE, write_drops

    local = write_drops(tmp_path / "local_landing", source=SAMPLE, days=days)
    fs = filesystem_for(landing_uri)
    uris = []
    for path in local:
        uri = f"{landing_uri}/demo/{path.name}"
        fs.publish_file(str(path), uri, replace=False)
        uris.append(uri)
    return uris
