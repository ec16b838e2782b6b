"""End to end with a real ``dagster-daemon run``: drops landing in a local folder start runs by themselves,
raw -> validated -> order_summary follow, a re-sent copy is not ingested again after a daemon restart (the
cursor survived), a corrected drop makes a new version and rebuilds the features, the daemon judges the
raw asset fresh under its freshness policy, and a run that fails is posted by the daemon's run-failure sensor
to a webhook on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.freshness import FreshnessState

from retina_assets.defs.alerts import WEBHOOK_ENV_VAR
from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.servers import start_process, stop_process_group
from retina_assets_tests.support.webhook import Webhook

pytestmark = pytest.mark.slow

DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
WAIT_SECONDS = 180
RAW, VALID, SUMMARY = (
    dg.AssetKey(["demo", name]) for name in ("raw_orders", "validated_orders", "order_summary")
)


class Daemon:
    """``dagster-daemon run`` in its own process group over a temporary DAGSTER_HOME."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env, self.proc = home, env, None
        self.log = home / "daemon.log"

    def start(self) -> None:
        args = [DAEMON, "run", "-w", str(REPO_ROOT / "workspace.yaml")]
        self.proc = start_process(args, str(self.log), env=self.env)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc, timeout=20)
            self.proc = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


@pytest.fixture
def daemon(lake_env: LakeEnv, tmp_path: Path) -> Iterator[Daemon]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RETINA_LAKE_URI": str(lake_env.lake),
        "RETINA_LANDING_URI": str(lake_env.landing),
        "RETINA_CLIENTS_DIR": str(lake_env.clients_dir),
        "RETINA_SENSOR_INTERVAL_SECONDS": "5",
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    proc = Daemon(home, env)
    try:
        yield proc
    finally:
        proc.stop()


def wait_for(what: str, condition: Callable[[], bool], daemon: Daemon) -> None:
    """Poll ``condition`` every 2 s for up to WAIT_SECONDS; fail with the daemon's log otherwise."""
    start = time.monotonic()
    deadline = start + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            print(f"{what}: {time.monotonic() - start:.0f}s")
            return
        assert daemon.proc is not None and daemon.proc.poll() is None, f"daemon exited:\n{daemon.tail()}"
        time.sleep(2)
    pytest.fail(f"timed out after {WAIT_SECONDS}s waiting for {what}; daemon log:\n{daemon.tail()}")


def paths_of(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> list[str]:
    """Recorded paths of every materialization of ``key`` for ``partition``, oldest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=100, ascending=True
    ).records
    return [str(r.asset_materialization.metadata["path"].value) for r in records]


def test_daemon_ingests_drops_dedupes_across_restart_and_rebuilds_corrections_and_alerts_on_failure(
    lake_env: LakeEnv, daemon: Daemon
) -> None:
    webhook = Webhook()
    daemon.env[WEBHOOK_ENV_VAR] = webhook.url
    try:
        drop_to_features(lake_env, daemon)
        run_failure_reaches_the_webhook(lake_env, daemon, webhook)
    finally:
        webhook.close()


def run_failure_reaches_the_webhook(lake_env: LakeEnv, daemon: Daemon, webhook: Webhook) -> None:
    """With the daemon still running: a drop without the contract's columns starts a run that fails, and
    the daemon's run-failure sensor POSTs it to the webhook (``RETINA_ALERT_WEBHOOK_URL``, a local server)."""
    bad = lake_env.landing / "demo" / "orders_20101203.csv"
    staged = bad.with_name(".bad.tmp")
    staged.write_bytes(b"Colour;Size\r\nred;3\r\n")
    os.replace(staged, bad)
    with dg.DagsterInstance.from_config(str(daemon.home)) as instance:
        wait_for("the failure notification", lambda: bool(webhook.bodies), daemon)
        [failed] = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
    [body] = webhook.bodies
    assert body["run_id"] == failed.run_id and body["partition"] == "2010-12-03"
    assert body["client"] == "demo" and body["assets"] == ["demo/raw_orders"]
    assert body["drop"] == "orders_20101203.csv" and "orders_20101203.csv" in body["error"], body
    assert body["text"].startswith("Retina run failed: client demo, demo/raw_orders [2010-12-03]: ")


def drop_to_features(lake_env: LakeEnv, daemon: Daemon) -> None:
    """The scenario, for any deployment whose ``start``/``stop`` start and stop its daemon over the
    instance in ``daemon.home`` (also run by the split-deployment test)."""
    from retina_assets.demo import SAMPLE, write_drops

    days = ("2010-12-01", "2010-12-02")
    # the instance's SQLite storage is created here, before the daemon starts (no migration race)
    with dg.DagsterInstance.from_config(str(daemon.home)) as instance:
        daemon.start()
        drops = write_drops(lake_env.landing, source=SAMPLE, days=2)

        def built(day: str, count: int = 1) -> bool:
            return all(len(paths_of(instance, key, day)) >= count for key in (RAW, VALID, SUMMARY))

        wait_for(
            "raw, validated and order_summary of both drops", lambda: all(built(d) for d in days), daemon
        )
        runs = instance.get_runs()
        assert len(runs) == 2 and all(r.tags.get("dagster/sensor_name") == "demo_drop_sensor" for r in runs)
        assert {r.tags["dagster/partition"] for r in runs} == set(days)
        first_summary = paths_of(instance, SUMMARY, "2010-12-02")

        # dagster.yaml enables freshness policies: the daemon judges the freshly landed raw asset fresh
        def raw_is_fresh() -> bool:
            record = instance.get_freshness_state_records([RAW]).get(RAW)
            return record is not None and record.freshness_state == FreshnessState.PASS

        wait_for("the raw asset's freshness policy to pass", raw_is_fresh, daemon)

        # restart the daemon: only the instance (and the sensor cursor in it) carries state over
        daemon.stop()
        daemon.start()
        copy = lake_env.landing / "demo" / "orders_20101209.csv"
        copy_tmp = copy.with_name(".copy.tmp")
        copy_tmp.write_bytes(drops[0].read_bytes())  # the same content re-sent under another name
        os.replace(copy_tmp, copy)
        corrected = drops[1].read_bytes().split(b"\r\n")
        fixed_tmp = drops[1].with_name(".fixed.tmp")
        fixed_tmp.write_bytes(b"\r\n".join(corrected[:-40]) + b"\r\n")  # a corrected drop: 39 lines fewer
        os.replace(fixed_tmp, drops[1])

        wait_for("the corrected drop to be rebuilt", lambda: built("2010-12-02", count=2), daemon)
        summaries = paths_of(instance, SUMMARY, "2010-12-02")
        raws = paths_of(instance, RAW, "2010-12-02")
        assert raws[0] != raws[1] and summaries[0] == first_summary[0] and summaries[1] != summaries[0]
        assert all(Path(p).exists() for p in [*raws, *summaries])  # the old version stays
        runs = instance.get_runs()
        assert len(runs) == 3, [r.tags for r in runs]  # the copy under another name started nothing
        assert "2010-12-09" not in {r.tags["dagster/partition"] for r in runs}
        assert paths_of(instance, RAW, "2010-12-09") == []
        wait_for("the runs to finish", lambda: all(r.is_finished for r in instance.get_runs()), daemon)
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS] * 3
