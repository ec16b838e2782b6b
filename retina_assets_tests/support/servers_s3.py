"""Pytest plugin: a moto S3 server (server mode, over HTTP on 127.0.0.1) for the S3 tests.

``moto_s3_endpoint`` starts ``moto_server`` once per session on a free port; ``s3_env`` exports the
``AWS_*`` variables for one test (dummy credentials, ``AWS_ENDPOINT_URL`` pointing at the server) and gives
it a fresh bucket. The server is stopped at the end of the session (SIGTERM, then SIGKILL after 10 s).
"""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from retina_assets_tests.support.servers import (
    free_port,
    start_process,
    stop_process_group,
    unavailable,
    wait_for_port,
)

# Dummy credentials for the local moto server; the secret is deliberately recognisable so tests can
# assert it never appears in logs.
S3_ACCESS_KEY = "retina-test-access-key"
S3_SECRET_KEY = "retina-s3-secret-Zq7vX2pL9"


@dataclass(frozen=True)
class S3Env:
    """A fresh bucket on the moto server, with the AWS_* variables exported for the current test."""

    endpoint: str
    bucket: str

    def uri(self, *parts: str) -> str:
        return "/".join([f"s3://{self.bucket}", *parts])


def _moto_binary() -> str | None:
    candidate = Path(sys.executable).with_name("moto_server")
    return str(candidate) if candidate.exists() else shutil.which("moto_server")


@pytest.fixture(scope="session")
def moto_s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto S3 server started for this test session."""
    binary = _moto_binary()
    if binary is None:
        unavailable("moto_server not installed (dev dependency moto[server]); run scripts/setup.sh")
    port = free_port()
    log = str(tmp_path_factory.mktemp("moto") / "moto.log")
    proc = start_process([binary, "-H", "127.0.0.1", "-p", str(port)], log)
    try:
        wait_for_port(proc, port, timeout=60, log_path=log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(proc)


@pytest.fixture
def s3_env(moto_s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    """Exports AWS_* for the moto server and creates a new empty bucket for this test."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3_endpoint)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("RETINA_S3_ENDPOINT_URL", raising=False)
    bucket = f"retina-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return S3Env(moto_s3_endpoint, bucket)
