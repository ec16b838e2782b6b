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
