"""Process-wide settings read from the environment.

Every location the lake uses comes from an environment variable so the same code runs on a laptop, in CI
and in a container. Nothing here holds credentials: object-store secrets are read by the filesystem layer
from their own variables (``AWS_*``, ``AZURE_STORAGE_*``) and are never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_clients_dir() -> str:
    cwd_clients = Path.cwd() / "clients"
    if cwd_clients.is_dir():
        return str(cwd_clients)
    return str(REPO_ROOT / "clients")


@dataclass(frozen=True)
class LakeSettings:
    """Where the lake, the landing zone and the client specs live."""

    lake_uri: str
    landing_uri: str
    clients_dir: str

    @classmethod
    def from_env(cls) -> LakeSettings:
        return cls(
            lake_uri=os.environ.get("RETINA_LAKE_URI") or str(Path.cwd() / ".lake"),
            landing_uri=os.environ.get("RETINA_LANDING_URI") or str(Path.cwd() / ".landing"),
            clients_dir=os.environ.get("RETINA_CLIENTS_DIR") or _default_clients_dir(),
        )
