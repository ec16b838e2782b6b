"""Production notebooks as assets: <client>/clv runs its notebook on the exact customer_rfm version of the
partition, stores predictions as a lake version and the executed notebook as immutable artifacts linked
from the materialization; a failing cell fails the run with that cell's error."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.models.clv import PREDICTION_COLUMNS
from retina_assets.notebooks import PRODUCTION_NOTEBOOKS
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import materializations, run_partition

CLV = dg.AssetKey(["demo", "clv"])
DAYS = ("2010-12-01", "2010-12-02", "2010-12-03")


def _ingest(env: LakeEnv, instance: dg.DagsterInstance) -> dict[str, dict]:
    for day in DAYS:
        meta = run_partition(env, instance, day)
    assert "demo/clv" not in meta  # a model fit is not part of ingesting a drop
    return meta


def _materialize_clv(env: LakeEnv, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    defs = build_definitions(env.settings)
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        partition_key=DAYS[-1], instance=instance, asset_selection=[CLV], raise_on_error=False
    )


@pytest.mark.slow
def test_clv_notebook_asset_writes_predictions_and_keeps_the_executed_notebook(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    ingested = _ingest(lake_env, instance)
    rfm_path = ingested["demo/customer_rfm"]["path"]
    result = _materialize_clv(lake_env, instance)
    assert result.success
    meta = materializations(result)["demo/clv"]
    # the notebook got the exact version the feature recorded, and the version records it as its input
    assert meta["notebook_parameters"]["customer_rfm_path"] == rfm_path
    assert meta["input_paths"] == [rfm_path]
    assert meta["notebook_parameters"]["calibration_rfm_path"] is None  # no partition 90 days earlier
    store = VersionedStore(str(lake_env.lake))
    current = store.current("features", "demo", "clv", DAYS[-1])
    assert current is not None and current.path == meta["path"]
    predictions = store.read_table(current.path)
    rfm = store.read_table(rfm_path)
    assert predictions.column_names == list(PREDICTION_COLUMNS)
    assert predictions.column("customer_id").to_pylist() == rfm.column("customer_id").to_pylist()
    assert set(meta["parameters"]) >= {"r", "alpha", "a", "b"}
    assert meta["diagnostics"]["customers"] == rfm.num_rows
    # the executed notebook: immutable artifacts under the lake, named by their content hash
    html = Path(meta["notebook_html"])
    ipynb = Path(meta["notebook"])
    assert html.is_relative_to(lake_env.lake / "_artifacts" / "notebooks" / "demo" / "clv")
    assert ipynb.suffix == ".ipynb" and ipynb.exists()
    page = html.read_text()
    assert "Frequency/recency heat map" in page and "data:image/png;base64" in page
    import hashlib

    assert html.stem == hashlib.sha256(html.read_bytes()).hexdigest()


def test_a_failing_cell_fails_the_run_with_that_cells_error(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    broken = tmp_path / "broken.py"
    broken.write_text(
        '# %% tags=["parameters"]\ncustomer_rfm_path = ""\noutput_dir = None\n\n'
        "# %%\nprint('fine so far')\n\n# %%\nraise ValueError(f'no model for {customer_rfm_path[-12:]}')\n"
    )
    monkeypatch.setitem(
        PRODUCTION_NOTEBOOKS, "clv", dataclasses.replace(PRODUCTION_NOTEBOOKS["clv"], script=broken)
    )
    run_partition(lake_env, instance, DAYS[0])
    defs = build_definitions(lake_env.settings)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=DAYS[0], instance=instance, asset_selection=[CLV], raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error = failure.event_specific_data.error_display_string
    assert "raise ValueError(f'no model for" in error  # the failing cell, named by its code
    assert "ValueError: no model for" in error and "fine so far" not in error
    pages = list((lake_env.lake / "_artifacts" / "notebooks" / "demo" / "clv").rglob("*.html"))
    assert len(pages) == 1 and "fine so far" in pages[0].read_text()
    assert str(pages[0]) in error
    assert VersionedStore(str(lake_env.lake)).current("features", "demo", "clv", DAYS[0]) is None
