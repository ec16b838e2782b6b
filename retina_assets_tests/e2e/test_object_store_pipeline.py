"""The whole demo pipeline (landing drop -> raw -> validated -> order_summary) with the lake AND the landing
zone on S3 (moto server) and on Azure Blob (Azurite); credentials only from env vars, never logged."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import dagster as dg
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs import sensors as drop_sensor
from retina_assets.settings import REPO_ROOT, LakeSettings
from retina_assets.storage import filesystem
from retina_assets.storage.filesystem import filesystem_for
from retina_assets_tests.support.backends import backend_root
from retina_assets_tests.support.flaky_proxy import FlakyProxy
from retina_assets_tests.support.object_store import upload_demo_drops
from retina_assets_tests.support.servers_azure import AZURITE_KEY, connection_string
from retina_assets_tests.support.servers_s3 import S3_SECRET_KEY

KEYS = [
    "demo/raw_orders", "demo/validated_orders", "demo/rejected_orders", "demo/order_summary", "demo/customer_rfm",
]  # fmt: skip
SECRETS = {"s3": S3_SECRET_KEY, "azure": AZURITE_KEY}


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_pipeline_runs_with_lake_and_landing_on_object_storage(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lake = backend_root(request, backend, tmp_path, "lake")
    landing = backend_root(request, backend, tmp_path, "landing")
    drops = upload_demo_drops(landing, tmp_path, days=2)
    settings = LakeSettings(lake, landing, str(REPO_ROOT / "clients"))
    defs = build_definitions(settings)
    secret = SECRETS[backend]
    assert secret in "".join(os.environ.values())  # the secret really is in the environment

    caplog.set_level(logging.DEBUG)
    with dg.instance_for_test() as instance:
        metas = {}
        for day, drop in zip(("2010-12-01", "2010-12-02"), drops, strict=True):
            result = defs.resolve_job_def("demo_ingest").execute_in_process(
                partition_key=day, instance=instance
            )
            assert result.success
            meta = {
                e.asset_key.to_user_string(): {
                    k: v.value for k, v in e.event_specific_data.materialization.metadata.items()
                }
                for e in result.get_asset_materialization_events()
            }
            assert set(KEYS) <= set(meta)
            [archived] = meta["demo/raw_orders"]["input_paths"]
            assert archived.startswith(f"{lake}/archive/demo/orders/")
            assert meta["demo/raw_orders"]["provenance"]["inputs"][0]["source"] == drop
            assert meta["demo/validated_orders"]["input_paths"] == [meta["demo/raw_orders"]["path"]]
            assert meta["demo/order_summary"]["input_paths"] == [meta["demo/validated_orders"]["path"]]
            metas[day] = meta
        logs = [str(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id)]
        run_configs = [str(run.run_config) for run in instance.get_runs()]

    fs = filesystem_for(lake)
    for meta in metas.values():
        for key in KEYS:
            path = meta[key]["path"]
            assert path.startswith(f"{lake}/") and fs.exists(path)
            assert path.endswith(f"{meta[key]['content_hash']}.parquet")
        raw = meta["demo/raw_orders"]
        assert (
            raw["row_count"]
            == meta["demo/validated_orders"]["row_count"] + meta["demo/rejected_orders"]["row_count"]
        )

    # the feature root on the object store is one hive dataset with both days
    root = f"{lake}/features/demo/order_summary"
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))
    table = ds.dataset(
        root.split("://", 1)[1], filesystem=arrow_fs, format="parquet", partitioning="hive"
    ).to_table()
    per_day: dict[str, int] = {}
    for value in table.column("as_of_date").to_pylist():
        per_day[str(value)] = per_day.get(str(value), 0) + 1
    assert per_day == {day: m["demo/order_summary"]["row_count"] for day, m in metas.items()}

    # a re-run deduplicates: same paths, nothing new written
    before = sorted(fs.fs.find(lake))
    with dg.instance_for_test() as instance:
        again = defs.resolve_job_def("demo_ingest").execute_in_process(
            partition_key="2010-12-01", instance=instance
        )
        assert again.success
        for event in again.get_asset_materialization_events():
            mat = event.event_specific_data.materialization
            assert mat.metadata["deduplicated"].value is True
    assert sorted(fs.fs.find(lake)) == before

    # the credentials never reach the event log, the run config, Python logging or repr of resources
    assert logs and all(secret not in line for line in logs)
    assert all(secret not in config for config in run_configs)
    assert secret not in caplog.text
    assert all(secret not in repr(resource) for resource in defs.resources.values())


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_sensor_requests_on_object_storage_run_as_requested(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A drop uploaded to an S3/Azure landing zone: the sensor's run request, executed as the daemon would
    (its partition, asset selection and tags), builds raw, validated and order_summary on the object store."""
    lake = backend_root(request, backend, tmp_path, "lake")
    landing = backend_root(request, backend, tmp_path, "landing")
    [drop] = upload_demo_drops(landing, tmp_path, days=1)
    defs = build_definitions(LakeSettings(lake, landing, str(REPO_ROOT / "clients")))
    sensor = defs.resolve_sensor_def("demo_drop_sensor")
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            resources={"landing": defs.resources["landing"], "lake": defs.resources["lake"]},
            instance=instance,
        ) as context,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setattr(
            drop_sensor, "_now", lambda: 4_000_000_000.0
        )  # the upload is older than the quiet period
        result = sensor(context)
    [run_request] = result.run_requests
    assert (
        run_request.partition_key == "2010-12-01" and run_request.tags["retina/drop"] == drop.rsplit("/")[-1]
    )
    with dg.instance_for_test() as instance:
        run = defs.resolve_job_def("demo_ingest").execute_in_process(
            partition_key=run_request.partition_key,
            asset_selection=run_request.asset_selection,
            tags=run_request.tags,
            instance=instance,
        )
    assert run.success
    built = {e.asset_key.to_user_string(): e for e in run.get_asset_materialization_events()}
    assert set(built) == set(KEYS)
    summary = built["demo/order_summary"].event_specific_data.materialization.metadata
    assert filesystem_for(lake).exists(str(summary["published_path"].value))


def test_a_run_on_azure_succeeds_while_requests_keep_failing(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every eighth request of the run to Azurite fails (HTTP 503, HTTP 500, a dropped connection, in turn,
    injected by a proxy on 127.0.0.1): the client's and the storage layer's retries carry the whole
    ingest run (raw, validated, order_summary) through, and every output it wrote is whole."""
    env = request.getfixturevalue("azure_env")
    lake, landing = env.uri("lake"), env.uri("landing")
    upload_demo_drops(landing, tmp_path, days=1)
    proxy = FlakyProxy(env.endpoint)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(proxy.endpoint))
    monkeypatch.setattr(filesystem, "RETRY_DELAYS_SECONDS", (0.2, 0.4, 0.8, 1.6, 3.2))
    defs = build_definitions(LakeSettings(lake, landing, str(REPO_ROOT / "clients")))
    try:
        proxy.fail_every(8, ["503", "500", "reset"])
        started = time.monotonic()
        with dg.instance_for_test() as instance:
            run = defs.resolve_job_def("demo_ingest").execute_in_process(
                partition_key="2010-12-01", instance=instance
            )
        proxy.fail_every(0)
        assert run.success
        # each failure costs a retry of about half a second (the Azure client's default waits, 15 s and
        # more per retry, would take minutes)
        assert time.monotonic() - started < 120
        assert set(proxy.failed_by_mode) == {"503", "500", "reset"} and proxy.failed >= 10, (
            proxy.failed_by_mode
        )
        built = {
            e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
            for e in run.get_asset_materialization_events()
        }
        assert set(KEYS) <= set(built)
        # every output is whole: its bytes hash to the content hash its path was named after
        fs = filesystem_for(lake)
        for key in KEYS:
            path, content_hash = built[key]["path"].value, built[key]["content_hash"].value
            assert path.endswith(f"{content_hash}.parquet") and fs.sha256(path) == content_hash, key
    finally:
        proxy.close()
