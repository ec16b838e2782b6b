"""Pytest plugin: Azurite (the Azure Storage emulator, from npm) for the Azure Blob tests.

``azurite_blob_endpoint`` starts ``node_modules/.bin/azurite-blob`` (installed by
``scripts/install_azurite.sh``) once per session on 127.0.0.1 with a free port and a temporary data folder;
``azure_env`` exports ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite's well-known ``devstoreaccount1``
account) for one test and gives it a fresh container. Locally the tests skip with a reason when Azurite is
not installed; on CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.servers import (
    free_port,
    start_process,
    stop_process_group,
    unavailable,
    wait_for_port,
)

# Azurite's documented development account (public, the same in every Azurite installation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def connection_string(endpoint: str) -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
    )


@dataclass(frozen=True)
class AzureEnv:
    """A fresh container on Azurite, with AZURE_STORAGE_CONNECTION_STRING exported for the current test."""

    endpoint: str
    container: str

    def uri(self, *parts: str) -> str:
        return "/".join([f"abfs://{self.container}", *parts])


def _azurite_binary() -> str | None:
    local = REPO_ROOT / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return str(local)
    return shutil.which("azurite-blob")


@pytest.fixture(scope="session")
def azurite_blob_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of an Azurite blob service started for this test session."""
    binary = _azurite_binary()
    if binary is None:
        unavailable("Azurite not installed: run scripts/install_azurite.sh (needs Node.js and npm)")
    if shutil.which("node") is None:
        unavailable("Node.js not found on PATH: Azurite cannot start")
    port = free_port()
    folder = tmp_path_factory.mktemp("azurite")
    log = str(folder / "azurite.log")
    args = [
        binary,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(folder / "data"),
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]
    proc = start_process(args, log)
    try:
        wait_for_port(proc, port, timeout=60, log_path=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(proc)


@pytest.fixture
def azure_env(azurite_blob_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> AzureEnv:
    """Exports AZURE_STORAGE_CONNECTION_STRING for Azurite and creates a new empty container."""
    from azure.storage.blob import BlobServiceClient

    conn = connection_string(azurite_blob_endpoint)
    for name in ("AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_STORAGE_SAS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", conn)
    container = f"retina-{uuid.uuid4().hex[:12]}"
    with BlobServiceClient.from_connection_string(conn) as client:
        client.create_container(container)
    return AzureEnv(azurite_blob_endpoint, container)
