"""A bad client spec gives a clear error at load time: the file, the field path and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from retina_assets.model.spec import SpecLoadError, load_client_spec
from retina_assets_tests.support.specs import GOOD_DATASET, spec_text, write

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
    "another_clients_landing": (
        spec_text().replace("start_date:", "landing: other_client\nstart_date:"),
        "landing",
        ["'other_client'", "own folder 'acme'"],
    ),
    "absolute_landing_not_allowed": (
        spec_text().replace("start_date:", "landing: /srv/landing/other_client\nstart_date:"),
        "landing",
        ["outside the client's own landing area", "RETINA_ALLOWED_LANDING"],
    ),
    "uri_landing_not_allowed": (
        spec_text().replace("start_date:", "landing: s3://other-bucket/drops\nstart_date:"),
        "landing",
        ["outside the client's own landing area"],
    ),
    "unknown_quality_rule": (
        spec_text(body=GOOD_DATASET + "    quality: {rules: {reject_zero_prise: true}}\n"),
        "datasets.orders.quality.rules",
        ["unknown rule", "reject_zero_prise", "reject_zero_price"],
    ),
    "backreference_pattern": (
        spec_text(body=GOOD_DATASET.replace("\\.csv'", "(x)\\1\\.csv'")),
        "datasets.orders.pattern",
        ["RE2", "backreferences"],
    ),
    "lookahead_rule_pattern": (
        spec_text(body=GOOD_DATASET + "    quality: {rules: {non_product_code_patterns: ['^(?=A)']}}\n"),
        "datasets.orders.quality.rules",
        ["lookaround", "non_product_code_patterns"],
    ),
    "negative_limit": (
        spec_text(body=GOOD_DATASET + "    limits: {max_columns: 0}\n"),
        "datasets.orders.limits.max_columns",
        ["greater than 0"],
    ),
    "unknown_limit": (
        spec_text(body=GOOD_DATASET + "    limits: {max_cells: 10}\n"),
        "datasets.orders.limits.max_cells",
        ["unknown field"],
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


def test_a_client_lands_in_its_own_folder_or_where_the_deployment_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    below_own = load_client_spec(
        write(tmp_path, "acme.yaml", spec_text().replace("start_date:", "landing: acme/sftp\nstart_date:"))
    )
    assert below_own.landing_uri("/landing") == "/landing/acme/sftp"
    absolute = spec_text().replace("start_date:", "landing: s3://acme-drops/in\nstart_date:")
    with pytest.raises(SpecLoadError, match="RETINA_ALLOWED_LANDING"):
        load_client_spec(write(tmp_path, "acme.yaml", absolute))
    monkeypatch.setenv("RETINA_ALLOWED_LANDING", "/srv/shared, s3://acme-drops")
    assert load_client_spec(write(tmp_path, "acme.yaml", absolute)).landing_uri("/x") == "s3://acme-drops/in"
    sneaky = spec_text().replace("start_date:", "landing: s3://acme-drops-other\nstart_date:")
    with pytest.raises(SpecLoadError, match="outside the client's own landing area"):
        load_client_spec(write(tmp_path, "acme.yaml", sneaky))
