"""Re-validating a partition after a rule change releases rows from quarantine into a new immutable
version (old versions stay), via the CLI on the instance at DAGSTER_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from retina_assets.defs.revalidate import main
from retina_assets.demo import SAMPLE, write_drops
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.quality import edit_spec, orders_quality, run_job, spec_env

DAY = "2010-12-03"  # 2,202 lines; 33 at price 0, 28 of them negative write-offs
ARGS = ["--client", "demo", "--dataset", "orders", "--partition", DAY]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    env = spec_env(tmp_path, monkeypatch)
    write_drops(env.landing, source=SAMPLE, days=3)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    return env


def _rules_by_row(path: str) -> dict[int, str]:
    table = pq.read_table(path, columns=["_source_row", "_reject_rules"]).to_pydict()
    return dict(zip(table["_source_row"], table["_reject_rules"], strict=True))


def test_rule_change_releases_rows_into_a_new_version(
    env: LakeEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    with dg.DagsterInstance.get() as instance:
        assert run_job(env, instance, DAY).success
    store = VersionedStore(str(env.lake))
    old_valid = store.current("validated", "demo", "orders", DAY)
    old_rejected = store.current("rejected", "demo", "orders", DAY)
    assert old_valid and old_rejected
    old_bytes = {p: Path(p).read_bytes() for p in (old_valid.path, old_rejected.path)}
    before = _rules_by_row(old_rejected.path)
    only_zero_price = {r for r, rules in before.items() if rules == "zero_price"}
    still_bad = {r for r, rules in before.items() if rules != "zero_price"}
    assert only_zero_price and still_bad

    # the client decides zero-price lines are sales after all
    edit_spec(env, lambda d: orders_quality(d)["rules"].update(reject_zero_price=False))
    assert main(ARGS) == 0
    out = capsys.readouterr().out
    assert f"released from quarantine: {len(only_zero_price)}" in out

    new_valid = store.current("validated", "demo", "orders", DAY)
    new_rejected = store.current("rejected", "demo", "orders", DAY)
    assert new_valid and new_rejected
    assert new_valid.path != old_valid.path and new_rejected.path != old_rejected.path
    assert new_valid.row_count == old_valid.row_count + len(only_zero_price)
    after = _rules_by_row(new_rejected.path)
    assert set(after) == still_bad and "zero_price" not in ",".join(after.values())
    released = set(pq.read_table(new_valid.path, columns=["_source_row"]).column(0).to_pylist())
    assert only_zero_price <= released
    # the new version came from the same raw version; old versions are untouched and still listed
    assert new_valid.input_paths == old_valid.input_paths
    for path, data in old_bytes.items():
        assert Path(path).read_bytes() == data
    assert [v.path for v in store.versions("validated", "demo", "orders", DAY)] == [
        old_valid.path,
        new_valid.path,
    ]

    # the run is in the DAGSTER_HOME instance (what the UI shows), tagged as a re-validation
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"retina/revalidation": "true"}))
        assert len(runs) == 1 and runs[0].tags["dagster/partition"] == DAY

    # nothing changed since: no new version, nothing released
    assert main(ARGS) == 0
    assert "released from quarantine: 0" in capsys.readouterr().out
    assert len(store.versions("validated", "demo", "orders", DAY)) == 2


def test_stricter_threshold_reports_the_block(env: LakeEnv, capsys: pytest.CaptureFixture[str]) -> None:
    with dg.DagsterInstance.get() as instance:
        assert run_job(env, instance, DAY).success
    edit_spec(
        env, lambda d: orders_quality(d).update(max_reject_fraction={"severity": "error", "threshold": 0.001})
    )
    assert main(ARGS) == 1
    assert "BLOCKED: failed blocking checks ['reject_fraction']" in capsys.readouterr().out


def test_cli_refuses_what_it_cannot_revalidate(env: LakeEnv) -> None:
    environ = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "retina_assets.defs.revalidate"]
    never_landed = subprocess.run(
        [*cmd, *ARGS], capture_output=True, text=True, timeout=120, env=environ, cwd=env.lake.parent
    )
    assert never_landed.returncode == 2
    assert f"demo/raw_orders has no version for {DAY}" in never_landed.stderr
    assert main(["--client", "demo", "--dataset", "nope", "--partition", DAY]) == 2


def test_revalidate_job_in_the_code_location(env: LakeEnv) -> None:
    """The UI way: the partitioned ``demo_revalidate`` job re-runs only the validated/rejected assets."""
    from retina_assets.definitions import build_definitions

    with dg.DagsterInstance.get() as instance:
        assert run_job(env, instance, DAY).success
        edit_spec(env, lambda d: orders_quality(d)["rules"].update(reject_zero_price=False))
        result = run_job(env, instance, DAY, job="demo_revalidate")
        assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert keys == {"demo/validated_orders", "demo/rejected_orders"}
    job = build_definitions(env.settings).resolve_job_def("demo_revalidate")
    assert job.partitions_def is not None
    store = VersionedStore(str(env.lake))
    assert len(store.versions("rejected", "demo", "orders", DAY)) == 2
