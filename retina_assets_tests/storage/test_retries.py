"""Object-store calls survive a transient outage longer than the service client's own retries, injected by a
proxy on 127.0.0.1 in front of moto S3 and of Azurite that fails the next N requests (HTTP 503 or 500, or a
dropped connection), and never retry what is not transient: a missing object, a refused credential, or a bad
drop. A server that stops answering is cut off by the client's read timeout and retried, in bounded time."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator

import pytest

from retina_assets.storage import filesystem
from retina_assets.storage.filesystem import filesystem_for, is_transient
from retina_assets_tests.support.flaky_proxy import FlakyProxy
from retina_assets_tests.support.servers_azure import AZURITE_KEY, connection_string

# more consecutive failures than the service clients absorb by themselves (botocore's legacy mode: 5
# attempts; the Azure client as configured in the storage layer: 3)
OUTAGE_REQUESTS = 6
RETRY_DELAYS = (0.2, 0.4, 0.8, 1.6, 3.2)


@pytest.fixture(params=["s3", "azure"])
def flaky_root(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, FlakyProxy]]:
    """A fresh bucket (moto S3) or container (Azurite) reached through a :class:`FlakyProxy`, and the proxy."""
    monkeypatch.setattr(filesystem, "RETRY_DELAYS_SECONDS", RETRY_DELAYS)
    if request.param == "s3":
        env = request.getfixturevalue("s3_env")
        proxy = FlakyProxy(env.endpoint)
        monkeypatch.setenv("RETINA_S3_ENDPOINT_URL", proxy.endpoint)
    else:
        env = request.getfixturevalue("azure_env")
        proxy = FlakyProxy(env.endpoint)
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(proxy.endpoint))
    try:
        yield env.uri("flaky"), proxy
    finally:
        proxy.close()


def _retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "transient" in r.getMessage()]


@pytest.mark.parametrize(
    ("flaky_root", "mode"),
    # S3 once (its client stacks retries of its own, slow in CI), Azure with every kind of failure
    [("s3", "503"), ("azure", "503"), ("azure", "500"), ("azure", "reset")],
    indirect=["flaky_root"],
)
def test_reads_writes_and_listings_outlast_a_transient_outage(
    flaky_root: tuple[str, FlakyProxy], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    root, proxy = flaky_root
    caplog.set_level("WARNING", logger="retina_assets.storage")
    fs = filesystem_for(root)
    fs.write_bytes(f"{root}/a/one.bin", b"first")
    started = time.monotonic()
    proxy.fail_next(OUTAGE_REQUESTS, mode)
    fs.write_bytes(f"{root}/a/two.bin", b"second")
    assert proxy.failed == OUTAGE_REQUESTS  # the outage happened, and the write outlasted it
    proxy.fail_next(OUTAGE_REQUESTS, mode)
    assert [f.uri.rsplit("/", 1)[-1] for f in fs.list_files(f"{root}/a")] == ["one.bin", "two.bin"]
    proxy.fail_next(OUTAGE_REQUESTS, mode)
    assert fs.read_bytes(f"{root}/a/two.bin") == b"second"
    assert proxy.failed == 3 * OUTAGE_REQUESTS
    # three outages, each seconds of backoff (the Azure SDK's default waits would take three minutes)
    assert time.monotonic() - started < 120
    assert _retry_warnings(caplog), caplog.text  # the outage outlasted the client's own retries


def test_a_commit_create_outlasts_an_outage_and_still_refuses_an_existing_entry(
    flaky_root: tuple[str, FlakyProxy],
) -> None:
    root, proxy = flaky_root
    fs = filesystem_for(root)
    proxy.fail_next(OUTAGE_REQUESTS, "503")
    assert fs.create_exclusive(f"{root}/log/00000001.json", b"first") is True
    assert proxy.failed == OUTAGE_REQUESTS
    assert fs.create_exclusive(f"{root}/log/00000001.json", b"second") is False
    assert fs.read_bytes(f"{root}/log/00000001.json") == b"first"


def test_a_small_listed_object_is_hashed_with_one_request_and_a_grown_one_whole(
    flaky_root: tuple[str, FlakyProxy],
) -> None:
    root, proxy = flaky_root
    fs = filesystem_for(root)
    fs.write_bytes(f"{root}/drop.csv", b"a;b\r\n1;2\r\n")
    before = proxy.requests
    assert fs.sha256(f"{root}/drop.csv", size=12) == hashlib.sha256(b"a;b\r\n1;2\r\n").hexdigest()
    assert proxy.requests - before == 1
    # listed small, but longer than one chunk by the time it is read: hashed whole all the same
    grown = bytes(range(256)) * 40
    fs.write_bytes(f"{root}/grown.bin", grown, replace=True)
    assert fs.sha256(f"{root}/grown.bin", chunk=1024, size=10) == hashlib.sha256(grown).hexdigest()


def test_a_missing_object_is_not_retried(flaky_root: tuple[str, FlakyProxy]) -> None:
    root, proxy = flaky_root
    fs = filesystem_for(root)
    fs.write_bytes(f"{root}/present.bin", b"x")
    before, started = proxy.requests, time.monotonic()
    with pytest.raises(FileNotFoundError) as caught:
        fs.read_bytes(f"{root}/absent.bin")
    assert proxy.requests - before <= 2 and time.monotonic() - started < 2  # no backoff, no repeats
    assert caught.value.__notes__ == [f"{root.split(':')[0]} read of {root}/absent.bin failed (not retried)"]


@pytest.mark.parametrize("flaky_root", ["azure"], indirect=True)
def test_a_refused_credential_is_not_retried_and_names_the_object(flaky_root: tuple[str, FlakyProxy]) -> None:
    """A wrong account key (Azurite checks the request signature; moto does not, so S3 is left out) fails
    on its first answer, HTTP 403, with the service's message and a note naming the object."""
    root, proxy = flaky_root
    filesystem_for(root).write_bytes(f"{root}/present.bin", b"x")
    wrong_key = base64.b64encode(b"not the account key, not at all").decode()
    wrong = connection_string(proxy.endpoint).replace(AZURITE_KEY, wrong_key)
    fs = filesystem_for(root, {"connection_string": wrong})
    before, started = proxy.requests, time.monotonic()
    with pytest.raises(Exception) as caught:
        fs.read_bytes(f"{root}/present.bin")
    assert "failed to authenticate" in str(caught.value)
    assert f"abfs read of {root}/present.bin failed (not retried)" in caught.value.__notes__
    assert not is_transient(caught.value)
    assert proxy.requests - before == 1 and time.monotonic() - started < 2


@pytest.mark.parametrize("flaky_root", ["azure"], indirect=True)
def test_a_server_that_stops_answering_is_cut_off_by_the_read_timeout_and_retried(
    flaky_root: tuple[str, FlakyProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proxy holds two requests for 30 s without an answer; with a 1 s read timeout the client gives
    up on each after a second and retries, so the write and the read finish in seconds, not minutes."""
    monkeypatch.setattr(filesystem, "AZURE_READ_TIMEOUT_SECONDS", 1.0)
    root, proxy = flaky_root
    fs = filesystem_for(root)
    started = time.monotonic()
    proxy.fail_next(1, "stall")
    fs.write_bytes(f"{root}/slow.bin", b"late")
    proxy.fail_next(1, "stall")
    assert fs.read_bytes(f"{root}/slow.bin") == b"late"
    assert proxy.failed_by_mode == {"stall": 2}
    assert time.monotonic() - started < proxy.stall_seconds / 2


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


def test_the_azure_filesystem_carries_the_client_settings_and_pickles() -> None:
    """The settings reach the service client adlfs uses, and survive pickling (fsspec pickles by class)."""
    import pickle

    fs = filesystem_for("abfs://box/x", {"connection_string": connection_string("http://127.0.0.1:9")})
    for client in (fs.fs.service_client, pickle.loads(pickle.dumps(fs.fs)).service_client):
        policy = client._config.retry_policy
        assert (policy.total_retries, policy.backoff) == (
            filesystem.AZURE_SDK_RETRIES,
            filesystem.AZURE_SDK_RETRY_WAIT_SECONDS,
        )
        assert client.url == "http://127.0.0.1:9/devstoreaccount1/"
