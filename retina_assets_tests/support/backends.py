"""The three storage backends as one parametrizable fixture: ``backend_root`` gives a fresh root URI on
local disk, on the moto S3 server (``s3://``) or on Azurite (``abfs://``), with credentials in env vars."""

from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ["local", "s3", "azure"]


def backend_root(request: pytest.FixtureRequest, backend: str, tmp_path: Path, name: str) -> str:
    """A fresh, empty root URI called ``name`` on ``backend``."""
    if backend == "local":
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        return str(root)
    if backend == "s3":
        return request.getfixturevalue("s3_env").uri(name)
    if backend == "azure":
        return request.getfixturevalue("azure_env").uri(name)
    raise ValueError(backend)
