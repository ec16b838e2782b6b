"""The notebooks in notebooks/: each .ipynb is the pair of its jupytext .py (the file reviewed in diffs),
and the getting-started notebook runs on a freshly materialized lake, so it never rots."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import jupytext
import nbformat
import pytest

from retina_assets.notebooks import NOTEBOOKS_DIR, PRODUCTION_NOTEBOOKS, run_notebook
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import run_partition

SCRIPTS = sorted(NOTEBOOKS_DIR.rglob("*.py"))


def test_there_are_production_and_explore_notebooks() -> None:
    assert {p.parent.name for p in SCRIPTS} == {"production", "explore"}
    assert all(nb.script in SCRIPTS for nb in PRODUCTION_NOTEBOOKS.values())


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(NOTEBOOKS_DIR)))
def test_each_notebook_pair_holds_the_same_cells(script: Path) -> None:
    paired = script.with_suffix(".ipynb")
    assert paired.exists(), f"{paired} missing: run `.venv/bin/jupytext --sync {script}`"
    from_script = jupytext.read(script)
    from_ipynb = nbformat.read(paired, as_version=4)
    assert [(c.cell_type, c.source) for c in from_script.cells] == [
        (c.cell_type, c.source) for c in from_ipynb.cells
    ], f"{paired} and {script} differ: run `.venv/bin/jupytext --sync {script}`"
    assert all(not c.get("outputs") for c in from_ipynb.cells), f"{paired} is committed with outputs"


def test_getting_started_runs_on_a_fresh_lake(
    lake_env: LakeEnv, demo_drops: list[Path], instance: dg.DagsterInstance
) -> None:
    for day in ("2010-12-01", "2010-12-02", "2010-12-03"):
        run_partition(lake_env, instance, day)
    run = run_notebook(
        NOTEBOOKS_DIR / "explore" / "getting_started.py", {"client": "demo", "lake_uri": str(lake_env.lake)}
    )
    page = run.html.decode()
    assert "validated_orders: 3 partitions, 2010-12-01 .. 2010-12-03" in page
    assert "landing" in page  # the lineage reached the landing file
    assert "data:image/png;base64" in page  # the quality/volume plot
