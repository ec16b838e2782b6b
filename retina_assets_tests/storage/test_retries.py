"""Object-store calls survive a transient outage longer than the service client's own retries (injected by a
proxy on 127.0.0.1 in front of moto S3 that fails the next N requests), and never retry what is
not transient: a missing object, or a bad drop."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from retina_assets.storage import filesystem
from retina_assets.storage.filesystem import filesystem_for, is_transient
from retina_assets_tests.support.flaky_proxy import FlakyProxy

# more consecutive failures than botocore absorbs by itself (legacy mode: 5 attempts)
OUTAGE_REQUESTS = 6
RETRY_DELAYS = (0.2, 0.4, 0.8, 1.6, 3.2)


@pytest.fixture(params=["s3"])
def flaky_root(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FlakyProxy]]:
    """A fresh bucket reached through a :class:`FlakyProxy`, and the proxy. (Azure is left out: adlfs
    behind this proxy hung on the injected 503s; its SDK retries on its own as well.)"""
    monkeypatch.setattr(filesystem, "RETRY_DELAYS_SECONDS", RETRY_DELAYS)
    env = request.getfixturevalue("s3_env")
    proxy = FlakyProxy(env.endpoint)
    monkeypatch.setenv("RETINA_S3_ENDPOINT_URL", proxy.endpoint)
    root = env.uri("flaky")
    try:
        yield root, proxy
    finally:
        proxy.close()


@pytest.mark.slow
def test_reads_writes_and_listings_outlast_a_transient_outage(flaky_root: tuple[str, FlakyProxy]) -> None:
    # HTTP 503s: s3fs/botocore absorb a few themselves (dropped connections they retry even longer, so
    # those would not show this layer at work)
    mode = "503"
    root, proxy = flaky_root
    fs = filesystem_for(root)
    fs.write_bytes(f"{root}/a/one.bin", b"first")
    proxy.fail_next(OUTAGE_REQUESTS, mode)
    fs.write_bytes(f"{root}/a/two.bin", b"second")
    assert proxy.failed == OUTAGE_REQUESTS  # the outage happened, and the write outlasted it
    proxy.fail_next(OUTAGE_REQUESTS, mode)
    assert [f.uri.rsplit("/", 1)[-1] for f in fs.list_files(f"{root}/a")] == ["one.bin", "two.bin"]
    proxy.fail_next(OUTAGE_REQUESTS, mode)
    assert fs.read_bytes(f"{root}/a/two.bin") == b"second"
    assert proxy.failed == 3 * OUTAGE_REQUESTS


def test_a_missing_object_is_not_retried(flaky_root: tuple[str, FlakyProxy]) -> None:
    root, proxy = flaky_root
    fs = filesystem_for(root)
    fs.write_bytes(f"{root}/present.bin", b"x")
    before, started = proxy.requests, time.monotonic()
    with pytest.raises(FileNotFoundError):
        fs.read_bytes(f"{root}/absent.bin")
    assert proxy.requests - before <= 2 and time.monotonic() - started < 2  # no backoff, no repeats


def test_a_bad_drop_fails_at_once_and_is_read_once(
    flaky_root: tuple[str, FlakyProxy], caplog: pytest.LogCaptureFixture
) -> None:
    """A drop whose bytes are wrong fails in the reader with its own error; nothing fetches it again."""
    from retina_assets.ingestion.raw_stage import convert_partition
    from retina_assets.model.spec import load_client_spec
    from retina_assets.settings import REPO_ROOT

    root, proxy = flaky_root
    fs = filesystem_for(root)
    fs.write_bytes(f"{root}/landing/demo/orders_20101201.csv", b"Colour;Size\r\nred;3\r\n")
    caplog.set_level("WARNING", logger="retina_assets.storage")
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")
    with pytest.raises(Exception) as caught:
        result = convert_partition(fs, f"{root}/landing/demo", spec, "orders", "2010-12-01")
        result.write_to(filesystem_for(f"{root}/lake"))  # in case conversion is lazy
    assert "orders_20101201.csv" in str(caught.value), caught.value
    assert not is_transient(caught.value)
    assert not [r for r in caplog.records if "transient" in r.getMessage()]  # nothing was retried


def test_only_transient_errors_count_as_transient() -> None:
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    wrapped = OSError("S3 said 503")
    wrapped.__cause__ = type("ClientError", (Exception,), {"response": {"Error": {"Code": "SlowDown"}}})()
    assert is_transient(wrapped)
    for permanent in (
        FileNotFoundError("x"),
        PermissionError("x"),
        ValueError("bad CSV"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"),
    ):
        assert not is_transient(permanent)
