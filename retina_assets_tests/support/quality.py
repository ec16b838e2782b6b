"""Helpers for the data-quality tests: a lake whose client specs are editable copies, and job runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml

from retina_assets.definitions import build_definitions
from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.landing import settled


def spec_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    """Like ``lake_env`` but with a private copy of ``clients/demo.yaml`` that a test may edit."""
    env = LakeEnv(tmp_path / "lake", tmp_path / "landing", tmp_path / "clients")
    for folder in (env.lake, env.landing, env.clients_dir):
        folder.mkdir()
    (env.clients_dir / "demo.yaml").write_text((REPO_ROOT / "clients" / "demo.yaml").read_text())
    monkeypatch.setenv("RETINA_LAKE_URI", str(env.lake))
    monkeypatch.setenv("RETINA_LANDING_URI", str(env.landing))
    monkeypatch.setenv("RETINA_CLIENTS_DIR", str(env.clients_dir))
    return env


def edit_spec(env: LakeEnv, edit: Callable[[dict[str, Any]], None], client: str = "demo") -> None:
    """Apply ``edit`` to the client's YAML (as a dict) and write it back."""
    path = env.clients_dir / f"{client}.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def orders_quality(data: dict[str, Any]) -> dict[str, Any]:
    """The ``quality`` mapping of the demo client's orders dataset."""
    return data["datasets"]["orders"].setdefault("quality", {})


def run_job(env: LakeEnv, instance: dg.DagsterInstance, partition: str, job: str = "demo_ingest") -> Any:
    """Execute a client job for one partition in-process; failures are returned, not raised."""
    defs = build_definitions(env.settings)
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=partition, instance=instance, raise_on_error=False
    )


def materialize(
    env: LakeEnv, instance: dg.DagsterInstance, partition: str, *keys: str
) -> dg.ExecuteInProcessResult:
    """Materialize the given asset keys (``demo/validated_orders``...) for one partition."""
    defs = build_definitions(env.settings)
    return dg.materialize(
        [*defs.assets],  # type: ignore[list-item]
        selection=list(keys),
        partition_key=partition,
        instance=instance,
        resources=defs.resources,
        raise_on_error=False,
    )


def check_results(result: Any) -> dict[str, Any]:
    """Check name -> AssetCheckEvaluation of a run result."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def write_drop(env: LakeEnv, day: str, rows: list[dict[str, Any]]) -> Path:
    """Write a demo-format drop (``orders_YYYYMMDD.csv``) with the given Online Retail rows."""
    import pandas as pd

    from retina_assets.demo import to_client_format

    frame = pd.DataFrame(rows, dtype=str).fillna("")
    target = env.landing / "demo"
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"orders_{day.replace('-', '')}.csv"
    path.write_bytes(to_client_format(frame))
    settled(path)
    return path
