"""A bad client spec never takes down the other clients: the catalog and the code location load the good
ones, warn about each bad file and its problem, and name the bad files in a ``retina_spec_errors`` sensor
(there is none when every spec loads). The repository's own specs all load."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import retina_assets.catalog as clients
from retina_assets.definitions import SpecErrorWarning, build_definitions
from retina_assets.settings import REPO_ROOT, LakeSettings
from retina_assets_tests.support.specs import spec_text, write


def test_bad_specs_do_not_take_down_the_good_clients(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "clients" / "demo.yaml", tmp_path / "demo.yaml")
    write(tmp_path, "acme.yaml", spec_text())
    write(tmp_path, "broken.yaml", "client: broken\n  oops: [\n")
    write(tmp_path, "evil.yaml", spec_text(client="'../x'"))
    write(tmp_path, "acme.yml", spec_text())  # the same client twice
    errors = clients.spec_errors(tmp_path)
    assert {Path(e.file).name for e in errors} == {"broken.yaml", "evil.yaml", "acme.yml"}
    assert [c.client for c in clients.load_clients(tmp_path)] == ["acme", "demo"]
    settings = LakeSettings(str(tmp_path / "lake"), str(tmp_path / "landing"), str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        defs = build_definitions(settings)
    messages = [str(w.message) for w in caught if issubclass(w.category, SpecErrorWarning)]
    assert any("broken.yaml" in m and "invalid YAML" in m for m in messages)
    assert any("evil.yaml" in m and "'../x'" in m for m in messages)
    groups = {n.group_name for n in defs.resolve_asset_graph().asset_nodes}
    assert groups == {"acme", "demo"}
    sensor = defs.resolve_sensor_def("retina_spec_errors")
    assert "broken.yaml" in (sensor.description or "") and "evil.yaml" in (sensor.description or "")
    defs.resolve_job_def("acme_ingest")
    defs.resolve_job_def("demo_ingest")


def test_no_error_sensor_when_all_specs_load(tmp_path: Path) -> None:
    write(tmp_path, "acme.yaml", spec_text())
    assert clients.spec_errors(tmp_path) == []
    settings = LakeSettings(str(tmp_path / "lake"), str(tmp_path / "landing"), str(tmp_path))
    defs = build_definitions(settings)
    names = [s.name for s in defs.sensors]
    assert "retina_spec_errors" not in names and "acme_drop_sensor" in names, names


def test_repository_specs_all_load() -> None:
    assert clients.spec_errors(REPO_ROOT / "clients") == []
