"""Putting the demo client's drops into a landing zone on an object store."""

from __future__ import annotations

import time
from pathlib import Path

from retina_assets.catalog import load_client
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import filesystem_for


def upload_demo_drops(landing_uri: str, tmp_path: Path, days: int) -> list[str]:
    """Write the demo drops locally, then upload them to ``<landing_uri>/demo/``; returns their URIs once
    the uploads are complete by the demo client's rule (the store sets their modification time to the
    upload time, so this waits out the quiet period: a raw run refuses a drop modified more recently)."""
    from retina_assets.demo import SAMPLE, write_drops

    local = write_drops(tmp_path / "local_landing", source=SAMPLE, days=days)
    fs = filesystem_for(landing_uri)
    uris = []
    for path in local:
        uri = f"{landing_uri}/demo/{path.name}"
        fs.publish_file(str(path), uri, replace=False)
        uris.append(uri)
    quiet = load_client(REPO_ROOT / "clients" / "demo.yaml").completeness.quiet_seconds
    newest = max((fs.info(uri).modified or time.time() for uri in uris), default=0.0)
    time.sleep(max(0.0, newest + quiet + 0.5 - time.time()))
    return uris
