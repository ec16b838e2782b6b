"""The Dagster CLI as a user runs it (README): validate the code location, materialize partitions, re-run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv

DAGSTER = str(Path(sys.executable).with_name("dagster"))
SELECT = "demo/raw_orders,demo/validated_orders,demo/rejected_orders,demo/order_summary"

pytestmark = pytest.mark.slow


@pytest.fixture
def dagster_home(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def _cli(args: list[str], env: LakeEnv, home: Path) -> subprocess.CompletedProcess[str]:
    run_env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RETINA_LAKE_URI": str(env.lake),
        "RETINA_LANDING_URI": str(env.landing),
        "RETINA_CLIENTS_DIR": str(env.clients_dir),
    }
    return subprocess.run(
        [DAGSTER, *args], cwd=home, env=run_env, capture_output=True, text=True, timeout=300, check=False
    )


def test_definitions_validate(lake_env: LakeEnv, dagster_home: Path) -> None:
    proc = _cli(["definitions", "validate", "-m", "retina_assets.definitions"], lake_env, dagster_home)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful" in proc.stderr + proc.stdout


def test_materialize_partition_from_the_cli_and_rerun(
    lake_env: LakeEnv, demo_drops: list[Path], dagster_home: Path
) -> None:
    args = [
        "asset",
        "materialize",
        "-m",
        "retina_assets.definitions",
        "--select",
        SELECT,
        "--partition",
        "2010-12-03",
    ]
    first = _cli(args, lake_env, dagster_home)
    assert first.returncode == 0, first.stderr[-3000:]
    files_after_first = {p: p.read_bytes() for p in lake_env.lake.rglob("*.parquet")}
    assert any("features/demo/order_summary/as_of_date=2010-12-03" in str(p) for p in files_after_first)

    second = _cli(args, lake_env, dagster_home)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {p: p.read_bytes() for p in lake_env.lake.rglob("*.parquet")} == files_after_first

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["demo", "validated_orders"]), asset_partitions=["2010-12-03"]
            ),
            limit=10,
        ).records
        assert len(records) == 2
        newest, oldest = (r.asset_materialization.metadata for r in records)
        assert newest["path"].value == oldest["path"].value
        assert newest["deduplicated"].value is True and oldest["deduplicated"].value is False
        assert Path(str(newest["path"].value)).exists()
        assert json.dumps(newest["input_paths"].value).count("raw/demo/orders/as_of_date=2010-12-03") == 1


def test_one_output_of_the_validation_step_selected_from_the_cli(
    lake_env: LakeEnv, demo_drops: list[Path], dagster_home: Path
) -> None:
    """``--select demo/validated_orders`` (and ``demo/rejected_orders``) alone run the step that makes both."""
    base = ["asset", "materialize", "-m", "retina_assets.definitions", "--partition", "2010-12-01"]
    raw = _cli([*base, "--select", "demo/raw_orders"], lake_env, dagster_home)
    assert raw.returncode == 0, raw.stderr[-3000:]
    for selected in ("demo/validated_orders", "demo/rejected_orders"):
        proc = _cli([*base, "--select", selected], lake_env, dagster_home)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "DagsterInvalidSubsetError" not in proc.stderr
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for name in ("validated_orders", "rejected_orders"):
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(["demo", name]), asset_partitions=["2010-12-01"]),
                limit=10,
            ).records
            assert len(records) == 2  # one per run, selected or written with its pair
            assert Path(str(records[0].asset_materialization.metadata["path"].value)).exists()


DG = str(Path(sys.executable).with_name("dg"))


def test_dg_checks_and_lists_the_definitions(lake_env: LakeEnv, dagster_home: Path) -> None:
    """Dagster's current CLI (``dg``, configured by ``[tool.dg]`` in pyproject.toml) loads the project."""
    env = {**os.environ, "RETINA_LAKE_URI": str(lake_env.lake), "RETINA_LANDING_URI": str(lake_env.landing)}
    env["RETINA_CLIENTS_DIR"] = str(lake_env.clients_dir)
    check = subprocess.run(
        [DG, "check", "defs"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    assert "All definitions loaded successfully" in check.stdout + check.stderr
    listed = subprocess.run(
        [DG, "list", "defs", "--json"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert {"demo/raw_orders", "demo/validated_orders", "demo/rejected_orders", "demo/order_summary"} <= keys
    assert {"cdnow/order_summary", "completejourney/raw_products"} <= keys
