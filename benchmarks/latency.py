"""Drop-to-features latency with a real Dagster daemon.

A temporary ``DAGSTER_HOME`` (with the repository's ``dagster.yaml``), lake and landing zone are created and
``dagster-daemon run -m retina_assets.definitions`` is started on them, so the demo client's drop sensor
(default status RUNNING) ticks as it does in production. Then, one at a time, a small drop (one day of the
bundled Online Retail sample, a few thousand lines) is written to the landing folder under a hidden name and
renamed into place. The clock starts at the rename and stops at the timestamp of the
``demo/order_summary`` materialization of that day in the instance's event log; on the way the run's
creation, start and end times split the latency into detection (sensor: listing, completeness rule, hashing,
run request), queueing/launch, and the run itself (raw -> validated + checks -> features).

The daemon is started in its own process group and stopped (SIGTERM, then SIGKILL) by that group's id.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from benchmarks.harness import child_env
from retina_assets.settings import REPO_ROOT

FEATURE_KEY = dg.AssetKey(["demo", "order_summary"])
DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))


@dataclass
class DropLatency:
    """Timings (seconds from the drop's rename) of one drop's way to features."""

    partition: str
    rows: int
    total: float
    run_created: float | None
    run_started: float | None
    run_ended: float | None
    checks_passed: int
    checks_total: int
    run_status: str

    @property
    def detection(self) -> float | None:
        return self.run_created

    @property
    def queued(self) -> float | None:
        if self.run_started is None or self.run_created is None:
            return None
        return self.run_started - self.run_created

    @property
    def run(self) -> float | None:
        if self.run_ended is None or self.run_started is None:
            return None
        return self.run_ended - self.run_started


@dataclass
class LatencyResult:
    drops: list[DropLatency]
    daemon_ready_seconds: float
    sensor_interval: int
    quiet_seconds: int

    def median(self, attr: str) -> float | None:
        values = [getattr(d, attr) for d in self.drops if getattr(d, attr) is not None]
        return statistics.median(values) if values else None


def _sensor_interval() -> int:
    from retina_assets.definitions import defs

    sensor = defs.resolve_sensor_def("demo_drop_sensor")
    return int(sensor.minimum_interval_seconds or 30)


def _day_drops() -> list[tuple[str, bytes, int]]:
    """(date, client-format bytes, rows) for each day of the bundled sample, smallest days last."""
    from retina_assets.demo import SAMPLE, load_source, to_client_format

    frame = load_source(SAMPLE)
    days = []
    for date, day in frame.groupby(frame["InvoiceDate"].str[:10], sort=True):
        days.append((str(date), to_client_format(day), len(day)))
    return days


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _wait_for_sensor_daemon(
    instance: dg.DagsterInstance, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited with code {proc.returncode}")
        beats = instance.get_daemon_heartbeats()
        if "SENSOR" in beats:
            return
        time.sleep(0.5)
    raise TimeoutError(f"the sensor daemon did not start within {timeout}s")


def _feature_timestamp(instance: dg.DagsterInstance, partition: str) -> float | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=FEATURE_KEY, asset_partitions=[partition]), limit=1
    ).records
    return records[0].timestamp if records else None


def _run_for(instance: dg.DagsterInstance, drop_name: str) -> dg.RunRecord | None:
    records = instance.get_run_records(dg.RunsFilter(tags={"retina/drop": drop_name}), limit=1)
    return records[0] if records else None


def _check_results(instance: dg.DagsterInstance, run_id: str) -> tuple[int, int]:
    events = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    passed = sum(1 for e in events if e.dagster_event.event_specific_data.passed)  # type: ignore[union-attr]
    return passed, len(events)


def measure_latency(
    drops: int = 3, timeout_per_drop: float = 300, workdir: Path | None = None
) -> LatencyResult:
    """Start a daemon on a temporary instance and measure ``drops`` small drops one after the other."""
    base = Path(tempfile.mkdtemp(prefix="retina-latency-", dir=workdir))
    home, lake, landing = base / "dagster_home", base / "lake", base / "landing"
    for d in (home, lake, landing / "demo"):
        d.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **child_env(),
        "DAGSTER_HOME": str(home),
        "RETINA_LAKE_URI": str(lake),
        "RETINA_LANDING_URI": str(landing),
        "RETINA_CLIENTS_DIR": str(REPO_ROOT / "clients"),
    }
    from retina_assets.model.spec import load_client_spec

    client = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")
    days = _day_drops()[:drops]
    # create the instance's storage before the daemon starts: two processes creating the SQLite schema at
    # once can stamp it twice ("more than one head"), and the code location then fails to load
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.get_daemon_heartbeats()
    log = open(base / "daemon.log", "wb")  # noqa: SIM115 - closed in finally
    started = time.monotonic()
    proc = subprocess.Popen(
        [DAEMON, "run", "-m", "retina_assets.definitions"],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    results: list[DropLatency] = []
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _wait_for_sensor_daemon(instance, proc, timeout=180)
            ready = time.monotonic() - started
            for date, payload, rows in days:
                name = f"orders_{date.replace('-', '')}.csv"
                tmp = landing / "demo" / f".{uuid.uuid4().hex}.tmp"
                tmp.write_bytes(payload)
                os.replace(tmp, landing / "demo" / name)
                t0 = time.time()
                deadline = t0 + timeout_per_drop
                done = None
                while time.time() < deadline:
                    if proc.poll() is not None:
                        raise RuntimeError(f"dagster-daemon exited with code {proc.returncode}")
                    done = _feature_timestamp(instance, date)
                    if done is not None:
                        break
                    record = _run_for(instance, name)
                    if record is not None and record.dagster_run.status in (
                        dg.DagsterRunStatus.FAILURE,
                        dg.DagsterRunStatus.CANCELED,
                    ):
                        break
                    time.sleep(0.25)
                record = _run_for(instance, name)
                if done is None:
                    status = record.dagster_run.status.value if record else "no run"
                    raise RuntimeError(f"no features for {date} within {timeout_per_drop}s (run: {status})")

                def rel(ts: float | None, t0: float = t0) -> float | None:
                    return ts - t0 if ts is not None else None

                passed, total = _check_results(instance, record.dagster_run.run_id) if record else (0, 0)
                results.append(
                    DropLatency(
                        partition=date,
                        rows=rows,
                        total=done - t0,
                        run_created=rel(record.create_timestamp.timestamp()) if record else None,
                        run_started=rel(record.start_time) if record else None,
                        run_ended=rel(record.end_time) if record else None,
                        checks_passed=passed,
                        checks_total=total,
                        run_status=record.dagster_run.status.value if record else "?",
                    )
                )
                # let the run finish (its end time) before the next drop
                end_wait = time.time() + 60
                while time.time() < end_wait:
                    rec = _run_for(instance, name)
                    if rec is not None and rec.dagster_run.is_finished:
                        results[-1].run_ended = rel(rec.end_time)
                        results[-1].run_status = rec.dagster_run.status.value
                        break
                    time.sleep(0.25)
    finally:
        _stop(proc)
        log.close()
    result = LatencyResult(
        drops=results,
        daemon_ready_seconds=ready,
        sensor_interval=_sensor_interval(),
        quiet_seconds=int(client.completeness.quiet_seconds or 0),
    )
    shutil.rmtree(base, ignore_errors=True)
    return result
