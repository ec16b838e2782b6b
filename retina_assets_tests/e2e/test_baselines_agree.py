"""The benchmark's independent whole-pipeline baselines (``benchmarks/baseline_polars.py`` and
``benchmarks/baseline_duckdb.py``, written from the rule descriptions) give cell for cell the project's validated, rejected (codes and reasons) and ``order_summary``
rows on real days: the bundled sample and, where present, the full Online Retail file. Each baseline runs as
a subprocess (``python -m benchmarks.baseline_<tool>``) and writes its outputs to files; nothing of
``benchmarks`` is imported here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retina_assets.catalog import load_client
from retina_assets.demo import FULL, SAMPLE, write_drops
from retina_assets.features.order_summary import summarize_orders
from retina_assets.ingestion.landing import drops_for_partition
from retina_assets.ingestion.raw_conversion import DropConversion
from retina_assets.quality.validation import validate_table
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import filesystem_for

SOURCES = [pytest.param(SAMPLE, 9, id="sample")]
if FULL.exists():
    SOURCES.append(pytest.param(FULL, 40, id="online_retail"))


def project(landing: Path, partition: str) -> dict[str, pa.Table]:
    client = load_client(REPO_ROOT / "clients" / "demo.yaml")
    fs = filesystem_for(str(landing / "demo"))
    drops = drops_for_partition(fs, str(landing / "demo"), client, "orders", partition)
    conversion = DropConversion(drops, client.datasets["orders"], fs, progress=lambda _m: None)
    raw = pa.Table.from_batches(list(conversion.batches()), schema=conversion.schema)
    outcome = validate_table(raw, client.datasets["orders"])
    summary = summarize_orders(pl.from_arrow(outcome.valid_table))  # type: ignore[arg-type]
    return {
        "validated": outcome.valid_table,
        "rejected": outcome.rejected_table,
        "order_summary": summary.to_arrow(),
    }


def baseline(tool: str, drop: Path, out: Path) -> dict[str, pa.Table]:
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.baseline_{tool}", str(drop), str(drop), str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.split("RESULT ", 1)[1])["validation"] >= 0
    return {
        name: pq.read_table(out / f"{name}.parquet") for name in ("validated", "rejected", "order_summary")
    }


def as_polars(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


@pytest.mark.parametrize("tool", ["polars", "duckdb"])
@pytest.mark.parametrize(("source", "days"), SOURCES)
def test_baseline_agrees_cell_for_cell(tool: str, source: Path, days: int, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    drops = write_drops(landing, source=source, days=days)
    assert len(drops) == days
    rejected_total = 0
    for drop in drops:
        partition = f"{drop.stem[7:11]}-{drop.stem[11:13]}-{drop.stem[13:15]}"
        ours = project(landing, partition)
        theirs = baseline(tool, drop, tmp_path / tool / partition)
        for name in ("validated", "rejected", "order_summary"):
            a, b = as_polars(ours[name]), as_polars(theirs[name])
            assert a.columns == b.columns, (partition, name, b.columns)
            assert a.height == b.height, (partition, name)
            for column in a.columns:
                left, right = a[column], b[column].cast(a[column].dtype)
                assert left.equals(right, check_names=False), (partition, name, column)
        rejected_total += ours["rejected"].num_rows
    assert rejected_total > 0  # the days hold real dirt: the rules were exercised
