"""Issue 3: a bad client spec gives a clear error (file, field path, problem) at load time and never takes
down the other clients."""

from __future__ import annotations

import shutil
import textwrap
import warnings
from pathlib import Path

import pytest

import retina_assets.catalog as clients
from retina_assets.definitions import SpecErrorWarning, build_definitions
from retina_assets.model.spec import SpecLoadError, load_client_spec
from retina_assets.settings import REPO_ROOT, LakeSettings

GOOD_DATASET = """
datasets:
  orders:
    canonical: orders
    pattern: 'o_(?P<as_of_date>\\d{8})\\.csv'
    as_of_date: {from: filename, format: '%Y%m%d'}
    columns:
      id: {name: order_id}
      sku: {name: product_id}
      qty: {name: quantity, type: int64}
      price: {name: unit_price, type: float64}
      ts: {name: order_ts, type: timestamp}
"""


def spec_text(client: str = "acme", body: str = GOOD_DATASET) -> str:
    return f"client: {client}\nstart_date: 2020-01-01\n{textwrap.dedent(body)}"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# (file text, expected field path, words the problem must contain)
BAD_SPECS = {
    "bad_yaml": ("client: x\n  oops: [\n", "<file>", ["invalid YAML", "line 2"]),
    "duplicate_key": (spec_text() + "client: other\n", "<file>", ["duplicate key 'client'"]),
    "not_mapping": ("- just\n- a list\n", "<file>", ["mapping"]),
    "unknown_field": (
        spec_text(body=GOOD_DATASET.replace("canonical: orders", "canonical: orders\n    colour: red")),
        "datasets.orders.colour",
        ["unknown field"],
    ),
    "bad_regex": (
        spec_text(body=GOOD_DATASET.replace("\\.csv'", "(\\.csv'")),
        "datasets.orders.pattern",
        ["regular expression"],
    ),
    "bad_type": (
        spec_text(body=GOOD_DATASET.replace("type: int64", "type: integer")),
        "datasets.orders.columns.qty.type",
        ["'integer'"],
    ),
    "hostile_client": (spec_text(client="'../x'"), "client", ["'../x'", "not allowed"]),
    "hostile_dataset": (
        spec_text(body=GOOD_DATASET.replace("  orders:", "  ../etc:")),
        "datasets",
        ["'../etc'", "not allowed"],
    ),
    "bad_delimiter": (
        spec_text(body=GOOD_DATASET.replace("    columns:", "    reader: {delimiter: ';;'}\n    columns:")),
        "datasets.orders.reader.delimiter",
        ["single character"],
    ),
    "bad_encoding": (
        spec_text(body=GOOD_DATASET.replace("    columns:", "    reader: {encoding: klingon}\n    columns:")),
        "datasets.orders.reader.encoding",
        ["klingon"],
    ),
    "bad_date_format": (
        spec_text(body=GOOD_DATASET.replace("'%Y%m%d'", "'%Y%m'")),
        "datasets.orders.as_of_date.format",
        ["full date"],
    ),
    "pattern_without_date": (
        spec_text(body=GOOD_DATASET.replace("(?P<as_of_date>\\d{8})", "\\d{8}")),
        "datasets.orders",
        ["(?P<as_of_date>"],
    ),
    "canonical_column_unmapped": (
        spec_text(body=GOOD_DATASET.replace("      ts: {name: order_ts, type: timestamp}\n", "")),
        "datasets.orders",
        ["order_ts"],
    ),
    "two_columns_one_name": (
        spec_text(body=GOOD_DATASET.replace("sku: {name: product_id}", "sku: {name: order_id}")),
        "datasets.orders.columns",
        ["both map", "order_id"],
    ),
    "hostile_landing": (
        spec_text().replace("start_date:", "landing: ../../etc\nstart_date:"),
        "landing",
        ["'../../etc'", "'..'"],
    ),
    "bad_rule_pattern": (
        spec_text(body=GOOD_DATASET + "    quality: {rules: {non_product_code_patterns: ['(']}}\n"),
        "datasets.orders.quality.rules",
        ["non_product_code_patterns", "regular expression"],
    ),
    "comment_on_csv": (
        spec_text(body=GOOD_DATASET.replace("    columns:", "    reader: {comment: '#'}\n    columns:")),
        "datasets.orders",
        ["fixed_width"],
    ),
    "missing_start_date": (spec_text().replace("start_date: 2020-01-01\n", ""), "start_date", ["missing"]),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_names_file_field_and_problem(tmp_path: Path, case: str) -> None:
    text, field, words = BAD_SPECS[case]
    path = write(tmp_path, "acme.yaml", text)
    with pytest.raises(SpecLoadError) as info:
        load_client_spec(path)
    errors = info.value.errors
    assert all(e.file == str(path) for e in errors)
    matching = [e for e in errors if e.field == field]
    assert matching, f"no error on field {field!r}: {[str(e) for e in errors]}"
    assert any(all(w in e.problem for w in words) for e in matching), [str(e) for e in matching]


def test_the_good_base_spec_loads(tmp_path: Path) -> None:
    spec = load_client_spec(write(tmp_path, "acme.yaml", spec_text()))
    assert spec.client == "acme" and spec.datasets["orders"].canonical_name("qty") == "quantity"


def test_file_name_must_match_client(tmp_path: Path) -> None:
    with pytest.raises(SpecLoadError, match="must match the file name"):
        load_client_spec(write(tmp_path, "other.yaml", spec_text()))


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
    assert [s.name for s in defs.sensors] == ["acme_drop_sensor"]


def test_repository_specs_all_load() -> None:
    assert clients.spec_errors(REPO_ROOT / "clients") == []
