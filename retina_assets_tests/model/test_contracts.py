"""The canonical contracts: one engine-neutral definition, the same rule codes on pandas and polars."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import polars as pl
import pytest

from retina_assets.model.contracts import contract_for, rule_codes
from retina_assets.model.spec import DatasetSpec
from retina_assets.quality.validation import contract_failures, validate_dataset

TS = dt.datetime(2011, 1, 5, 10, 0)

ORDERS = pd.DataFrame(
    {
        "order_id": ["1", "2", None, "4", "5", "6", "7", "8"],
        "product_id": ["a", "b", "c", "x" * 65, "e", "f", "g", "h"],
        "quantity": [1, 0, 2, 3, 2_000_000, 1, 1, 1],
        "order_ts": [TS, TS, TS, TS, TS, dt.datetime(1980, 1, 1), TS, TS],
        "unit_price": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -0.5, 1.0],
        "customer_id": ["c1", None, "c3", "c4", "c5", "c6", "c7", "c8"],
        "currency": ["GBP", "GBP", None, "GBP", "GBP", "GBP", "GBP", "gbp"],
        "channel": ["online", None, None, "store", "web", None, None, None],
    }
).astype({"order_ts": "datetime64[us]"})

EXPECTED = {  # row -> rule codes broken
    1: {"quantity.non_zero"},
    2: {"order_id.not_null"},
    3: {"product_id.length"},
    4: {"quantity.plausible_range", "channel.allowed_values"},
    5: {"order_ts.plausible_date"},
    6: {"unit_price.non_negative"},
    7: {"currency.pattern"},
}


def _by_row(failures) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    out: dict[int, set[str]] = {}
    for failure in failures:
        for row in failure.rows:
            out.setdefault(row, set()).add(failure.code)
    return out


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_each_rule_has_a_stable_code_on_each_engine(engine: str) -> None:
    frame = ORDERS if engine == "pandas" else pl.from_pandas(ORDERS)
    failures, dataset_errors = contract_failures(frame, "orders")
    assert dataset_errors == []
    assert _by_row(failures) == EXPECTED
    assert {f.code for f in failures} <= set(rule_codes("orders"))


@pytest.mark.parametrize("engine", ["pandas", "polars"])
def test_missing_columns_and_wrong_types_are_dataset_errors(engine: str) -> None:
    frame = pd.DataFrame({"order_id": ["1"], "product_id": ["a"], "quantity": ["three"]})
    failures, dataset_errors = contract_failures(
        frame if engine == "pandas" else pl.from_pandas(frame), "orders"
    )
    text = " ".join(dataset_errors)
    assert "unit_price" in text and "order_ts" in text and "quantity" in text
    assert not any(f.rows for f in failures if f.code.startswith("unit_price"))


def test_master_data_keys_are_unique_and_values_allowed() -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["1", "1", "2", "3"],
            "email": ["a@b.co", "x@y.org", "nope", None],
            "status": ["active", None, "closed", "gone"],
        }
    )
    assert _by_row(contract_failures(customers, "customers")[0]) == {
        0: {"customer_id.unique"},
        1: {"customer_id.unique"},
        2: {"email.pattern"},
        3: {"status.allowed_values"},
    }
    products = pl.DataFrame({"product_id": ["p1", "p2", "p2"], "unit_price": [1.0, -1.0, None]})
    assert _by_row(contract_failures(products, "products")[0]) == {
        1: {"product_id.unique", "unit_price.non_negative"},
        2: {"product_id.unique"},
    }
    assert contract_for("products", "polars").name == "products"


def test_a_client_can_relax_a_contract_rule() -> None:
    spec = DatasetSpec.model_validate(
        {
            "canonical": "orders",
            "pattern": r"o_(?P<as_of_date>\d{8})\.csv",
            "columns": {
                c: {"type": t}
                for c, t in [
                    ("order_id", "string"),
                    ("product_id", "string"),
                    ("quantity", "int64"),
                    ("order_ts", "timestamp"),
                    ("unit_price", "float64"),
                    ("customer_id", "string"),
                    ("currency", "string"),
                    ("channel", "string"),
                ]
            },
        }
    )
    strict = validate_dataset(ORDERS, spec)
    assert strict.reconciles and len(strict.rejected) == len(EXPECTED)
    relaxed_spec = spec.model_copy(
        update={
            "quality": spec.quality.model_copy(
                update={"rules": {"relax": ["currency.pattern", "channel.allowed_values"]}}
            )
        }
    )
    relaxed = validate_dataset(ORDERS, relaxed_spec)
    assert relaxed.reconciles
    assert sorted(relaxed.rejected["order_id"].fillna("-")) == ["-", "2", "4", "5", "6", "7"]
    assert len(relaxed.rejected) == len(EXPECTED) - 1  # row 7 released; row 4 still out of range
    assert (
        "currency.pattern" not in relaxed.rule_counts and relaxed.rule_counts["quantity.plausible_range"] == 1
    )


def test_wrong_types_fail_the_schema_instead_of_crashing_the_rules() -> None:
    spec = DatasetSpec.model_validate(
        {
            "canonical": "orders",
            "pattern": r"o_(?P<as_of_date>\d{8})\.csv",
            "columns": {c: {} for c in ["order_id", "product_id", "quantity", "order_ts", "unit_price"]},
            "quality": {"rules": {"cancellation_prefix": "C", "reject_zero_price": True}},
        }
    )
    raw = ORDERS[["order_id", "product_id", "quantity", "order_ts", "unit_price"]].astype({"quantity": str})
    outcome = validate_dataset(raw, spec)
    assert outcome.reconciles and outcome.schema_errors
    assert any("quantity" in e for e in outcome.schema_errors)


def test_spec_refuses_unknown_rule_codes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from retina_assets.model.spec import SpecLoadError, load_client_spec
    from retina_assets.settings import REPO_ROOT

    text = (REPO_ROOT / "clients" / "demo.yaml").read_text()
    path = tmp_path / "demo.yaml"
    path.write_text(
        text.replace(
            "reject_zero_price: true", "reject_zero_price: true\n        relax: [unit_price.non_negatve]"
        )
    )
    with pytest.raises(SpecLoadError, match="unknown rule code.*unit_price.non_negatve"):
        load_client_spec(path)
