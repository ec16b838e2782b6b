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

import dagster as dg
import polars as pl
import pyarrow as pa

from retina_assets.clients.spec import ClientSpec
from retina_assets.engines.choice import EngineConfig
from retina_assets.engines.spark import SparkResource
from retina_assets.quality.gate import require_passed_checks
from retina_assets.storage.dataset_ref import DatasetRef

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


def input_columns(orders: DatasetRef) -> list[str]:
    """The :data:`INPUT_COLUMNS` that the validated version ``orders`` has (read from its footer)."""
    present = set(orders.to_arrow_schema().names)
    return [c for c in INPUT_COLUMNS if c in present]


def summarize_orders(orders: pl.DataFrame) -> pl.DataFrame:
    """Compute the order summary of one day's validated orders (see the module docstring)."""
    if "is_cancellation" not in orders.columns:
        orders = orders.with_columns(pl.lit(False).alias("is_cancellation"))
    if "is_product" not in orders.columns:
        orders = orders.with_columns(pl.lit(True).alias("is_product"))
    if "line_amount" not in orders.columns:
        orders = orders.with_columns((pl.col("quantity") * pl.col("unit_price")).alias("line_amount"))
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


def build_order_summary_asset(
    client: ClientSpec,
    orders_dataset: str,
    partitions_def: dg.PartitionsDefinition,
    automation: dg.AutomationCondition | None,
) -> dg.AssetsDefinition:
    """The ``order_summary`` feature asset of a client, fed by its validated orders."""

    @dg.asset(
        key=[client.client, "order_summary"],
        group_name=client.client,
        partitions_def=partitions_def,
        ins={"orders": dg.AssetIn(key=[client.client, f"validated_{orders_dataset}"])},
        io_manager_key="lake_io_manager",
        kinds={"parquet", "polars", "spark"} if client.engine == "spark" else {"parquet", "polars"},
        automation_condition=automation,
        description=(
            "Per customer per day: orders, items, revenue, returns. Accumulated as a hive dataset: read "
            f"`<lake>/features/{client.client}/order_summary/` to get every day with an `as_of_date` column."
        ),
        metadata={"retina/zone": "features", "retina/dataset": "order_summary"},
    )
    def _order_summary(
        context: dg.AssetExecutionContext, config: EngineConfig, orders: DatasetRef, spark: SparkResource
    ) -> dg.Output[pa.Table]:
        # never build on a validated version whose blocking quality checks failed (issue 4)
        require_passed_checks(context, dg.AssetKey([client.client, f"validated_{orders_dataset}"]))
        # engine switch (issue 6): same schema, path, metadata keys and version rules on both engines
        engine = config.resolve(client)
        if engine == "spark":
            from retina_assets.features.order_summary_spark import summarize_orders_on_spark

            summary, unattributed = summarize_orders_on_spark(spark.session(), orders.uri)
            ran_on = spark.describe()
        else:
            frame = orders.to_polars(columns=input_columns(orders))
            unattributed = frame.filter(pl.col("customer_id").is_null()).height if frame.height else 0
            summary = summarize_orders(frame).to_arrow().cast(SCHEMA)
            ran_on = "in-process (polars)"
        context.log.info(
            f"order_summary [{context.partition_key}] on {ran_on}: {summary.num_rows:,} customers"
        )
        return dg.Output(
            summary,
            metadata={
                "order_lines_without_customer": dg.MetadataValue.int(unattributed),
                "retina/engine": engine,
                "retina/engine_detail": ran_on,
            },
        )

    return _order_summary
