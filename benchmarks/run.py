"""Run the benchmarks and print (and save) the results table.

Usage::

    python -m benchmarks.run [--rows 5000000] [--repeats 3] [--quick] [--skip-spark] [--skip-latency]

Generated drops go to ``benchmarks/.data/`` (git-ignored); the table is printed and written to
``benchmarks/results/latest.md``. ``--quick`` is a smoke run (50,000 rows, 1 repeat, 1 latency drop, no Spark).
See ``docs/benchmarks.md`` for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from benchmarks.generate import DATA_DIR, GeneratedDrop, generate
from benchmarks.harness import Series, WorkloadError, measure, repeat, warm_bytecode
from retina_assets.settings import REPO_ROOT

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"
MB = 1 << 20

GOAL_RAW_RATIO = 1.5
GOAL_PEAK_BYTES = 1.5 * (1 << 30)
GOAL_LATENCY_SECONDS = 60.0
GOAL_PIPELINE_RATIO = 1.3  # end to end vs the faster whole-pipeline baseline (aim: 1.0)
PIPELINE_STAGES = ("raw", "validation", "order_summary")


@dataclass
class Config:
    rows: int = 5_000_000
    repeats: int = 3
    scale_factor: int = 4
    latency_drops: int = 3
    spark: bool = True
    latency: bool = True
    validation: bool = True
    pipeline: bool = True
    scaling: bool = True
    data_dir: Path = DATA_DIR
    results: Path | None = RESULTS
    log: Callable[[str], None] = print


@dataclass
class Report:
    config: Config
    machine: dict[str, str]
    drop: GeneratedDrop
    raw: dict[str, Series] = field(default_factory=dict)
    validation: dict[str, Series] = field(default_factory=dict)
    features: dict[str, Series] = field(default_factory=dict)
    scaling: list[tuple[GeneratedDrop, dict[str, Series]]] = field(default_factory=list)
    pipeline: list[tuple[GeneratedDrop, dict[str, Series]]] = field(default_factory=list)
    latency: object | None = None
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


# --- machine --------------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
        return "not installed"


def _java() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        return (out.stderr or out.stdout).splitlines()[0].strip()
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "not found"


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_info() -> dict[str, str]:
    """CPU, cores, RAM, OS and the versions of every tool measured."""
    return {
        "date (UTC)": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "commit": _git_commit(),
        "cpu": _cpu_model(),
        "cores": f"{os.cpu_count()} logical ({psutil.cpu_count(logical=False)} physical)",
        "ram": f"{psutil.virtual_memory().total / (1 << 30):.1f} GiB",
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "versions": ", ".join(
            f"{m} {_version(m)}"
            for m in ("pyarrow", "polars", "duckdb", "pandas", "pandera", "dagster", "pyspark")
        ),
        "java": _java(),
    }


# --- running --------------------------------------------------------------------------------------
def _fresh(path: Path) -> Callable[[], None]:
    def prepare() -> None:
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)

    return prepare


def run_raw(drop: GeneratedDrop, repeats: int, work: Path) -> dict[str, Series]:
    """Project vs DuckDB vs polars on one drop file; returns the series by name.

    The tools take turns (project, DuckDB, polars, project, ...) rather than running their repeats back to
    back, so a change in the machine's load during the run hits all of them alike.
    """
    lake, out = work / "lake", work / "out"
    tools: dict[str, tuple[str, Callable[[], None], dict[str, str]]] = {
        "retina_assets (DropConversion + VersionedStore.write)": (
            "project_raw", _fresh(lake),
            {"landing": str(drop.landing), "partition": drop.partition, "lake": str(lake)},
        ),
        "DuckDB COPY ... TO parquet": (
            "duckdb_raw", _fresh(out), {"csv": str(drop.path), "out": str(out / "duckdb.parquet")},
        ),
        "polars scan_csv().sink_parquet()": (
            "polars_raw", _fresh(out), {"csv": str(drop.path), "out": str(out / "polars.parquet")},
        ),
    }  # fmt: skip
    return _take_turns(tools, drop, repeats)


def _take_turns(
    tools: dict[str, tuple[str, Callable[[], None], dict[str, str]]], drop: GeneratedDrop, repeats: int
) -> dict[str, Series]:
    """Each tool's task measured ``repeats`` times, the tools taking turns (one run of each, then the next
    round) after the drop was read through once, so no tool pays a cold page cache the others do not."""
    series = {name: Series(name, []) for name in tools}
    _read_through(drop.path)
    for _ in range(repeats):
        for name, (task, prepare, kwargs) in tools.items():
            prepare()
            series[name].runs.append(measure(task, **kwargs))
    return series


def run_pipeline(drop: GeneratedDrop, repeats: int, work: Path) -> dict[str, Series]:
    """The whole pipeline (raw, validation, order_summary) of the project and of the two independent
    baselines on one drop, taking turns like :func:`run_raw`."""
    lake, out = work / "lake", work / "out"
    csv = str(drop.path)
    tools: dict[str, tuple[str, Callable[[], None], dict[str, str]]] = {
        "retina_assets": ("project_pipeline", _fresh(lake),
                          {"landing": str(drop.landing), "partition": drop.partition, "lake": str(lake)}),
        "DuckDB SQL": ("baseline_pipeline", _fresh(out), {"tool": "duckdb", "csv": csv, "out": str(out)}),
        "polars": ("baseline_pipeline", _fresh(out), {"tool": "polars", "csv": csv, "out": str(out)}),
    }  # fmt: skip
    return _take_turns(tools, drop, repeats)


def _read_through(path: Path) -> None:
    """Read the drop once so that every tool finds it in the page cache. Otherwise the first tool of a
    section pays for the disk when an earlier section (Spark's JVM) pushed the file out of the cache: the
    20M-row scaling run once measured the project at 1.4 M rows/s for that reason (3.4-3.8 M rows/s warm)."""
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def run(config: Config) -> Report:
    """Run every selected benchmark section; failures of a section are recorded, not fatal."""
    log = config.log
    started = time.perf_counter()
    report_machine = machine_info()
    log(f"machine: {report_machine}")
    load_before = os.getloadavg()
    log("compiling bytecode of the imports (once) ...")
    warm_bytecode()
    log(f"generating {config.rows:,} rows ...")
    drop = generate(config.rows, config.data_dir)
    report = Report(config, report_machine, drop, load_before=load_before)
    work = config.data_dir / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    log(
        f"raw conversion of {drop.rows:,} rows ({drop.num_bytes / MB:.0f} MB), {config.repeats} repeat(s) ..."
    )
    report.raw = run_raw(drop, config.repeats, work / "raw")
    log(render_raw(report))

    if config.validation:
        try:
            _run_validation(report, work)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            report.errors.append(f"validation/features: {_last_line(exc)}")
            log(f"validation/features failed: {exc}")
    if config.pipeline:
        try:
            log(f"whole pipeline, project vs baselines, {drop.rows:,} rows, {config.repeats} repeat(s) ...")
            report.pipeline.append((drop, run_pipeline(drop, config.repeats, work / "pipeline")))
            if config.scaling:
                big = generate(config.rows * config.scale_factor, config.data_dir)
                log(f"whole pipeline at {big.rows:,} rows, 1 run each ...")
                report.pipeline.append((big, run_pipeline(big, 1, work / "pipeline")))
            log(render_pipeline(report))
        except Exception as exc:  # noqa: BLE001 - reported in the table
            report.errors.append(f"pipeline: {_last_line(exc)}")
            log(f"pipeline failed: {exc}")
    if config.scaling:
        try:
            big = generate(config.rows * config.scale_factor, config.data_dir)
            log(f"memory scaling: {big.rows:,} rows ({big.num_bytes / MB:.0f} MB), 1 run each ...")
            report.scaling = [(drop, report.raw), (big, run_raw(big, 1, work / "scale"))]
        except Exception as exc:  # noqa: BLE001
            report.errors.append(f"scaling: {_last_line(exc)}")
            log(f"scaling failed: {exc}")
    if config.latency:
        try:
            from benchmarks.latency import measure_latency

            log(f"drop-to-features latency, {config.latency_drops} drop(s) with a real daemon ...")
            report.latency = measure_latency(config.latency_drops, workdir=work)
        except Exception as exc:  # noqa: BLE001
            report.errors.append(f"latency: {_last_line(exc)}")
            log(f"latency failed: {exc}")
    report.load_after = os.getloadavg()
    report.wall_seconds = time.perf_counter() - started
    shutil.rmtree(work, ignore_errors=True)
    return report


def _run_validation(report: Report, work: Path) -> None:
    config, log = report.config, report.config.log
    lake = work / "vf"
    _fresh(lake)()
    raw = repeat("raw", "project_raw", 1, None, landing=str(report.drop.landing),
                 partition=report.drop.partition, lake=str(lake))  # fmt: skip
    raw_path = raw.runs[0].result["path"]

    def clean(*zones: str) -> Callable[[], None]:
        def prepare() -> None:
            for zone in zones:
                for top in ("", "_versions", "_commits"):  # view, versions and commit log of the zone
                    shutil.rmtree(lake / top / zone, ignore_errors=True)

        return prepare

    engines = ["spark", "inprocess"] if config.spark else ["inprocess"]
    # in-process last: its validated version is what the features read, on both engines
    for engine in engines:
        log(f"validation ({engine}) ...")
        try:
            report.validation[engine] = repeat(engine, "validate", config.repeats, clean("validated", "rejected"),
                                               raw_path=raw_path, partition=report.drop.partition, lake=str(lake),
                                               engine=engine)  # fmt: skip
        except WorkloadError as exc:
            report.errors.append(f"validation ({engine}): {_last_line(exc)}")
            log(f"validation ({engine}) failed: {exc}")
    if "inprocess" not in report.validation:
        return
    validated = report.validation["inprocess"].runs[-1].result["path"]
    for engine in reversed(engines):
        log(f"features ({engine}) ...")
        try:
            report.features[engine] = repeat(engine, "features", config.repeats, clean("features"),
                                             validated_path=validated, partition=report.drop.partition,
                                             lake=str(lake), engine=engine)  # fmt: skip
        except WorkloadError as exc:
            report.errors.append(f"features ({engine}): {_last_line(exc)}")
            log(f"features ({engine}) failed: {exc}")
    log(render_validation(report))


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{lines[0]} ... {lines[-1]}" if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)


# --- rendering ------------------------------------------------------------------------------------
def _mb(n: int | float) -> str:
    return f"{n / MB:,.0f}"


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:,.1f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def raw_ratio(raw: dict[str, Series]) -> float:
    """Project time / time of the faster baseline (1.0 = as fast; the goal is <= 1.5)."""
    project, *baselines = raw.values()
    return project.seconds / min(b.seconds for b in baselines)


def render_raw(report: Report) -> str:
    raw = report.raw
    fastest = min(s.seconds for name, s in list(raw.items())[1:])
    rows = [
        [name, f"{s.rows:,}", f"{s.seconds:.2f}", f"{s.rows_per_second:,.0f}", f"{s.seconds / fastest:.2f}x",
         f"{_median_result(s, 'cpu_seconds'):.2f}", _mb(s.peak_rss), _mb(s.runs[0].result.get("out_bytes", 0))]
        for name, s in raw.items()
    ]  # fmt: skip
    head = (
        f"### Raw conversion: {report.drop.rows:,} rows, {report.drop.num_bytes / MB:,.0f} MB CSV "
        f"(median of {report.config.repeats})\n\n"
    )
    return head + _table(
        ["tool", "rows", "seconds", "rows/s", "time vs faster baseline", "CPU seconds", "peak RSS MB",
         "Parquet MB"], rows,
    )  # fmt: skip


def _median_result(series: Series, key: str) -> float:
    import statistics

    return statistics.median(float(m.result.get(key, 0.0)) for m in series.runs)


def render_validation(report: Report) -> str:
    if not report.validation:
        return ""
    label = {"inprocess": "in-process", "spark": "local Spark"}
    rows = []
    for engine, v in report.validation.items():
        what = "pandas + pandera" if engine == "inprocess" else "validate_dataset in Spark tasks"
        rows.append([f"validation ({what}), {label[engine]}", f"{v.rows:,}", _s(v.phase("load")),
                     _s(v.phase("compute")), _s(v.phase("write")), f"{v.seconds:.1f}", f"{v.rows_per_second:,.0f}",
                     _mb(v.peak_rss)])  # fmt: skip
    for engine, s in report.features.items():
        what = "polars" if engine == "inprocess" else "Spark"
        rows.append([f"order_summary ({what}), {label[engine]}", f"{s.rows:,}", _s(s.phase("load")),
                     _s(s.phase("compute")), _s(s.phase("write")), f"{s.seconds:.1f}", f"{s.rows_per_second:,.0f}",
                     _mb(s.peak_rss)])  # fmt: skip
    for engine, s in report.features.items():
        v = report.validation.get(engine)
        if v is None:
            continue
        total = v.seconds + s.seconds
        rows.append([f"**validation + features, {label[engine]}**", f"{v.rows:,}", "", "", "", f"**{total:.1f}**",
                     f"{v.rows / total:,.0f}", _mb(max(v.peak_rss, s.peak_rss))])  # fmt: skip
    text = f"### Validation + features on the same data (median of {report.config.repeats})\n\n" + _table(
        ["step", "rows in", "load s", "compute s", "write s", "total s", "rows/s", "peak RSS MB"], rows
    )
    sessions = [
        x.phase("session") for x in (report.validation.get("spark"), report.features.get("spark")) if x
    ]
    sessions = [x for x in sessions if x is not None]
    if sessions:
        text += (
            f"\n\nSpark session start (JVM, local[2]), not included above: {min(sessions):.1f}-"
            f"{max(sessions):.1f} s per process. Spark's load is part of its compute (lazy)."
        )
    return text


def pipeline_ratio(series: dict[str, Series]) -> float:
    """Project end-to-end time / the faster baseline's (1.0 = as fast)."""
    project, *baselines = series.values()
    return project.seconds / min(b.seconds for b in baselines)


def render_pipeline(report: Report) -> str:
    if not report.pipeline:
        return ""
    parts = []
    for drop, series in report.pipeline:
        fastest = min(s.seconds for s in list(series.values())[1:])
        rows = []
        for name, s in series.items():
            stages = [_s(s.phase(stage)) for stage in PIPELINE_STAGES]
            stage_cpu = [
                statistics.median(
                    float(m.result.get("stage_cpu", {}).get(stage, float("nan"))) for m in s.runs
                )
                for stage in PIPELINE_STAGES
            ]
            cpu = "/".join("-" if c != c else f"{c:.1f}" for c in stage_cpu)
            rows.append([name, *stages, f"{s.seconds:.1f}", f"{s.seconds / fastest:.2f}x",
                         f"{_median_result(s, 'cpu_seconds'):.1f}", cpu, _mb(s.max_peak_rss)])  # fmt: skip
        runs = len(next(iter(series.values())).runs)
        parts.append(
            f"#### {drop.rows:,} rows, {drop.num_bytes / MB:,.0f} MB CSV (median of {runs})\n\n"
            + _table(
                [
                    "pipeline",
                    "raw s",
                    "validation s",
                    "order_summary s",
                    "end to end s",
                    "vs faster baseline",
                    "CPU s (process)",
                    "CPU s per stage",
                    "peak RSS MB",
                ],
                rows,
            )  # fmt: skip
        )
    return (
        "### Whole pipeline: drop -> raw -> validated + rejected -> order_summary, project vs independent "
        "baselines\n\nThe baselines (`benchmarks/baseline_duckdb.py`, `benchmarks/baseline_polars.py`) give the "
        "project's rows cell for cell (`retina_assets_tests/e2e/test_baselines_agree.py`). Per-stage CPU is "
        "measured inside the process (all threads); a baseline reports its total only.\n\n"
        + "\n\n".join(parts)
    )


def render_scaling(report: Report) -> str:
    if not report.scaling:
        return ""
    base_rows = report.scaling[0][0].rows
    names = list(report.scaling[0][1])
    rows = []
    for drop, series in report.scaling:
        rows.append([f"{drop.rows / base_rows:.0f}x", f"{drop.rows:,}", _mb(drop.num_bytes)]
                    + [f"{_mb(series[n].max_peak_rss)} ({series[n].rows_per_second:,.0f} rows/s)" for n in names])  # fmt: skip
    short = [n.split(" (")[0].split(" COPY")[0].split(" scan_csv")[0] for n in names]
    return "### Peak memory as the drop grows (peak RSS MB, and rows/s)\n\n" + _table(
        ["size", "rows", "CSV MB", *short], rows
    )


def render_latency(report: Report) -> str:
    lat = report.latency
    if lat is None:
        return ""
    rows = [
        [d.partition, f"{d.rows:,}", _s(d.detection), _s(d.queued), _s(d.run), f"{d.total:.1f}",
         f"{d.checks_passed}/{d.checks_total}", d.run_status]
        for d in lat.drops  # type: ignore[attr-defined]
    ]  # fmt: skip
    rows.append(["**median**", "", _s(lat.median("detection")), _s(lat.median("queued")), _s(lat.median("run")),  # type: ignore[attr-defined]
                 f"**{_s(lat.median('total'))}**", "", ""])  # type: ignore[attr-defined]  # fmt: skip
    return (
        "### Drop-to-features latency, real `dagster-daemon` (seconds from the drop's rename)\n\n"
        + _table(
            [
                "drop (as_of_date)",
                "rows",
                "to run request",
                "queued + launch",
                "run (raw, validate + checks, features)",
                "total to order_summary",
                "checks passed",
                "run",
            ],
            rows,
        )  # fmt: skip
        + f"\n\nSensor minimum interval {lat.sensor_interval} s, completeness rule quiet period "  # type: ignore[attr-defined]
        f"{lat.quiet_seconds} s; daemon ready {lat.daemon_ready_seconds:.0f} s after start (not counted)."  # type: ignore[attr-defined]
    )


def render_goals(report: Report) -> str:
    rows = []
    ratio = raw_ratio(report.raw)
    rows.append(["raw conversion vs faster baseline", f"<= {GOAL_RAW_RATIO}x", f"{ratio:.2f}x",
                 "yes" if ratio <= GOAL_RAW_RATIO else "**no**"])  # fmt: skip
    project_peaks = [series[next(iter(series))].max_peak_rss for _, series in report.scaling] or [
        next(iter(report.raw.values())).max_peak_rss
    ]
    peak = max(project_peaks)
    rows.append(["raw conversion peak memory, any size", "< 1,536 MB", f"{_mb(peak)} MB (max over sizes)",
                 "yes" if peak < GOAL_PEAK_BYTES else "**no**"])  # fmt: skip
    if len(project_peaks) > 1:
        growth = project_peaks[-1] / project_peaks[0]
        rows.append([f"peak memory growth {report.config.scale_factor}x rows", "bounded (~1x)", f"{growth:.2f}x",
                     "yes" if growth < 1.5 else "**no**"])  # fmt: skip
    for drop, series in report.pipeline:
        ratio = pipeline_ratio(series)
        project = next(iter(series.values()))
        rows.append([f"whole pipeline, {drop.rows:,} rows, vs faster baseline", f"<= {GOAL_PIPELINE_RATIO}x (aim 1.0x)",
                     f"{ratio:.2f}x", "yes" if ratio <= GOAL_PIPELINE_RATIO else "**no**"])  # fmt: skip
        rows.append([f"whole pipeline peak memory, {drop.rows:,} rows", "< 1,536 MB", f"{_mb(project.max_peak_rss)} MB",
                     "yes" if project.max_peak_rss < GOAL_PEAK_BYTES else "**no**"])  # fmt: skip
    lat = report.latency
    if lat is not None and lat.median("total") is not None:  # type: ignore[attr-defined]
        med = lat.median("total")  # type: ignore[attr-defined]
        rows.append(["drop-to-features latency, small drop", f"< {GOAL_LATENCY_SECONDS:.0f} s", f"{med:.1f} s (median)",
                     "yes" if med < GOAL_LATENCY_SECONDS else "**no**"])  # fmt: skip
    return "### Goals\n\n" + _table(["goal", "target", "measured", "met"], rows)


def render(report: Report) -> str:
    m = report.machine
    cfg = report.config
    parts = [
        "## Benchmark results",
        f"Run `python -m benchmarks.run --rows {cfg.rows} --repeats {cfg.repeats}` on {m['date (UTC)']} UTC, "
        f"commit `{m['commit']}`, in {report.wall_seconds / 60:.1f} min. Medians over the repeats; peak RSS "
        "is the whole process tree of one run, sampled every 20 ms (and the process's own VmHWM).",
        _table(["machine", ""], [[k, v] for k, v in m.items() if k not in ("date (UTC)", "commit")]),
        f"Load average (1/5/15 min) at start {', '.join(f'{x:.2f}' for x in report.load_before)}, at end "
        f"{', '.join(f'{x:.2f}' for x in report.load_after)} on {os.cpu_count()} cores: "
        + (
            "the machine was shared with other work, so figures are noisy."
            if max(report.load_before[0], report.load_after[0]) > 1.0
            else "the machine was otherwise idle."
        ),  # fmt: skip
        render_goals(report),
        render_raw(report),
        render_validation(report),
        render_pipeline(report),
        render_scaling(report),
        render_latency(report),
    ]
    if report.errors:
        parts.append("### Sections that failed\n\n" + "\n".join(f"- {e}" for e in report.errors))
    return "\n\n".join(p for p in parts if p) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="rows in the big drop (default 5,000,000)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per measurement (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 50,000 rows, 1 repeat, 1 drop, no Spark"
    )
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument(
        "--skip-validation", action="store_true", help="skip the per-engine validation section"
    )
    parser.add_argument("--skip-pipeline", action="store_true", help="skip the whole-pipeline comparison")
    parser.add_argument("--output", type=Path, default=RESULTS, help="Markdown results file")
    args = parser.parse_args(argv)
    config = Config()
    if args.quick:  # < 2 minutes: no Spark (its JVM start alone takes 20-30 s on 2 busy cores)
        config.rows, config.repeats, config.latency_drops, config.spark = 50_000, 1, 1, False
    config.rows = args.rows or config.rows
    config.repeats = args.repeats or config.repeats
    config.spark = not args.skip_spark
    config.latency = not args.skip_latency
    config.scaling = not args.skip_scaling
    config.validation = not args.skip_validation
    config.pipeline = not args.skip_pipeline
    config.results = args.output
    report = run(config)
    text = render(report)
    print("\n" + text)
    if config.results is not None:
        config.results.parent.mkdir(parents=True, exist_ok=True)
        config.results.write_text(text)
        print(f"written to {config.results}")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
