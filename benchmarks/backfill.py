"""Backfilling the demo client from an empty lake through a real Dagster instance and daemon: one run per
day against ranged runs, in-process and on Spark.

Each variant gets its own temporary ``DAGSTER_HOME`` (the repository's ``dagster.yaml``: queued run
coordinator with the client lanes, at most 3 runs at once), lake and client spec (``clients/demo.yaml``
with ``engine`` and ``backfill.partitions_per_run`` set); all variants read the same landing folder with
the Online Retail drops (``retina_assets.demo.write_drops``, one file per day that has orders). The
benchmark stops the code location's sensors and schedules (the drop sensor would otherwise ingest the
drops itself, one run per day), creates an asset backfill of the client's raw, validated, rejected and
feature assets over the first ``--days`` drop days (:func:`retina_assets.defs.backfill.launch_backfill`,
the same backfill the UI's "Materialize" on a partition selection creates), and starts ``dagster-daemon run``: the backfill daemon cuts the selection into runs by the
assets' backfill policy and submits them through the run queue, which launches them. The clock runs from
the backfill's creation until the backfill daemon marks it complete; CPU seconds are those of the daemon's
process tree (daemon, code server, run workers, Spark JVMs), sampled every second. Dagster cuts a
selection into runs per contiguous stretch of days, so the Online Retail days (no drops on Saturdays and
over the new year) give at least one run per stretch.

    python -m benchmarks.backfill --days 305 --daily-days 40 --spark-days 40 --spark-daily-days 10

The per-day variants are the slow ones: give them fewer days and read the table's per-day figures and the
labelled extrapolation to the full selection. The table goes to stdout and ``--out`` (default
``benchmarks/results/backfill.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import psutil
import yaml

from benchmarks.harness import child_env
from retina_assets.defs.backfill import PlannedBackfill, backfill_assets, launch_backfill
from retina_assets.model.spec import load_client_spec
from retina_assets.settings import REPO_ROOT, LakeSettings

DAEMON = str(Path(sys.executable).with_name("dagster-daemon"))
DONE = ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED")


@dataclass(frozen=True)
class Variant:
    """One way to backfill: the client's engine and its days per run (1: one run per day)."""

    name: str
    engine: str
    partitions_per_run: int | None  # None: the engine's default
    days: int


@dataclass
class BackfillResult:
    """What one backfill took."""

    variant: Variant
    days: int
    runs: int
    runs_failed: int
    seconds: float
    cpu_seconds: float
    most_client_runs_at_once: int
    partitions_materialized: dict[str, int]
    status: str

    @property
    def seconds_per_day(self) -> float:
        return self.seconds / self.days if self.days else 0.0


def drop_days(landing: Path) -> list[str]:
    """The ``as_of_date`` of every demo drop in ``landing``, in order."""
    names = sorted(p.name for p in (landing / "demo").glob("orders_*.csv"))
    return [f"{n[7:11]}-{n[11:13]}-{n[13:15]}" for n in names]


def stretches(days: list[str]) -> int:
    """How many runs of contiguous days ``days`` form at least (Dagster cuts a backfill per stretch)."""
    dates = [dt.date.fromisoformat(d) for d in days]
    return 1 + sum(1 for a, b in zip(dates, dates[1:], strict=False) if (b - a).days != 1) if dates else 0


class TreeCpu:
    """CPU seconds (user + system) of a process and every descendant it ever had, sampled every second:
    the last sample of each process counts, so a process that lived less than a second may be missed."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.seen: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            for proc in [self.root, *self.root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    self.seen[(proc.pid, proc.create_time())] = times.user + times.system

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def stop(self) -> float:
        self._sample()
        self._stop.set()
        self._thread.join(timeout=5)
        return sum(self.seen.values())


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the daemon's process group (the daemon started it), SIGKILL what is left after 30 s."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)


def _most_at_once(runs: list[dg.RunRecord]) -> int:
    """The most runs that were running at the same moment."""
    edges = []
    for record in runs:
        if record.start_time and record.end_time:
            edges += [(record.start_time, 1), (record.end_time, -1)]
    most = current = 0
    for _, step in sorted(edges):
        current += step
        most = max(most, current)
    return most


def _stop_instigators(instance: dg.DagsterInstance, context: object) -> None:
    """Stop every sensor and schedule of the code location (their default status is RUNNING)."""
    for entry in context.get_code_location_entries().values():  # type: ignore[attr-defined]
        location = entry.code_location
        if location is None:
            raise RuntimeError(f"code location failed to load: {entry.load_error}")
        for repo in location.get_repositories().values():
            for sensor in repo.get_sensors():
                instance.stop_sensor(sensor.get_remote_origin_id(), sensor.selector_id, sensor)
            for schedule in repo.get_schedules():
                instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)


def run_variant(variant: Variant, landing: Path, base: Path, timeout: float) -> BackfillResult:
    """Backfill ``variant.days`` drop days of the demo client from an empty lake; see the module docstring."""
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    work = base / variant.name
    home, lake, clients = work / "dagster_home", work / "lake", work / "clients"
    for folder in (home, lake, clients):
        folder.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    spec = yaml.safe_load((REPO_ROOT / "clients" / "demo.yaml").read_text())
    spec["engine"] = variant.engine
    if variant.partitions_per_run is not None:
        spec["backfill"] = {"partitions_per_run": variant.partitions_per_run}
    (clients / "demo.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {
        **child_env(),
        "DAGSTER_HOME": str(home),
        "RETINA_LAKE_URI": str(lake),
        "RETINA_LANDING_URI": str(landing),
        "RETINA_CLIENTS_DIR": str(clients),
    }
    days = drop_days(landing)[: variant.days]
    client = load_client_spec(clients / "demo.yaml")
    keys = backfill_assets(client)
    saved = dict(os.environ)
    os.environ.update(env)  # the workspace's code server below loads the definitions from these
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            instance.get_runs(limit=1)  # create the SQLite storage before the daemon does
            target = WorkspaceFileTarget([str(REPO_ROOT / "workspace.yaml")])
            with WorkspaceProcessContext(instance, target) as workspace:
                context = workspace.create_request_context()
                _stop_instigators(instance, context)
            plan = PlannedBackfill("demo", backfill_assets(client), days, [])
            backfill_id = launch_backfill(instance, plan, LakeSettings.from_env())
            started = time.monotonic()
            with open(work / "daemon.log", "wb") as log:
                proc = subprocess.Popen(
                    [DAEMON, "run", "-w", str(REPO_ROOT / "workspace.yaml")],
                    cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            cpu = TreeCpu(proc.pid)
            status = "TIMEOUT"
            try:
                deadline = started + timeout
                while time.monotonic() < deadline:
                    if proc.poll() is not None:
                        raise RuntimeError(f"dagster-daemon exited with code {proc.returncode}; see {work}")
                    backfill = instance.get_backfill(backfill_id)
                    if backfill is not None and backfill.status.value in DONE:
                        # the backfill is marked done once its last run ended
                        status = backfill.status.value
                        break
                    time.sleep(1.0)
                seconds = time.monotonic() - started
            finally:
                cpu_seconds = cpu.stop()
                _stop_group(proc)
            runs = list(instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill_id})))
            failed = sum(1 for r in runs if r.dagster_run.status == dg.DagsterRunStatus.FAILURE)
            materialized = {
                key.path[-1]: len(instance.get_materialized_partitions(key) & set(days)) for key in keys
            }
            return BackfillResult(
                variant=variant,
                days=len(days),
                runs=len(runs),
                runs_failed=failed,
                seconds=seconds,
                cpu_seconds=cpu_seconds,
                most_client_runs_at_once=_most_at_once(runs),
                partitions_materialized=materialized,
                status=status,
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)


def table(results: list[BackfillResult], full_days: int, full_runs: dict[str, int]) -> str:
    """The Markdown table of ``results``, with per-day figures and the extrapolation to ``full_days``."""
    lines = [
        "| variant | engine | days per run | days | runs launched | failed runs | wall | per day | CPU | "
        f"most runs at once | all days materialized | {full_days} days: runs | {full_days} days: wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        complete = all(n == r.days for n in r.partitions_materialized.values())
        measured = r.days == full_days
        runs_full = full_runs[r.variant.name]
        wall_full = (
            f"{r.seconds:,.0f} s (measured)"
            if measured
            else f"~{r.seconds_per_day * full_days:,.0f} s (extrapolated)"
        )
        per_run = r.variant.partitions_per_run or "default"
        lines.append(
            f"| {r.variant.name} | {r.variant.engine} | {per_run} | {r.days} | {r.runs} | {r.runs_failed} | "
            f"{r.seconds:,.0f} s | {r.seconds_per_day:.2f} s | {r.cpu_seconds:,.0f} s | "
            f"{r.most_client_runs_at_once} | {'yes' if complete else r.partitions_materialized} | "
            f"{runs_full} | {wall_full} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=305, help="drop days of the ranged in-process variant")
    parser.add_argument(
        "--daily-days", type=int, default=40, help="days of the one-run-per-day variant (0: skip)"
    )
    parser.add_argument(
        "--spark-days", type=int, default=40, help="days of the ranged Spark variant (0: skip)"
    )
    parser.add_argument(
        "--spark-daily-days", type=int, default=10, help="days of the daily Spark variant (0: skip)"
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per variant")
    parser.add_argument("--source", type=Path, default=None, help="Online Retail CSV (default: the full one)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "backfill.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args(argv)

    from retina_assets.demo import FULL, write_drops
    from retina_assets.model.spec import BackfillSettings

    base = Path(tempfile.mkdtemp(prefix="retina-backfill-", dir=args.workdir))
    landing = base / "landing"
    write_drops(landing, source=args.source or FULL)
    available = drop_days(landing)
    full = min(len(available), args.days)  # the selection every variant's figures are brought to
    variants = []
    if args.spark_daily_days:
        variants.append(Variant("one run per day, Spark", "spark", 1, min(args.spark_daily_days, full)))
    if args.spark_days:
        variants.append(Variant("ranged, Spark", "spark", None, min(args.spark_days, full)))
    if args.daily_days:
        variants.append(Variant("one run per day, in-process", "pandas", 1, min(args.daily_days, full)))
    variants.append(Variant("ranged, in-process", "pandas", None, full))
    full_days = available[:full]
    full_runs = {}
    for v in variants:
        per_run = v.partitions_per_run or BackfillSettings().resolved(v.engine)
        # Dagster cuts each contiguous stretch of the selection into runs of at most `per_run` days
        runs, current = 0, 1
        for a, b in zip(full_days, [*full_days[1:], None], strict=False):
            if b is not None and (dt.date.fromisoformat(b) - dt.date.fromisoformat(a)).days == 1:
                current += 1
                continue
            runs += -(-current // per_run)
            current = 1
        full_runs[v.name] = runs
    header = (
        f"# Backfill: one run per day vs ranged runs\n\n{platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, machine shared with other engineers "
        f"(loaded); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Demo client (UCI Online Retail), "
        f"{len(available)} drop days in {stretches(available)} contiguous stretches (no Saturday drops). "
        "Each variant: empty lake, asset backfill of raw, validated, rejected, order_summary and customer_rfm "
        "launched by `dagster-daemon run` through the queued run coordinator (client lane: one run of the "
        "client at a time). Wall: backfill created -> marked complete (includes the daemon's start and its "
        "polling intervals). CPU: daemon process tree, sampled every second. The last two columns are for "
        f"the first {full} drop days: runs as Dagster cuts them, wall measured or, where fewer days were "
        "run, extrapolated from the measured seconds per day (labelled; customer_rfm reads every earlier "
        "day, so later days cost a little more than early ones).\n"
    )
    results = []
    for variant in variants:
        print(f"backfilling {variant.days} days: {variant.name} ...", flush=True)
        result = run_variant(variant, landing, base, args.timeout)
        print(
            f"  {result.status}: {result.runs} runs, {result.seconds:,.0f} s, CPU {result.cpu_seconds:,.0f} s, "
            f"materialized {result.partitions_materialized}",
            flush=True,
        )
        results.append(result)
        # written after every variant: a long run stopped half-way keeps what it measured
        report = header + "\n" + table(results, full, full_runs) + "\n"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    print(report)
    print(f"work folder (daemon logs): {base}")


if __name__ == "__main__":
    main()
