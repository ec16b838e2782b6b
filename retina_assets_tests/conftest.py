"""Shared fixtures: a temporary lake and landing zone, demo drops, and a real (ephemeral) Dagster instance.

Fixtures for external servers (moto S3, Azurite, Spark Connect) live in their own plugin modules listed in
``pytest_plugins`` so each can be read on its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.settings import REPO_ROOT, LakeSettings

# The team's shared public datasets live beside the checkout (``../shared/data``); override with
# RETINA_SHARED_DATA when the checkout is elsewhere.
SHARED_DATA = Path(os.environ.get("RETINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

pytest_plugins = ["retina_assets_tests.servers_s3", "retina_assets_tests.servers_azure"]


@dataclass(frozen=True)
class LakeEnv:
    """A temporary lake, landing zone and clients folder, exported as the RETINA_* variables."""

    lake: Path
    landing: Path
    clients_dir: Path

    @property
    def settings(self) -> LakeSettings:
        return LakeSettings(str(self.lake), str(self.landing), str(self.clients_dir))


def materializations(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    """Asset key (``client/asset``) -> metadata values of each materialization in a run result."""
    out = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


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
