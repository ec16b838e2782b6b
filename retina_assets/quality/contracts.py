"""Canonical data contracts (pandera) for the datasets clients send: orders, customers, products.

A contract states the canonical columns, their types, nullability, ranges, allowed values and keys. Row
level failures (a null where none is allowed, a negative price) are *quarantined* with the check's name;
dataset level failures (a missing column, a wrong type) fail the ``schema`` asset check.

Clients' columns are mapped to these names by their spec. Columns a contract marks optional may be absent.
"""

from __future__ import annotations

import pandera.pandas as pa

KEYS: dict[str, list[str]] = {
    "orders": ["order_id", "product_id", "quantity", "unit_price", "order_ts", "customer_id"],
    "customers": ["customer_id"],
    "products": ["product_id"],
}

# Columns that must exist and be non-null in every validated row.
REQUIRED: dict[str, list[str]] = {
    "orders": ["order_id", "product_id", "quantity", "order_ts", "unit_price"],
    "customers": ["customer_id"],
    "products": ["product_id"],
}


def orders_contract() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "order_id": pa.Column(str, nullable=False, checks=pa.Check.str_length(1, 64)),
            "product_id": pa.Column(str, nullable=False, checks=pa.Check.str_length(1, 64)),
            "description": pa.Column(str, nullable=True, required=False),
            "quantity": pa.Column("int64", nullable=False, checks=pa.Check.ne(0, name="quantity_non_zero")),
            "order_ts": pa.Column("datetime64[us]", nullable=False, coerce=True),
            "unit_price": pa.Column(
                "float64", nullable=False, checks=pa.Check.ge(0, name="unit_price_non_negative")
            ),
            "customer_id": pa.Column(str, nullable=True, required=False),
            "country": pa.Column(str, nullable=True, required=False),
        },
        name="orders",
        strict=False,
    )


def customers_contract() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "customer_id": pa.Column(str, nullable=False, unique=True),
            "country": pa.Column(str, nullable=True, required=False),
            "signup_date": pa.Column("datetime64[us]", nullable=True, required=False, coerce=True),
        },
        name="customers",
        strict=False,
    )


def products_contract() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "product_id": pa.Column(str, nullable=False, unique=True),
            "description": pa.Column(str, nullable=True, required=False),
            "category": pa.Column(str, nullable=True, required=False),
            "unit_price": pa.Column(
                "float64",
                nullable=True,
                required=False,
                checks=pa.Check.ge(0, name="unit_price_non_negative"),
            ),
        },
        name="products",
        strict=False,
    )


CONTRACTS = {
    "orders": orders_contract,
    "customers": customers_contract,
    "products": products_contract,
}


def contract_for(canonical: str) -> pa.DataFrameSchema:
    """The pandera schema of a canonical dataset."""
    return CONTRACTS[canonical]()
