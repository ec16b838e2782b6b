"""Smoke test of the benchmark harness (issue 7): it generates a drop and measures one conversion per tool.

No timing is asserted (speed belongs to ``python -m benchmarks.run``); this checks that the generator writes
the demo client's format with new keys per copy, that every tool converts every row, and that the table
has one row per tool.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from benchmarks.generate import generate
from benchmarks.run import Config, Report, render_raw, run_raw
from retina_assets.demo import SAMPLE

ROWS = 30_000  # more than the bundled sample's 25,281 lines, so a second copy with new keys is made


def test_generator_and_one_conversion_per_tool(tmp_path: Path) -> None:
    drop = generate(ROWS, tmp_path / "data", source=SAMPLE)
    assert drop.path.name == "orders_20101201.csv"
    frame = pl.read_csv(drop.path, separator=";", encoding="utf8-lossy", infer_schema=False)
    assert frame.height == ROWS
    assert frame.columns[:3] == ["InvoiceNo", "StockCode", "Description"]
    sample_rows = pl.read_csv(SAMPLE, infer_schema=False).height
    first, second = frame.head(sample_rows), frame.slice(sample_rows)
    assert first["InvoiceDate"][0].count("/") == 2 and "," in first["UnitPrice"][0]  # client format
    assert not set(second["InvoiceNo"]) & set(first["InvoiceNo"])  # new keys in the second copy
    assert second.filter(pl.col("InvoiceNo").str.starts_with("C")).height > 0  # cancellations stay 'C...'
    assert generate(ROWS, tmp_path / "data", source=SAMPLE).path == drop.path  # reused, not rewritten

    raw = run_raw(drop, repeats=1, work=tmp_path / "work")
    assert len(raw) == 3
    for series in raw.values():
        assert series.rows == ROWS
        assert series.peak_rss > 0 and series.seconds > 0
    project = next(iter(raw.values()))
    assert project.runs[0].result["rows_with_errors"] == 0

    report = Report(Config(rows=ROWS, repeats=1), {}, drop, raw=raw)
    table = render_raw(report).splitlines()
    tool_rows = [line for line in table if line.startswith("| ") and not line.startswith("| tool")]
    assert [r.split("|")[1].strip().split()[0] for r in tool_rows] == ["retina_assets", "DuckDB", "polars"]
    assert all(f"{ROWS:,}" in r for r in tool_rows)
