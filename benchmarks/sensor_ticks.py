"""Drop-sensor ticks over a landing location holding many files, on local disk and on S3 (a moto server).

Usage::

    python -m benchmarks.sensor_ticks [--counts 1000,10000,100000] [--backends local,s3] [--repeats 5]

For each backend and file count N it lands N small drops of a client (the demo client's format, with a
start date far enough back that every file is a drop of its own day), then measures with the real sensor,
a real Dagster instance and the lake holding the sensor's state. S3 is :mod:`benchmarks.seeded_moto` on
127.0.0.1: moto, filled through its own backend (seconds for 100,000 objects instead of ~8 minutes of
PUTs) and listing pages from a sorted index (plain moto re-sorts the whole bucket for every page); the
sensor lists and reads over HTTP as against S3.

* the first tick (lists, hashes every file, requests N runs, writes the state file), without the sensor's
  per-tick hashing budget, wall and CPU seconds;
* an idle tick (nothing changed: the case every interval of a quiet day), median of ``--repeats``
  (``--repeats-100k`` at 100,000 files or more on S3), wall and CPU seconds;
* a tick after one new drop arrived among the N (loads the state, hashes one file, writes the state);
* the cursor's size and the state file's size.

The table goes to stdout and ``benchmarks/results/sensor_ticks.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg

from retina_assets.defs import sensors
from retina_assets.defs.resources import LakeResource, LandingResource
from retina_assets.model.spec import ClientSpec, CompletenessRule, load_client_spec
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import filesystem_for

RESULTS = Path(__file__).resolve().parent / "results" / "sensor_ticks.md"
FIRST_DAY = dt.date(1700, 1, 1)


def bench_spec() -> ClientSpec:
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")
    return spec.model_copy(
        update={
            "start_date": FIRST_DAY,
            "end_date": None,
            "completeness": CompletenessRule(mode="quiet_period", quiet_seconds=1),
        }
    )


def drop_name(i: int) -> str:
    return f"orders_{(FIRST_DAY + dt.timedelta(days=i)).strftime('%Y%m%d')}.csv"


def drop_text(i: int) -> str:
    return f"InvoiceNo;Quantity\r\n{i};1\r\n"


def land(root: str, count: int, start: int = 0, seeder: SeededMoto | None = None) -> None:
    """Land drops ``start .. start + count - 1`` under ``<root>/demo``: local files (an hour old), objects
    stored directly by the seeded moto server when ``seeder`` is given, else HTTP PUTs (16 at a time)."""
    fs = filesystem_for(root)
    if fs.is_local:
        folder = Path(root) / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        old = time.time() - 3600  # landed an hour ago: past any quiet period
        for i in range(start, start + count):
            path = folder / drop_name(i)
            path.write_text(drop_text(i))
            os.utime(path, (old, old))
        return
    if seeder is not None:
        bucket, _, prefix = root.removeprefix("s3://").partition("/")
        seeder.seed(
            bucket, [(f"{prefix}/demo/{drop_name(i)}", drop_text(i)) for i in range(start, start + count)]
        )
    else:

        def put(i: int) -> None:
            fs.fs.pipe_file(f"{root}/demo/{drop_name(i)}", drop_text(i).encode())

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(start, start + count)))
    time.sleep(1.1)  # past the 1 s quiet period of the benchmark client


class SeededMoto:
    """``benchmarks.seeded_moto`` running on 127.0.0.1: S3 over HTTP, filled through its standard input."""

    def __init__(self, work: Path):
        from retina_assets_tests.support.servers import free_port

        port = free_port()
        self.log = work / "moto.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.seeded_moto", str(port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=Path(__file__).resolve().parent.parent,
                start_new_session=True,
            )
        self._expect("ready")
        self.endpoint = f"http://127.0.0.1:{port}"

    def _expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != word:
            raise RuntimeError(f"seeded moto did not say {word!r}; log:\n{self.log.read_text()[-3000:]}")

    def seed(self, bucket: str, objects: list[tuple[str, str]]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"bucket": bucket, "objects": objects}) + "\n")
        self.proc.stdin.flush()
        self._expect("done")

    def stop(self) -> None:
        from retina_assets_tests.support.servers import stop_process_group

        if self.proc.stdin is not None:
            self.proc.stdin.close()
        stop_process_group(self.proc)  # type: ignore[arg-type]


class Ticker:
    def __init__(self, landing: str, lake: str, instance: dg.DagsterInstance):
        job = dg.define_asset_job("demo_ingest", selection=dg.AssetSelection.groups("demo"))
        self.sensor = sensors.build_drop_sensor(bench_spec(), job)
        self.resources = {
            "landing": LandingResource(landing_uri=landing),
            "lake": LakeResource(lake_uri=lake),
        }
        self.instance = instance
        self.cursor: str | None = None

    def tick(self) -> tuple[float, float, int]:
        """One evaluation: wall seconds, CPU seconds, run requests."""
        wall, cpu = time.perf_counter(), time.process_time()
        with dg.build_sensor_context(
            cursor=self.cursor, resources=self.resources, instance=self.instance
        ) as context:
            result = self.sensor(context)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.cursor = result.cursor
        return wall, cpu, len(result.run_requests or [])


def state_bytes(lake: str) -> int:
    fs = filesystem_for(lake)
    return sum(f.size for f in fs.list_files(f"{lake}/{sensors.STATE_FOLDER}/demo"))


def measure(
    backend: str,
    count: int,
    repeats: int,
    root: Callable[[str], str],
    log: Callable[[str], None],
    seeder: SeededMoto | None = None,
    idle_only: bool = False,
) -> dict:
    landing, lake = root("landing"), root("lake")
    started = time.perf_counter()
    land(landing, count, seeder=seeder)
    landed = time.perf_counter() - started
    log(f"  {backend} {count:>7,}: landed in {landed:.1f}s")
    with dg.instance_for_test() as instance:
        ticker = Ticker(landing, lake, instance)
        if idle_only:
            return measure_idle_only(ticker, backend, count, repeats, landing, landed, log)
        # the first tick without the per-tick hashing budget: the cost of hashing every file once
        budget, sensors.HASH_BUDGET_SECONDS = sensors.HASH_BUDGET_SECONDS, float("inf")
        try:
            first = ticker.tick()
        finally:
            sensors.HASH_BUDGET_SECONDS = budget
        assert first[2] == count, first
        idle = [ticker.tick() for _ in range(repeats)]
        assert all(n == 0 for _, _, n in idle)
        land(landing, 1, start=count)  # the new drop arrives as a real upload (HTTP PUT on S3)
        one_new = ticker.tick()
        assert one_new[2] == 1, one_new
        row = {
            "backend": backend,
            "files": count,
            "landed_s": landed,
            "first_tick_s": first[0],
            "first_tick_cpu_s": first[1],
            "idle_tick_s": statistics.median(w for w, _, _ in idle),
            "idle_tick_cpu_s": statistics.median(c for _, c, _ in idle),
            "idle_ticks": len(idle),
            "one_new_tick_s": one_new[0],
            "cursor_bytes": len(ticker.cursor or ""),
            "state_bytes": state_bytes(lake),
        }
    log(f"  {row}")
    return row


def measure_idle_only(
    ticker: Ticker,
    backend: str,
    count: int,
    repeats: int,
    landing: str,
    landed: float,
    log: Callable[[str], None],
) -> dict:
    """Idle ticks without the first tick that hashes every file (hours through moto at 100,000 objects on a
    loaded machine): the cursor such a tick leaves is written here, with the sensor's own fingerprint of
    the listing, so each tick below takes the idle path (list, fingerprint, compare) exactly as after a real
    first tick. The state file it names is never read on that path."""
    listing = filesystem_for(landing).list_files(f"{landing}/demo")
    fingerprint = sensors.listing_fingerprint(bench_spec(), listing, dt.datetime.now(dt.UTC).date())
    ticker.cursor = json.dumps(
        {"v": sensors.CURSOR_VERSION, "listing": fingerprint, "state": "0" * 64, "pending": {}, "waiting": 0},
        separators=(",", ":"),
    )
    idle = [ticker.tick() for _ in range(repeats)]
    assert all(n == 0 for _, _, n in idle) and len(listing) == count
    row = {
        "backend": backend,
        "files": count,
        "landed_s": landed,
        "idle_tick_s": statistics.median(w for w, _, _ in idle),
        "idle_tick_cpu_s": statistics.median(c for _, c, _ in idle),
        "idle_ticks": len(idle),
        "cursor_bytes": len(ticker.cursor or ""),
    }
    log(f"  {row}")
    return row


def render(rows: list[dict], machine: str) -> str:
    head = (
        "| backend | landing files | landed in | first tick (hashes all), wall / CPU | idle tick, median wall | "
        "idle tick CPU | tick after 1 new drop | cursor | state file in the lake |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['backend']} | {r['files']:,} | {r['landed_s']:.1f} s | "
        + (f"{r['first_tick_s']:.2f} s / {r['first_tick_cpu_s']:.2f} s" if "first_tick_s" in r else "not run")
        + f" | {r['idle_tick_s']:.3f} s (of {r['idle_ticks']}) | {r['idle_tick_cpu_s']:.3f} s | "
        + (f"{r['one_new_tick_s']:.2f} s" if "one_new_tick_s" in r else "not run")
        + f" | {r['cursor_bytes']} B | "
        + (f"{r['state_bytes'] / 1024:,.0f} KiB" if "state_bytes" in r else "-")
        + " |\n"
        for r in rows
    )
    return f"# Drop-sensor ticks\n\n{machine}\n\n{head}{body}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="1000,10000,100000")
    parser.add_argument("--backends", default="local,s3")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--repeats-100k", type=int, default=3, help="idle ticks at 100,000 files or more on an object store"
    )
    parser.add_argument(
        "--idle-only-from",
        type=int,
        default=None,
        help="from this many files on S3, measure only idle ticks (no first tick hashing every object)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.counts.split(",")]
    backends = args.backends.split(",")
    machine = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{os.getloadavg()[0]:.1f}; S3 = benchmarks.seeded_moto on 127.0.0.1 (moto, filled through its own "
        f"backend, listing pages from a sorted index); new drops hashed {sensors.HASH_WORKERS} at a time on S3"
    )
    rows = []
    work = Path(tempfile.mkdtemp(prefix="sensor-ticks-"))
    moto = None
    try:
        for backend in backends:
            if backend == "s3":
                moto = SeededMoto(work)
                os.environ.update(
                    AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_ENDPOINT_URL=moto.endpoint
                )
                os.environ.setdefault("AWS_REGION", "us-east-1")
            for count in counts:
                repeats = args.repeats if count < 100_000 or backend == "local" else args.repeats_100k
                tag = uuid.uuid4().hex[:8]
                if backend == "local":

                    def root(name: str, tag: str = tag) -> str:
                        return str(work / tag / name)
                else:
                    bucket = f"bench-{tag}"
                    filesystem_for(f"s3://{bucket}").fs.mkdir(bucket)

                    def root(name: str, bucket: str = bucket) -> str:
                        return f"s3://{bucket}/{name}"

                idle_only = (
                    backend == "s3" and args.idle_only_from is not None and count >= args.idle_only_from
                )
                seeder = moto if backend == "s3" else None
                rows.append(measure(backend, count, repeats, root, print, seeder, idle_only))
                print(render(rows, machine), flush=True)  # so far, in case a later size is stopped
                if backend == "local":
                    shutil.rmtree(work / tag, ignore_errors=True)
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = render(rows, machine)
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
