"""Running one workload in its own process and measuring its time and peak memory.

Peak memory is the larger of (a) the workload process's own peak RSS (``VmHWM``) and (b) the highest summed RSS of
the workload's process tree, sampled every 20 ms with psutil (this is what counts a Spark JVM too).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import psutil

from retina_assets.settings import REPO_ROOT

SAMPLE_SECONDS = 0.02
SPARK_DRIVER_MEMORY = "6g"


@dataclass
class Measurement:
    """One run of one workload."""

    seconds: float
    rows: int
    peak_rss: int
    result: dict[str, Any] = field(default_factory=dict)
    # (time.time(), RSS by role) every sample, when asked for (``measure(..., by_role=True)``)
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class Series:
    """Repeated runs of one workload; figures are medians."""

    name: str
    runs: list[Measurement]

    @property
    def seconds(self) -> float:
        return statistics.median(m.seconds for m in self.runs)

    @property
    def rows(self) -> int:
        return self.runs[0].rows

    @property
    def rows_per_second(self) -> float:
        return statistics.median(m.rows_per_second for m in self.runs)

    @property
    def peak_rss(self) -> int:
        return int(statistics.median(m.peak_rss for m in self.runs))

    @property
    def max_peak_rss(self) -> int:
        return max(m.peak_rss for m in self.runs)

    def phase(self, name: str) -> float | None:
        values = [m.result.get("phases", {}).get(name) for m in self.runs]
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def rss_by_role(proc: psutil.Process) -> dict[str, int]:
    """RSS of ``proc``'s process tree by role: ``python`` (``proc`` itself: the Spark driver's Python side),
    ``jvm`` (Java processes: in local mode the driver JVM, which also runs the executors), ``workers``
    (processes under a JVM: Spark's Python workers and their daemon) and ``other`` (anything else)."""
    out = {"python": 0, "jvm": 0, "workers": 0, "other": 0}
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return out
    roles: dict[int, str] = {proc.pid: "python"}
    for p in procs[1:]:  # parents come before their children in psutil's recursive listing
        with contextlib.suppress(psutil.Error):
            parent = roles.get(p.ppid(), "other")
            java = p.name().startswith("java")
            roles[p.pid] = "jvm" if java else "workers" if parent in ("jvm", "workers") else "other"
    for p in procs:
        with contextlib.suppress(psutil.Error):
            out[roles.get(p.pid, "other")] += p.memory_info().rss
    return out


def child_env() -> dict[str, str]:
    """The environment for measured processes: bytecode caching on (as in a deployed image).

    With ``PYTHONDONTWRITEBYTECODE`` set, every new process would compile its imports from source again
    (seconds for dagster and pandas), which no deployment does; see :func:`warm_bytecode`.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # local Spark's driver heap defaults to 1 GiB, too small to collect a multi-million-row partition (the
    # JVM dies); the benchmark gives it what a large client's deployment would (set the variable to override)
    env.setdefault("PYSPARK_SUBMIT_ARGS", f"--driver-memory {SPARK_DRIVER_MEMORY} pyspark-shell")
    return env


WARM_IMPORTS = (
    "import retina_assets.definitions, retina_assets.lake, benchmarks.workloads, polars, pyarrow.parquet, "
    "pyarrow.csv, pyarrow.dataset, duckdb, pandas, pandera.pandas, pyspark.sql, dagster._cli, "
    "dagster._daemon.cli, dagster._grpc.server"
)


def warm_bytecode() -> None:
    """Import everything the workloads use once with bytecode caching on, so later processes start warm."""
    subprocess.run(
        [sys.executable, "-c", WARM_IMPORTS], cwd=REPO_ROOT, env=child_env(), check=False, timeout=600
    )


class WorkloadError(RuntimeError):
    """A workload process failed; the message carries the end of its stderr."""


def measure(
    task: str,
    timeout: float = 1800,
    env: dict[str, str] | None = None,
    by_role: bool = False,
    **kwargs: Any,
) -> Measurement:
    """Run ``benchmarks.workloads`` ``task`` with ``kwargs`` in a fresh process and measure it.

    ``env`` overrides variables of :func:`child_env`; ``by_role`` keeps every sample's RSS by role
    (:func:`rss_by_role`) in :attr:`Measurement.samples`.
    """
    env = {**child_env(), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.workloads", task, json.dumps(kwargs)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    ps = psutil.Process(proc.pid)
    stop = threading.Event()
    samples: list[tuple[float, dict[str, int]]] = []

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            if by_role:
                roles = rss_by_role(ps)
                samples.append((time.time(), roles))
                peak = max(peak, sum(roles.values()))
            else:
                peak = max(peak, _tree_rss(ps))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise WorkloadError(f"{task} timed out after {timeout}s") from None
    finally:
        stop.set()
        sampler.join()
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise WorkloadError(f"{task} failed (exit {proc.returncode}):\n{err[-3000:]}")
    result = json.loads(lines[-1][len("RESULT ") :])
    # what a JVM says as it fails (OutOfMemoryError, a lost executor) is only on the process's stderr
    notes = [
        ln.strip()
        for ln in err.splitlines()
        if ("OutOfMemoryError" in ln or "Exception" in ln) and not ln.strip().startswith("at ")
    ]
    if notes:
        result["stderr_notes"] = list(dict.fromkeys(notes))[:20]
    return Measurement(
        seconds=float(result["seconds"]),
        rows=int(result["rows"]),
        peak_rss=max(peak, int(result.get("peak_rss_bytes", 0))),
        result=result,
        samples=samples,
    )


def repeat(name: str, task: str, repeats: int, prepare: Any = None, **kwargs: Any) -> Series:
    """``repeats`` measurements of ``task``; ``prepare()`` (if given) runs before each (e.g. clean outputs)."""
    runs = []
    for _ in range(repeats):
        if prepare is not None:
            prepare()
        runs.append(measure(task, **kwargs))
    return Series(name, runs)
