"""Shared fixtures: a temporary lake and landing zone, demo drops, and a real (ephemeral) Dagster instance.

Fixtures for external servers (moto S3, Azurite) and for Spark (a local session, a Spark Connect server) live
in their own plugin modules under ``support/``, listed in ``pytest_plugins`` so each can be read on its own.
Helpers that tests import (``LakeEnv``, job runs, data builders) are in ``retina_assets_tests.support``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv

pytest_plugins = [
    "retina_assets_tests.support.servers_s3",
    "retina_assets_tests.support.servers_azure",
    "retina_assets_tests.support.servers_spark",
    "retina_assets_tests.support.servers_postgres",
]


@pytest.fixture
def lake_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    """An empty lake and landing zone with the repository's client specs."""
    env = LakeEnv(tmp_path / "lake", tmp_path / "landing", REPO_ROOT / "clients")
    env.lake.mkdir()
    env.landing.mkdir()
    monkeypatch.setenv("RETINA_LAKE_URI", str(env.lake))
    monkeypatch.setenv("RETINA_LANDING_URI", str(env.landing))
    monkeypatch.setenv("RETINA_CLIENTS_DIR", str(env.clients_dir))
    return env


@pytest.fixture
def demo_drops(lake_env: LakeEnv) -> list[Path]:
    """The first three days of demo drops (from the bundled Online Retail sample)."""
    from retina_assets.demo import SAMPLE, write_drops

    return write_drops(lake_env.landing, source=SAMPLE, days=3)


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A real Dagster instance with temporary storage (event log, runs), discarded after the test."""
    with dg.instance_for_test() as inst:
        yield inst


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Keep each phase's report on the test item (``item.rep_call``), so fixtures can tell whether the test
    failed (the browser tests save a screenshot then)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
