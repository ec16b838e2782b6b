"""The ``order_summary`` computation on Spark; same rows and types as :func:`summarize_orders` (polars)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from retina_assets.engines.spark import functions_for, to_arrow
from retina_assets.features.order_summary import SCHEMA


def summarize_orders_spark(orders: Any) -> Any:
    """Spark DataFrame of the per-customer daily summary of one day's validated orders (a Spark DataFrame).

    Works on classic and Spark Connect DataFrames alike (functions come from :func:`functions_for`).
    """
    F = functions_for(orders)  # noqa: N806

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


def summarize_orders_on_spark(spark: Any, orders_uri: str) -> tuple[pa.Table, int]:
    """Read one validated-orders version with Spark and summarize it there.

    Returns the summary as Arrow (exactly :data:`SCHEMA`, sorted by ``customer_id``) and the number of
    order lines without a customer id (not attributable, reported as metadata).
    """
    orders = spark.read.parquet(orders_uri)
    F = functions_for(orders)  # noqa: N806
    unattributed = orders.filter(F.col("customer_id").isNull()).count()
    table = to_arrow(summarize_orders_spark(orders), SCHEMA)
    return table.sort_by("customer_id"), int(unattributed)
