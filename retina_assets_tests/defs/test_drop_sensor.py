"""The drop sensor, called directly with ``build_sensor_context`` against a landing zone on local disk, S3
(moto server) and Azure Blob (Azurite): completeness rules, content dedupe, corrections, durable cursor."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.defs import sensors as drop_sensor
from retina_assets.defs.landing import landing_data_version
from retina_assets.defs.resources import LakeResource, LandingResource
from retina_assets.model.spec import ClientSpec, CompletenessRule, load_client_spec
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import filesystem_for
from retina_assets_tests.support.backends import BACKENDS, backend_root

pytestmark = pytest.mark.parametrize("backend", BACKENDS)

ORDERS = ["raw_orders", "validated_orders", "rejected_orders", "order_summary", "customer_rfm"]


def demo_spec(**completeness: object) -> ClientSpec:
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")
    return spec.model_copy(update={"completeness": CompletenessRule(**completeness)})


class Landing:
    """A landing root and a lake (for the sensor's state) on one backend, a real Dagster instance, and a
    sensor for the demo client over them."""

    def __init__(self, root: str, spec: ClientSpec, lake: str, instance: dg.DagsterInstance):
        self.root = root
        self.lake = lake
        self.instance = instance
        self.fs = filesystem_for(root)
        self.spec = spec
        job = dg.define_asset_job("demo_ingest", selection=dg.AssetSelection.groups("demo"))
        self.sensor = drop_sensor.build_drop_sensor(spec, job)
        self.cursor: str | None = None

    def put(self, name: str, data: bytes) -> None:
        self.fs.write_bytes(f"{self.root}/demo/{name}", data, replace=True)

    def tick(self) -> list[dg.RunRequest]:
        """One evaluation, as the daemon does it: a fresh context with the stored cursor."""
        resources = {
            "landing": LandingResource(landing_uri=self.root),
            "lake": LakeResource(lake_uri=self.lake),
        }
        with dg.build_sensor_context(
            cursor=self.cursor, resources=resources, instance=self.instance
        ) as context:
            result = self.sensor(context)
        assert isinstance(result, dg.SensorResult)
        self.cursor = result.cursor
        self.observations = list(result.asset_events or [])
        self.skip_reason = result.skip_reason.skip_message if result.skip_reason else None
        return list(result.run_requests or [])


@pytest.fixture
def make_landing(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path, instance: dg.DagsterInstance
) -> Callable[..., Landing]:
    lake = backend_root(request, backend, tmp_path, "lake")

    def make(**completeness: object) -> Landing:
        root = backend_root(request, backend, tmp_path, "landing")
        return Landing(root, demo_spec(**completeness), lake, instance)

    return make


def test_marker_mode_starts_one_run_per_complete_drop(make_landing: Callable[..., Landing]) -> None:
    landing = make_landing(mode="marker", marker_suffix=".done")
    landing.put("orders_20101201.csv", b"a;b\r\n1;2\r\n")
    landing.put("notes.txt", b"not a drop")
    assert landing.tick() == []  # no marker yet: a partial upload is never ingested
    landing.put("orders_20101201.csv.done", b"")
    [request] = landing.tick()
    assert request.partition_key == "2010-12-01"
    assert request.tags["retina/client"] == "demo" and request.tags["retina/dataset"] == "orders"
    assert request.tags["retina/drop"] == "orders_20101201.csv"
    assert request.run_key.startswith("orders:2010-12-01:")
    assert [k.path for k in request.asset_selection] == [["demo", name] for name in ORDERS]
    assert landing.tick() == []  # the cursor remembers it


def test_quiet_period_waits_until_the_file_stops_changing(
    make_landing: Callable[..., Landing], monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = make_landing(mode="quiet_period", quiet_seconds=30)
    clock = [time.time()]
    monkeypatch.setattr(drop_sensor, "_now", lambda: clock[0])
    landing.put("orders_20101202.csv", b"part")
    assert landing.tick() == []  # just written: still in its quiet period
    landing.put("orders_20101202.csv", b"part and the rest")  # the upload goes on
    clock[0] = time.time() + 10
    assert landing.tick() == []
    state = json.loads(landing.cursor or "{}")
    assert list(state["pending"]) == [f"{landing.root}/demo/orders_20101202.csv"]
    clock[0] = time.time() + 120  # quiet for long enough
    [request] = landing.tick()
    assert request.partition_key == "2010-12-02"
    assert request.tags["retina/sha256"] == hashlib.sha256(b"part and the rest").hexdigest()
    assert json.loads(landing.cursor or "{}")["pending"] == {}


def test_same_content_under_any_name_is_ingested_once(make_landing: Callable[..., Landing]) -> None:
    landing = make_landing(mode="marker")
    landing.put("orders_20101201.csv", b"same bytes")
    landing.put("orders_20101201.csv.done", b"")
    assert len(landing.tick()) == 1
    landing.put("orders_20101203.csv", b"same bytes")  # a re-sent copy under another name
    landing.put("orders_20101203.csv.done", b"")
    assert landing.tick() == []


def test_a_corrected_drop_runs_again_for_the_same_date(make_landing: Callable[..., Landing]) -> None:
    landing = make_landing(mode="marker")
    landing.put("orders_20101201.csv", b"first version")
    landing.put("orders_20101201.csv.done", b"")
    [first] = landing.tick()
    landing.put("orders_20101201.csv", b"corrected version")
    [second] = landing.tick()
    assert second.partition_key == first.partition_key == "2010-12-01"
    assert second.run_key != first.run_key


def test_the_cursor_alone_carries_state_across_restarts(
    make_landing: Callable[..., Landing], monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = make_landing(mode="marker")
    for day in ("01", "02"):
        landing.put(f"orders_201012{day}.csv", f"day {day}".encode())
        landing.put(f"orders_201012{day}.csv.done", b"")
    assert {r.partition_key for r in landing.tick()} == {"2010-12-01", "2010-12-02"}
    saved = landing.cursor
    # a "restarted daemon": a brand-new sensor definition, only the stored cursor survives
    restarted = make_landing(mode="marker")
    restarted.root, restarted.fs, restarted.cursor = landing.root, landing.fs, saved
    reads: list[str] = []
    real = drop_sensor.sha256_of_file
    monkeypatch.setattr(
        drop_sensor, "sha256_of_file", lambda fs, uri, size=None: reads.append(uri) or real(fs, uri, size)
    )
    assert restarted.tick() == []
    assert reads == []  # unchanged files are not read again: the cursor names their hashes' state file
    restarted.put("orders_20101203.csv", b"day 03")
    restarted.put("orders_20101203.csv.done", b"")
    [request] = restarted.tick()
    assert request.partition_key == "2010-12-03" and len(reads) == 1
    # with the run it starts, the sensor observes that landing partition: the drop and its hash
    [observation] = restarted.observations
    assert observation.asset_key == dg.AssetKey(["demo", "landing_orders"])
    assert observation.partition == "2010-12-03"
    [seen] = observation.metadata["drops"].value
    assert seen["name"] == "orders_20101203.csv" and seen["sha256"] == hashlib.sha256(b"day 03").hexdigest()
    assert observation.tags["dagster/data_version"] == landing_data_version([(seen["name"], seen["sha256"])])


def test_a_badly_dated_file_is_reported_and_never_holds_up_the_others(
    make_landing: Callable[..., Landing], capfd: pytest.CaptureFixture[str]
) -> None:
    landing = make_landing(mode="marker")
    for name in ("orders_20101341.csv", "orders_20300101.csv", "orders_20101201.csv"):
        landing.put(name, name.encode())
        landing.put(f"{name}.done", b"")
    [request] = landing.tick()
    assert request.partition_key == "2010-12-01"
    log = capfd.readouterr().err
    assert "orders_20101341.csv: date '20101341' does not match '%Y%m%d'" in log
    assert "orders_20300101.csv: as_of_date 2030-01-01 is not a partition of client demo" in log
    assert landing.tick() == []
    assert "orders_20101341.csv" not in capfd.readouterr().err  # reported once, not on every tick


def test_the_cursor_stays_small_and_an_idle_tick_reads_nothing(
    make_landing: Callable[..., Landing], monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = make_landing(mode="marker")
    sizes = []
    for month in ("201012", "201101", "201102"):
        for day in range(1, 21):
            name = f"orders_{month}{day:02d}.csv"
            landing.put(name, f"{name} content".encode())
            landing.put(f"{name}.done", b"")
        assert len(landing.tick()) == 20
        sizes.append(len(landing.cursor or ""))
    assert max(sizes) < 400 and len(set(sizes)) == 1, sizes  # 20, 40 and 60 files: the same small cursor
    # an idle tick neither hashes a file nor loads the state from the lake
    calls: list[str] = []
    monkeypatch.setattr(drop_sensor, "sha256_of_file", lambda fs, uri, size=None: calls.append(uri) or "")
    monkeypatch.setattr(drop_sensor.DropState, "load", lambda self, name: calls.append(name) or {})
    before = landing.cursor
    assert landing.tick() == []
    assert calls == [] and landing.cursor == before


def test_content_requested_before_is_not_ingested_again_after_its_file_left_the_landing(
    make_landing: Callable[..., Landing],
) -> None:
    from dagster._core.test_utils import create_run_for_test

    landing = make_landing(mode="marker")
    landing.put("orders_20101201.csv", b"sent once")
    landing.put("orders_20101201.csv.done", b"")
    [request] = landing.tick()
    # a tick that failed after creating its run leaves it NOT_STARTED: the drop is requested again (same
    # run key, so the daemon launches that run) ...
    create_run_for_test(landing.instance, job_name="demo_ingest", tags=request.tags)
    landing.cursor = None
    [again] = landing.tick()
    assert again.run_key == request.run_key
    # ... while a submitted run counts as requested
    create_run_for_test(
        landing.instance, job_name="demo_ingest", tags=request.tags, status=dg.DagsterRunStatus.SUCCESS
    )
    landing.fs.delete(f"{landing.root}/demo/orders_20101201.csv")
    landing.fs.delete(f"{landing.root}/demo/orders_20101201.csv.done")
    assert landing.tick() == []
    landing.put("orders_20101205.csv", b"sent once")  # weeks later, the same bytes under another name
    landing.put("orders_20101205.csv.done", b"")
    assert landing.tick() == []
    landing.put("orders_20101206.csv", b"new bytes")
    landing.put("orders_20101206.csv.done", b"")
    assert [r.partition_key for r in landing.tick()] == ["2010-12-06"]


def test_a_cursor_of_the_earlier_format_is_taken_over_without_reading_files_again(
    make_landing: Callable[..., Landing], monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = make_landing(mode="marker")
    uri = f"{landing.root}/demo/orders_20101201.csv"
    landing.put("orders_20101201.csv", b"ingested under the earlier cursor")
    landing.put("orders_20101201.csv.done", b"")
    info = landing.fs.info(uri)
    content = hashlib.sha256(b"ingested under the earlier cursor").hexdigest()
    landing.cursor = json.dumps(
        {
            "v": 2,
            "seen": [f"orders:{content}"],
            "pending": {},
            "hashed": {uri: [info.size, info.token, content]},
            "bad": [],
        }
    )
    reads: list[str] = []
    monkeypatch.setattr(drop_sensor, "sha256_of_file", lambda fs, u, size=None: reads.append(u) or "")
    assert landing.tick() == [] and reads == []
    assert json.loads(landing.cursor or "{}")["v"] == drop_sensor.CURSOR_VERSION


def test_idle_ticks_say_how_many_files_wait_for_their_marker(make_landing: Callable[..., Landing]) -> None:
    landing = make_landing(mode="marker", marker_suffix=".done")
    landing.put("orders_20101201.csv", b"a;b\r\n1;2\r\n")
    landing.put("orders_20101202.csv", b"a;b\r\n3;4\r\n")
    assert landing.tick() == []
    assert landing.skip_reason == "no new complete drops (2 waiting for their .done marker)"
    # the next tick sees the same listing and reads no state, yet still says what waits
    loads: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(drop_sensor.DropState, "load", lambda self, name: loads.append(name) or {})
        assert landing.tick() == [] and loads == []
    assert landing.skip_reason == "no new complete drops (2 waiting for their .done marker)"
    landing.put("orders_20101201.csv.done", b"")
    assert len(landing.tick()) == 1
    assert landing.tick() == []
    assert landing.skip_reason == "no new complete drops (1 waiting for their .done marker)"


def test_a_tick_past_its_hashing_budget_leaves_the_rest_to_the_next_tick(
    make_landing: Callable[..., Landing], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A landing full of unknown files is hashed over several ticks (each inside the daemon's sensor
    timeout), one batch at least per tick, and every drop gets its run with its own content's hash."""
    monkeypatch.setattr(drop_sensor, "HASH_BUDGET_SECONDS", 0.0)
    monkeypatch.setattr(drop_sensor, "HASH_WORKERS", 1)  # batches of 16 drops
    landing = make_landing(mode="marker")
    contents = {}
    for day in range(1, 21):
        name = f"orders_201012{day:02d}.csv"
        contents[name] = f"a;b\r\n{day};{day}\r\n".encode()
        landing.put(name, contents[name])
        landing.put(f"{name}.done", b"")
    first, second = landing.tick(), landing.tick()
    assert (len(first), len(second)) == (16, 4)
    assert landing.tick() == [] and landing.skip_reason == "no new drops"
    tags = {r.tags["retina/drop"]: r.tags["retina/sha256"] for r in first + second}
    assert tags == {name: hashlib.sha256(data).hexdigest() for name, data in contents.items()}
