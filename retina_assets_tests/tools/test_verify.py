"""`python -m retina_assets.verify`: every version the example clients produce rebuilds IDENTICAL from its
recorded inputs and spec; a changed spec, a changed library and a tampered input give DIFFERENT with the
reason; a deleted input or bad arguments give exit status 2; raw rebuilds after the landing file changed;
on local disk, S3 and Azure, and for a Spark run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs.jobs import engine_run_config
from retina_assets.demo import write_example_drops
from retina_assets.model import provenance
from retina_assets.settings import REPO_ROOT, LakeSettings
from retina_assets.storage import versioned_store
from retina_assets.storage.filesystem import filesystem_for
from retina_assets.storage.parts import is_multipart_uri
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore
from retina_assets.verify import CANNOT, DIFFERENT, IDENTICAL, main, verify
from retina_assets_tests.support.backends import backend_root
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.object_store import upload_demo_drops
from retina_assets_tests.support.runs import materializations, run_partition

PARTITION = "2010-12-01"


def all_versions(lake: str) -> list[DatasetVersion]:
    """Every committed version of every partition in the lake (from the commit logs)."""
    store = VersionedStore(lake)
    return [
        version
        for key in store.all_partitions()
        for version in store.versions(key.zone, key.client, key.dataset, key.partition)
    ]


def statuses(verdicts: list) -> list[str]:
    return [v.status for v in verdicts]


def test_every_example_client_version_verifies_identical(
    lake_env: LakeEnv, instance: dg.DagsterInstance
) -> None:
    write_example_drops(lake_env.landing, days=2, sample=True)
    defs = build_definitions(lake_env.settings)
    runs = {"demo": ["2010-12-01", "2010-12-02"], "completejourney": ["2017-01-01"], "cdnow": ["1997-01-02"]}
    for client, partitions in runs.items():
        for partition in partitions:
            result = defs.resolve_job_def(f"{client}_ingest").execute_in_process(
                partition_key=partition, instance=instance
            )
            assert result.success
    versions = [v.path for v in all_versions(str(lake_env.lake))]
    zones = {v.zone for v in all_versions(str(lake_env.lake))}
    assert {"raw", "validated", "rejected", "features"} <= zones
    assert len(versions) >= 16
    for path in versions:
        verdicts = verify(str(lake_env.lake), path, recursive=True, clients_dir=str(lake_env.clients_dir))
        assert set(statuses(verdicts)) == {IDENTICAL}, "\n".join(v.report() for v in verdicts)
    # the recursive walk reaches the archived drop
    summary = next(p for p in versions if "/demo/order_summary/" in p)
    walked = verify(str(lake_env.lake), summary, recursive=True)
    assert "/archive/demo/orders/" in walked[0].path and walked[-1].path == summary


def test_cli_by_dataset_name_and_exit_codes(
    lake_env: LakeEnv,
    demo_drops: list[Path],
    instance: dg.DagsterInstance,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_partition(lake_env, instance, PARTITION)
    assert main(["demo/validated_orders", "--partition", PARTITION, "--recursive"]) == 0
    out = capsys.readouterr().out
    assert out.count(IDENTICAL) == 3  # archived drop, raw, validated
    assert main(["demo/validated_orders"]) == 2  # a dataset name needs --partition
    assert "--partition" in capsys.readouterr().out
    assert main(["demo/validated_orders", "--partition", "2011-01-01"]) == 2
    assert main(["nosuchclient/raw_orders", "--partition", PARTITION]) == 2
    assert main(["--bogus"]) == 2


def test_raw_rebuilds_after_landing_file_replaced_or_deleted(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    meta = run_partition(lake_env, instance, PARTITION)
    raw = meta["demo/raw_orders"]
    archived = raw["input_paths"][0]
    assert "/archive/demo/orders/" in archived and Path(archived).read_bytes() == demo_drops[0].read_bytes()
    assert raw["provenance"]["inputs"][0]["source"] == str(demo_drops[0])
    demo_drops[0].write_bytes(b"InvoiceNo;StockCode\n1;2\n")  # the client overwrote its file
    assert statuses(verify(str(lake_env.lake), raw["path"])) == [IDENTICAL]
    demo_drops[0].unlink()  # ... and then deleted it
    assert statuses(verify(str(lake_env.lake), raw["path"])) == [IDENTICAL]


def test_tampered_inputs_are_different_and_deleted_inputs_cannot_verify(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    meta = run_partition(lake_env, instance, PARTITION)
    raw, valid = meta["demo/raw_orders"], meta["demo/validated_orders"]
    archived = Path(raw["input_paths"][0])
    original = archived.read_bytes()
    archived.chmod(0o644)
    archived.write_bytes(original.replace(b"WHITE", b"BLACK", 1))  # one value changed in the kept drop
    verdict = verify(str(lake_env.lake), raw["path"])[0]
    assert verdict.status == DIFFERENT
    assert any(f"archived drop {archived} was changed" in d for d in verdict.details)
    assert any(d.startswith("first differing rows: row ") and "BLACK" in d for d in verdict.details)
    archived.write_bytes(original)

    raw_file = Path(raw["path"])
    raw_file.chmod(0o644)
    raw_bytes = raw_file.read_bytes()
    raw_file.write_bytes(raw_bytes[:-20] + bytes(20))  # a damaged raw version: validated's input
    verdict = verify(str(lake_env.lake), valid["path"])[0]
    assert verdict.status == DIFFERENT
    assert any(f"input {raw_file} was changed" in d for d in verdict.details)
    assert any("rebuilding from the changed inputs failed" in d for d in verdict.details)
    raw_file.write_bytes(raw_bytes)
    assert statuses(verify(str(lake_env.lake), valid["path"])) == [IDENTICAL]

    archived.unlink()  # e.g. removed by retention
    verdicts = verify(str(lake_env.lake), valid["path"], recursive=True)
    assert statuses(verdicts) == [CANNOT, CANNOT, IDENTICAL]
    assert "no longer exists" in verdicts[1].details[0]
    assert main([valid["path"], "--recursive"]) == 2


def test_changed_library_version_is_different_with_the_reason(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the version is made by an "older Parquet writer": other library version, other compression
    real = provenance.library_versions()
    with monkeypatch.context() as patch:
        patch.setattr(provenance, "library_versions", lambda: {**real, "pyarrow": "0.17.1"})
        patch.setattr(versioned_store, "PARQUET_COMPRESSION", "snappy")
        meta = run_partition(lake_env, instance, PARTITION)
    verdict = verify(str(lake_env.lake), meta["demo/raw_orders"]["path"])[0]
    assert verdict.status == DIFFERENT
    assert f"rows: {meta['demo/raw_orders']['row_count']:,} in both" in verdict.details
    assert "rows and values are equal: the files differ in encoding or file metadata" in verdict.details
    assert (
        f"differs from now: environment.libraries.pyarrow: '0.17.1' recorded, '{real['pyarrow']}' now"
        in verdict.details
    )


def test_changed_spec(
    lake_env: LakeEnv,
    demo_drops: list[Path],
    instance: dg.DagsterInstance,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    meta = run_partition(lake_env, instance, PARTITION)
    valid = meta["demo/validated_orders"]
    clients = tmp_path / "clients"
    shutil.copytree(lake_env.clients_dir, clients)
    demo = clients / "demo.yaml"
    demo.write_text(demo.read_text().replace("reject_zero_price: true", "reject_zero_price: false"))
    monkeypatch.setenv("RETINA_CLIENTS_DIR", str(clients))
    # with its recorded spec the version still rebuilds identically
    assert statuses(verify(str(lake_env.lake), valid["path"], clients_dir=str(clients))) == [IDENTICAL]
    # with the spec as it is now it does not, and verify says which spec fields changed
    verdict = verify(str(lake_env.lake), valid["path"], use_current_spec=True, clients_dir=str(clients))[0]
    assert verdict.status == DIFFERENT
    assert any("datasets.orders.quality.rules.reject_zero_price" in d for d in verdict.details)
    assert any(
        d.startswith("rows: ") and "recorded" in d for d in verdict.details
    )  # zero-price rows kept now
    assert any(d.startswith("differs from now: spec:") for d in verdict.details)
    assert main([valid["path"], "--spec", "current"]) == 1
    # a stored spec document that was changed is refused
    spec_file = Path(valid["provenance"]["spec"]["uri"])
    spec_file.write_text(spec_file.read_text().replace('"latin-1"', '"utf-8"'))
    verdict = verify(str(lake_env.lake), valid["path"])[0]
    assert verdict.status == CANNOT and "recorded spec was changed" in verdict.details[0]


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_verify_on_object_storage(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    lake = backend_root(request, backend, tmp_path, "lake")
    landing = backend_root(request, backend, tmp_path, "landing")
    drops = upload_demo_drops(landing, tmp_path, days=1)
    defs = build_definitions(LakeSettings(lake, landing, str(REPO_ROOT / "clients")))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("demo_ingest").execute_in_process(
            partition_key=PARTITION, instance=instance
        )
        assert result.success
        meta = materializations(result)
    summary = meta["demo/order_summary"]["path"]
    verdicts = verify(lake, summary, recursive=True)
    assert statuses(verdicts) == [IDENTICAL] * 4
    assert verdicts[0].path.startswith(f"{lake}/archive/demo/orders/")
    # the landing file is gone: raw still rebuilds from the archive
    filesystem_for(landing).delete(drops[0])
    assert statuses(verify(lake, meta["demo/raw_orders"]["path"])) == [IDENTICAL]


@pytest.mark.slow
def test_verify_a_spark_run(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance, spark_local: object
) -> None:
    defs = build_definitions(lake_env.settings)
    from retina_assets.catalog import load_clients

    demo = next(s for s in load_clients(lake_env.clients_dir) if s.client == "demo")
    result = defs.resolve_job_def("demo_ingest").execute_in_process(
        partition_key=PARTITION, instance=instance, run_config=engine_run_config(demo, "spark")
    )
    assert result.success
    meta = materializations(result)
    assert meta["demo/validated_orders"]["provenance"]["engine"] == "spark"
    assert meta["demo/order_summary"]["provenance"]["engine"] == "spark"
    for key in ("demo/validated_orders", "demo/rejected_orders", "demo/order_summary"):
        # written by the Spark executors as a folder of parts (order_summary reads such a folder)
        assert is_multipart_uri(meta[key]["path"]) and meta[key]["parts"] >= 1
        verdicts = verify(str(lake_env.lake), meta[key]["path"])
        assert statuses(verdicts) == [IDENTICAL], verdicts[0].report()
    assert os.environ["RETINA_LAKE_URI"] == str(lake_env.lake)
