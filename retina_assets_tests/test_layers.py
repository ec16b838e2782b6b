"""The package's layers point down only, and Dagster stays in its own layer: the import-linter contracts in
``pyproject.toml`` hold for the code as it is, and break on an upward import or on Dagster imported below
``retina_assets.defs`` (so CI, which runs ``lint-imports``, would fail)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from retina_assets.settings import REPO_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    """Run ``lint-imports`` on a copy of the package at ``root`` (imported from there, not the checkout)."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        REPO_ROOT / "retina_assets", tmp_path / "retina_assets", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold(package_copy: Path) -> None:
    result = lint(package_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("storage/paths.py", "from retina_assets.quality import checks", "Layers point down"),
        ("ingestion/landing.py", "from retina_assets.quality import validation", "Layers point down"),
        ("model/naming.py", "import retina_assets.defs.gate", "Layers point down"),
        ("features/registry.py", "import dagster", "The core does not import Dagster"),
        ("lake.py", "from dagster import AssetKey", "The core does not import Dagster"),
    ],
)
def test_an_upward_or_dagster_import_breaks_a_contract(
    package_copy: Path, module: str, line: str, broken: str
) -> None:
    path = package_copy / "retina_assets" / module
    path.write_text(f"{path.read_text()}\n{line}  # noqa\n")
    result = lint(package_copy)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout, result.stdout


def test_the_stages_and_tools_run_without_importing_dagster() -> None:
    code = (
        "import sys\n"
        "import retina_assets.catalog, retina_assets.lake, retina_assets.engines.stages\n"
        "import retina_assets.ingestion.raw_stage, retina_assets.features\n"
        "clients = retina_assets.catalog.load_clients()\n"
        "assert clients, 'no clients'\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('dagster')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"RETINA_CLIENTS_DIR": str(REPO_ROOT / "clients"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
