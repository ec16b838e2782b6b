"""``<client>/order_summary``: per customer per day, what they bought and returned.

One row per ``customer_id`` with at least one order line that day (lines without a customer id cannot be
attributed and are counted in the materialization metadata instead). Columns:

=====================  =========  ==============================================================
column                 type       meaning
=====================  =========  ==============================================================
customer_id            string     the client's customer id
orders                 int64      distinct sales orders (not cancellations) with a product line
items                  int64      units bought on product lines of those orders
revenue                float64    sum of quantity x unit price on those lines
distinct_products      int64      distinct product ids bought
return_orders          int64      distinct cancellation orders
returned_items         int64      units returned (positive number) on product lines
refunds                float64    value returned (positive number) on product lines
net_revenue            float64    revenue - refunds
non_product_amount     float64    net value of non-product lines (postage, fees, manual adjustments)
first_order_ts         timestamp  first order line of the day
last_order_ts          timestamp  last order line of the day
=====================  =========  ==============================================================

Rows are sorted by ``customer_id`` so identical inputs give identical bytes (and dedupe). The partition
column ``as_of_date`` is not stored in the file: readers get it from the hive path
``.../order_summary/as_of_date=YYYY-MM-DD/part-0.parquet``.
"""

from collections.abc import Mapping
from types import ModuleType
from typing import Any

import polars as pl
import pyarrow as pa

from retina_assets.features.registry import Feature

SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("orders", pa.int64()),
        ("items", pa.int64()),
        ("revenue", pa.float64()),
        ("distinct_products", pa.int64()),
        ("return_orders", pa.int64()),
        ("returned_items", pa.int64()),
        ("refunds", pa.float64()),
        ("net_revenue", pa.float64()),
        ("non_product_amount", pa.float64()),
        ("first_order_ts", pa.timestamp("us")),
        ("last_order_ts", pa.timestamp("us")),
    ]
)


# The validated columns the summary reads (the others are not loaded: 5M rows, 2.9 GB -> well under 1 GB).
INPUT_COLUMNS = (
    "customer_id", "order_id", "product_id", "quantity", "unit_price", "line_amount", "is_cancellation",
    "is_product", "order_ts",
)  # fmt: skip


def with_order_flags(orders: pl.DataFrame | pl.LazyFrame) -> Any:
    """``orders`` with ``is_cancellation`` (default false), ``is_product`` (default true) and ``line_amount``
    (default quantity x unit price) for a version that lacks them (clients without those rules); lazy in,
    lazy out."""
    columns = orders.collect_schema().names()
    if "is_cancellation" not in columns:
        orders = orders.with_columns(pl.lit(False).alias("is_cancellation"))
    if "is_product" not in columns:
        orders = orders.with_columns(pl.lit(True).alias("is_product"))
    if "line_amount" not in columns:
        orders = orders.with_columns((pl.col("quantity") * pl.col("unit_price")).alias("line_amount"))
    return orders


def summarize_orders(orders: pl.DataFrame | pl.LazyFrame) -> Any:
    """Compute the order summary of one day's validated orders (see the module docstring); lazy in, lazy
    out."""
    orders = with_order_flags(orders)
    sale = ~pl.col("is_cancellation") & pl.col("is_product")
    ret = pl.col("is_cancellation") & pl.col("is_product")
    out = (
        orders.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(
            pl.col("order_id").filter(sale).n_unique().cast(pl.Int64).alias("orders"),
            pl.col("quantity").filter(sale).sum().cast(pl.Int64).alias("items"),
            pl.col("line_amount").filter(sale).sum().cast(pl.Float64).alias("revenue"),
            pl.col("product_id").filter(sale).n_unique().cast(pl.Int64).alias("distinct_products"),
            pl.col("order_id")
            .filter(pl.col("is_cancellation"))
            .n_unique()
            .cast(pl.Int64)
            .alias("return_orders"),
            (-pl.col("quantity").filter(ret).sum()).cast(pl.Int64).alias("returned_items"),
            (-pl.col("line_amount").filter(ret).sum()).cast(pl.Float64).alias("refunds"),
            pl.col("line_amount")
            .filter(~pl.col("is_product"))
            .sum()
            .cast(pl.Float64)
            .alias("non_product_amount"),
            pl.col("order_ts").min().alias("first_order_ts"),
            pl.col("order_ts").max().alias("last_order_ts"),
        )
        .with_columns(
            (pl.col("revenue") - pl.col("refunds")).alias("net_revenue"),
            pl.col("revenue").round(6),
            pl.col("refunds").round(6),
            pl.col("non_product_amount").round(6),
        )
        .with_columns(pl.col("net_revenue").round(6))
        .sort("customer_id")
    )
    return out.select(SCHEMA.names)


def unattributed_lines(orders: pl.DataFrame | pl.LazyFrame) -> int:
    """Order lines without a customer id (they cannot be attributed; reported as metadata)."""
    if isinstance(orders, pl.LazyFrame):
        return int(orders.filter(pl.col("customer_id").is_null()).select(pl.len()).collect().item())
    return orders.filter(pl.col("customer_id").is_null()).height if orders.height else 0


def summarize_orders_spark(orders: Any, F: ModuleType) -> Any:  # noqa: N803 - pyspark's usual name
    """:func:`summarize_orders` on a Spark DataFrame (classic or Spark Connect; ``F`` is the matching
    ``pyspark.sql.functions`` module): the same rows, for the engine to collect and cast to :data:`SCHEMA`."""
    cols = set(orders.columns)
    if "is_cancellation" not in cols:
        orders = orders.withColumn("is_cancellation", F.lit(False))
    if "is_product" not in cols:
        orders = orders.withColumn("is_product", F.lit(True))
    if "line_amount" not in cols:
        orders = orders.withColumn("line_amount", F.col("quantity") * F.col("unit_price"))
    sale = ~F.col("is_cancellation") & F.col("is_product")
    ret = F.col("is_cancellation") & F.col("is_product")

    def total(cond: Any, col: str) -> Any:
        return F.coalesce(F.sum(F.when(cond, F.col(col))), F.lit(0))

    out = (
        orders.filter(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.countDistinct(F.when(sale, F.col("order_id"))).cast("long").alias("orders"),
            total(sale, "quantity").cast("long").alias("items"),
            total(sale, "line_amount").cast("double").alias("revenue"),
            F.countDistinct(F.when(sale, F.col("product_id"))).cast("long").alias("distinct_products"),
            F.countDistinct(F.when(F.col("is_cancellation"), F.col("order_id")))
            .cast("long")
            .alias("return_orders"),
            (-total(ret, "quantity")).cast("long").alias("returned_items"),
            (-total(ret, "line_amount")).cast("double").alias("refunds"),
            total(~F.col("is_product"), "line_amount").cast("double").alias("non_product_amount"),
            F.min("order_ts").alias("first_order_ts"),
            F.max("order_ts").alias("last_order_ts"),
        )
        .withColumn("net_revenue", F.round(F.col("revenue") - F.col("refunds"), 6))
        .withColumn("revenue", F.round("revenue", 6))
        .withColumn("refunds", F.round("refunds", 6))
        .withColumn("non_product_amount", F.round("non_product_amount", 6))
        .orderBy("customer_id")
    )
    return out.select(*SCHEMA.names)


# Order lines summarized at a time (about 0.45 GB at the peak): larger days are summarized in slices of
# customers (a hash of customer_id), each slice read from the version on its own.
SLICE_ROWS = 4_000_000


def _build(inputs: Mapping[str, pl.LazyFrame]) -> tuple[pl.DataFrame, dict[str, Any]]:
    orders = inputs["orders"].lazy()
    rows = int(orders.select(pl.len()).collect().item())
    slices = max(1, -(-rows // SLICE_ROWS))
    if slices == 1:
        summary = summarize_orders(orders).collect()
    else:  # every customer's lines are in one slice, so each slice's rows are final
        bucket = pl.col("customer_id").hash(seed=0) % slices
        parts = [summarize_orders(orders.filter(bucket == k)).collect() for k in range(slices)]
        summary = pl.concat(parts).sort("customer_id")
    return summary, {"order_lines_without_customer": unattributed_lines(orders)}


def _build_spark(inputs: Mapping[str, Any], F: ModuleType) -> tuple[Any, dict[str, Any]]:  # noqa: N803
    orders = inputs["orders"]
    unattributed = orders.filter(F.col("customer_id").isNull()).count()
    return summarize_orders_spark(orders, F), {"order_lines_without_customer": int(unattributed)}


ORDER_SUMMARY = Feature(
    name="order_summary",
    reads=("orders",),
    schema=SCHEMA,
    sort_by=("customer_id",),
    description="Per customer per day: orders, items, revenue, returns (see the column table in the docs).",
    build=_build,
    build_spark=_build_spark,
    columns={"orders": INPUT_COLUMNS},
    lazy=True,
)
