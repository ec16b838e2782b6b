"""Smoke test of the benchmark harness, run as a user runs it (``python -m benchmarks.run``, without the
Spark, latency and scaling sections): it generates a drop and measures one conversion per tool.

No timing is asserted (speed belongs to a full ``python -m benchmarks.run``); this checks that the generator
writes the demo client's format with new keys per copy and reuses the file on the next run, that every tool
converts every row (the project's conversion with no row in error), and that the raw-conversion table has
one row per tool.

The harness runs from a copy of the ``benchmarks`` package in the test's temporary folder, so its generated
drops land there and not in the checkout, and the generator's source is the bundled sample (through
``RETINA_SHARED_DATA``), as on a machine without the shared datasets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from retina_assets.demo import FULL, SAMPLE
from retina_assets.settings import REPO_ROOT

ROWS = 30_000  # more than the bundled sample's 25,281 lines, so a second copy with new keys is made
PARTITION = "2010-12-01"


@pytest.fixture
def harness(tmp_path: Path) -> Path:
    """A folder holding a copy of the ``benchmarks`` package and a shared-data folder whose Online Retail
    file is the bundled sample."""
    shutil.copytree(
        REPO_ROOT / "benchmarks",
        tmp_path / "benchmarks",
        ignore=shutil.ignore_patterns("__pycache__", ".data", "results"),
    )
    source = tmp_path / "shared" / "online_retail_uci" / FULL.name
    source.parent.mkdir(parents=True)
    shutil.copy(SAMPLE, source)
    return tmp_path


def run_module(root: Path, *args: str) -> str:
    """``python -m <args>`` from ``root`` (so ``benchmarks`` is the copy there); returns its stdout."""
    env = {**os.environ, "RETINA_SHARED_DATA": str(root / "shared")}
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=root, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def run_benchmark(root: Path) -> str:
    """One benchmark run of ``ROWS`` rows (raw conversion and in-process validation); returns the report."""
    output = root / "latest.md"
    run_module(
        root,
        "benchmarks.run",
        *("--rows", str(ROWS), "--repeats", "1", "--output", str(output)),
        *("--skip-spark", "--skip-latency", "--skip-scaling"),
    )
    return output.read_text()


def raw_table(report: str) -> list[str]:
    """The lines of the report's raw-conversion section."""
    section = report.split("### Raw conversion", 1)[1].split("\n### ", 1)[0]
    return section.splitlines()


def test_generator_and_one_conversion_per_tool(harness: Path) -> None:
    report = run_benchmark(harness)
    landing = harness / "benchmarks" / ".data" / f"rows_{ROWS}" / "landing"
    [drop] = (landing / "demo").glob("*.csv")
    assert drop.name == "orders_20101201.csv"
    frame = pl.read_csv(drop, separator=";", encoding="utf8-lossy", infer_schema=False)
    assert frame.height == ROWS
    assert frame.columns[:3] == ["InvoiceNo", "StockCode", "Description"]
    sample_rows = pl.read_csv(SAMPLE, infer_schema=False).height
    first, second = frame.head(sample_rows), frame.slice(sample_rows)
    assert first["InvoiceDate"][0].count("/") == 2 and "," in first["UnitPrice"][0]  # client format
    assert not set(second["InvoiceNo"]) & set(first["InvoiceNo"])  # new keys in the second copy
    assert second.filter(pl.col("InvoiceNo").str.starts_with("C")).height > 0  # cancellations stay 'C...'
    written = drop.stat()
    run_benchmark(harness)
    again = drop.stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)  # reused, not rewritten

    # the project's conversion, as the harness measures it: every row read without an error
    args = {"landing": str(landing), "partition": PARTITION, "lake": str(harness / "lake")}
    out = run_module(harness, "benchmarks.workloads", "project_raw", json.dumps(args))
    [line] = [line for line in out.splitlines() if line.startswith("RESULT ")]
    project = json.loads(line.removeprefix("RESULT "))
    assert project["rows"] == ROWS
    assert project["rows_with_errors"] == 0

    table = raw_table(report)
    tool_rows = [line for line in table if line.startswith("| ") and not line.startswith("| tool")]
    assert len(tool_rows) == 3
    assert [r.split("|")[1].strip().split()[0] for r in tool_rows] == ["retina_assets", "DuckDB", "polars"]
    assert all(f"{ROWS:,}" in r for r in tool_rows)
    for row in tool_rows:
        _, rows, _, rows_per_second, _, _, peak_rss_mb, _ = (cell.strip() for cell in row.split("|")[1:-1])
        assert rows == f"{ROWS:,}"
        assert float(rows_per_second.replace(",", "")) > 0  # rows / seconds: the run took some time
        assert float(peak_rss_mb.replace(",", "")) > 0
