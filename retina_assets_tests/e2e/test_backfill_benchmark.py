"""The backfill benchmark end to end on three sample days: a real ``dagster-daemon run`` picks up the asset
backfill, launches one ranged run through the queued run coordinator (with the client lane tag), and every
day of every asset is materialized.

About 45 s (daemon start, the backfill daemon's polling, one run launch). ``python -m benchmarks.backfill``
runs the same code at full size.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from retina_assets.demo import SAMPLE
from retina_assets.settings import REPO_ROOT

pytestmark = pytest.mark.slow


def test_the_backfill_benchmark_runs_a_ranged_backfill_through_the_daemon(tmp_path: Path) -> None:
    out = tmp_path / "backfill.md"
    args = ["--days", "3", "--daily-days", "0", "--spark-days", "0", "--spark-daily-days", "0"]
    args += ["--source", str(SAMPLE), "--out", str(out), "--workdir", str(tmp_path), "--timeout", "600"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.backfill", *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [row] = [line for line in out.read_text().splitlines() if line.startswith("| ranged, in-process")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    # days 3, runs 1, failed 0, one client run at a time, every day of every asset materialized
    assert cells[3:6] == ["3", "1", "0"] and cells[9] == "1" and cells[10] == "yes", row
