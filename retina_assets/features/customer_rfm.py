"""``<client>/customer_rfm``: per customer, the recency/frequency/monetary summary that buy-till-you-die
(BTYD) models such as BG/NBD and Gamma-Gamma are fitted on, over **all** validated history up to the
partition's ``as_of_date`` (a ``history`` feature: see :mod:`retina_assets.features.registry`).

Conventions (those of Fader, Hardie & Lee 2005 and of the lifetimes/pymc-marketing summaries), with the
calendar **day** as the time unit and the purchase period:

* A *purchase* is a day on which the customer bought at least one product line of a sales order (not a
  cancellation, not a non-product line such as postage). Several orders on one day are one purchase; returns
  are not subtracted (the models describe buying, not netting).
* ``frequency``: repeat purchases, i.e. purchase days after the first one (0 for a one-time buyer).
* ``recency``: days from the first to the last purchase day (0 for a one-time buyer).
* ``T``: the customer's age, days from the first purchase day to the end of the observation period, the
  partition's ``as_of_date``.
* ``monetary_value``: the mean value of the **repeat** purchase days (the first purchase is left out, as
  Gamma-Gamma expects); 0 when ``frequency`` is 0. A day's value is the sum of its product lines'
  ``line_amount`` (quantity x unit price).

Only order lines with a customer id and an order time on or before the ``as_of_date`` count; lines without
a customer id, and lines dated after the ``as_of_date`` (a drop may carry them), are counted in the
materialization metadata instead. Customers who never bought are not in the table.

=====================  =========  ==============================================================
column                 type       meaning
=====================  =========  ==============================================================
customer_id            string     the client's customer id
frequency              int64      repeat purchase days
recency                float64    days between first and last purchase day
T                      float64    days between first purchase day and the as_of_date
monetary_value         float64    mean value of the repeat purchase days (0 if none)
first_purchase         date       first purchase day
last_purchase          date       last purchase day
purchase_value         float64    value of all purchase days, first one included
=====================  =========  ==============================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl
import pyarrow as pa

from retina_assets.features.order_summary import with_order_flags
from retina_assets.features.registry import Feature
from retina_assets.model.naming import PARTITION_COLUMN

SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("frequency", pa.int64()),
        ("recency", pa.float64()),
        ("T", pa.float64()),
        ("monetary_value", pa.float64()),
        ("first_purchase", pa.date32()),
        ("last_purchase", pa.date32()),
        ("purchase_value", pa.float64()),
    ]
)

INPUT_COLUMNS = (
    "customer_id",
    "order_ts",
    "line_amount",
    "quantity",
    "unit_price",
    "is_cancellation",
    "is_product",
)


def customer_rfm(orders: pl.DataFrame, as_of_date: str | dt.date) -> pl.DataFrame:
    """The RFM summary of validated order lines observed up to the end of ``as_of_date`` (see the module
    docstring for the conventions)."""
    end = dt.date.fromisoformat(as_of_date) if isinstance(as_of_date, str) else as_of_date
    sales = (
        with_order_flags(orders)
        .filter(~pl.col("is_cancellation") & pl.col("is_product") & pl.col("customer_id").is_not_null())
        .with_columns(pl.col("order_ts").dt.date().alias("day"))
        .filter(pl.col("day") <= end)
    )
    days = sales.group_by("customer_id", "day").agg(
        pl.col("line_amount").sum().cast(pl.Float64).alias("value")
    )
    out = (
        days.sort("customer_id", "day")
        .group_by("customer_id")
        .agg(
            (pl.len() - 1).cast(pl.Int64).alias("frequency"),
            pl.col("day").min().alias("first_purchase"),
            pl.col("day").max().alias("last_purchase"),
            pl.col("value").slice(1).mean().alias("repeat_mean"),
            pl.col("value").sum().alias("purchase_value"),
        )
        .with_columns(
            (pl.col("last_purchase") - pl.col("first_purchase"))
            .dt.total_days()
            .cast(pl.Float64)
            .alias("recency"),
            (pl.lit(end) - pl.col("first_purchase")).dt.total_days().cast(pl.Float64).alias("T"),
            pl.col("repeat_mean").fill_null(0.0).round(6).alias("monetary_value"),
            pl.col("purchase_value").round(6),
        )
        .sort("customer_id")
    )
    return out.select(SCHEMA.names)


def _build(inputs: Mapping[str, pl.DataFrame], as_of_date: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    orders = inputs["orders"]
    end = dt.date.fromisoformat(as_of_date)
    rows = customer_rfm(orders, end)
    partitions = orders.get_column(PARTITION_COLUMN).unique().sort().to_list() if orders.height else []
    later = orders.filter(pl.col("order_ts").dt.date() > end).height if orders.height else 0
    return rows, {
        "customers": rows.height,
        "repeat_customers": rows.filter(pl.col("frequency") > 0).height,
        "history_partitions": len(partitions),
        "history_first_partition": partitions[0] if partitions else None,
        "order_lines_read": orders.height,
        "order_lines_without_customer": orders.filter(pl.col("customer_id").is_null()).height,
        "order_lines_after_as_of_date": later,
    }


CUSTOMER_RFM = Feature(
    name="customer_rfm",
    reads=("orders",),
    schema=SCHEMA,
    sort_by=("customer_id",),
    description=(
        "Per customer: frequency (repeat purchase days), recency, age T (days) and mean repeat purchase value "
        "over all validated orders up to the as_of_date: the input of BTYD models (BG/NBD, Gamma-Gamma)."
    ),
    build=_build,
    columns={"orders": INPUT_COLUMNS},
    history=True,
)
