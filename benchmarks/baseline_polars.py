"""An independent polars pipeline for the demo client's orders: drop -> validated + rejected -> order_summary.

Written from the rule descriptions (``clients/demo.yaml``, the ``orders`` contract in docs/data-quality.md and
the ``order_summary`` column table), not by calling the project: it is the benchmark's whole-pipeline baseline
and, through ``retina_assets_tests/e2e/test_baselines_agree.py``, a second opinion on the project's rows.

Usage: ``python -m benchmarks.baseline_polars CSV SOURCE_URI OUT_DIR`` writes ``validated.parquet``,
``rejected.parquet`` and ``order_summary.parquet`` to ``OUT_DIR`` and prints ``RESULT {json}`` with the
seconds of each stage. Values that do not parse stop the run (the generated drops have none).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

KEY = ["order_id", "product_id", "quantity", "unit_price", "order_ts", "customer_id"]
NON_PRODUCT = ["POST", "D", "C2", "DOT", "M", "m", "BANK CHARGES", "S", "AMAZONFEE", "PADS", "B", "CRUK"]
# (column, rule, broken-expression) in the contract's column order
LENGTH = {"order_id": 64, "product_id": 64, "description": 500, "customer_id": 64, "country": 64}


def to_utf8(csv: str, out: Path) -> str:
    """The drop re-encoded from Latin-1 to UTF-8 (polars reads only UTF-8; ``utf8-lossy`` would replace
    bytes such as ``£`` instead of decoding them)."""
    target = out / "drop.utf8.csv"
    with open(csv, "rb") as src, open(target, "wb") as dst:
        while block := src.read(16 << 20):
            dst.write(block.decode("latin-1").encode("utf-8"))
    return str(target)


def read_drop(csv: str, source_uri: str) -> pl.LazyFrame:
    schema = {c: pl.String for c in ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                      "UnitPrice", "CustomerID", "Country"]}  # fmt: skip
    schema |= {"Quantity": pl.Int64, "UnitPrice": pl.Float64}
    raw = pl.scan_csv(csv, separator=";", decimal_comma=True, schema=schema,
                      row_index_name="_source_row", row_index_offset=1)  # fmt: skip
    return raw.select(
        pl.col("InvoiceNo").alias("order_id"),
        pl.col("StockCode").alias("product_id"),
        pl.col("Description").alias("description"),
        pl.col("Quantity").alias("quantity"),
        pl.col("InvoiceDate").str.strptime(pl.Datetime("us"), "%d/%m/%Y %H:%M").alias("order_ts"),
        pl.col("UnitPrice").alias("unit_price"),
        pl.col("CustomerID").alias("customer_id"),
        pl.col("Country").alias("country"),
        pl.lit(source_uri).alias("_source_file"),
        pl.col("_source_row").cast(pl.Int64),
    )


def _repr(column: str, kind: str) -> pl.Expr:
    c = pl.col(column)
    if kind == "text":
        return pl.when(c.is_null()).then(pl.lit("None")).otherwise(pl.lit("'") + c + pl.lit("'"))
    if kind == "time":
        text = c.dt.strftime("%Y-%m-%d %H:%M:%S")
        return pl.when(c.is_null()).then(pl.lit("nan")).otherwise(pl.lit("Timestamp('") + text + pl.lit("')"))
    if kind == "float":
        return c.map_elements(repr, return_dtype=pl.String).fill_null("nan")
    return c.cast(pl.String).fill_null("nan")


def rules() -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(code, broken, reason) in the project's code order."""
    inv, qty, price = pl.col("order_id").fill_null(""), pl.col("quantity"), pl.col("unit_price")
    out = [
        ("non_sale_document", inv.str.starts_with("A"), pl.lit("order id starts with 'A': not a sale")),
        ("negative_quantity_not_cancellation", (qty < 0) & ~inv.str.starts_with("C"),
         pl.lit("negative quantity on an order whose id does not start with 'C'")),
        ("cancellation_with_positive_quantity", (qty > 0) & inv.str.starts_with("C"),
         pl.lit("cancellation line with a positive quantity")),
        ("zero_price", price == 0, pl.lit("unit price is 0")),
        ("duplicate_key", ~pl.struct(KEY).is_first_distinct(), pl.lit(f"repeats the key {KEY} of an earlier row")),
    ]  # fmt: skip
    kinds = {"quantity": "int", "order_ts": "time", "unit_price": "float"}
    checks: list[tuple[str, str, pl.Expr]] = []
    for col in ["order_id", "product_id", "description", "quantity", "order_ts", "unit_price", "customer_id",
                "country"]:  # fmt: skip
        c = pl.col(col)
        if col in ("order_id", "product_id", "quantity", "order_ts", "unit_price"):
            checks.append((col, "not_null", c.is_null()))
        if col in LENGTH:
            n = c.str.len_chars()
            checks.append((col, "length", (n < 1) | (n > LENGTH[col])))
        if col == "quantity":
            checks += [(col, "non_zero", c == 0), (col, "plausible_range", c.abs() > 1_000_000)]
        if col == "order_ts":
            checks.append(
                (col, "plausible_date", (c < pl.datetime(1990, 1, 1)) | (c > pl.datetime(2100, 1, 1)))
            )
        if col == "unit_price":
            checks += [(col, "non_negative", c < 0), (col, "plausible_range", c.abs() > 1_000_000)]
    for col, rule, broken in checks:
        shown = _repr(col, kinds.get(col, "text"))
        out.append((f"{col}.{rule}", broken, pl.lit(f"{col}=") + shown + pl.lit(f" fails {rule}")))
    return out


def validate(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    found = rules()
    product = pl.col("product_id").fill_null("")
    rows = rows.with_columns(
        pl.col("order_id").fill_null("").str.starts_with("C").alias("is_cancellation"),
        ~(
            product.is_in(NON_PRODUCT) | product.str.contains("^DCGS") | product.str.contains("^gift_0001_")
        ).alias("is_product"),
        (pl.col("quantity").cast(pl.Float64) * pl.col("unit_price")).alias("line_amount"),
    )
    flags = rows.with_columns(
        [broken.fill_null(False).alias(f"_b{i}") for i, (_, broken, _) in enumerate(found)]
    )
    bad = pl.any_horizontal([pl.col(f"_b{i}") for i in range(len(found))])
    columns = rows.columns
    valid = flags.filter(~bad).select(columns)
    rejected = flags.filter(bad).with_columns(
        pl.concat_str([pl.when(pl.col(f"_b{i}")).then(pl.lit(code)) for i, (code, _, _) in enumerate(found)],
                      separator=",", ignore_nulls=True).alias("_reject_rules"),
        pl.concat_str([pl.when(pl.col(f"_b{i}")).then(reason) for i, (_, _, reason) in enumerate(found)],
                      separator="; ", ignore_nulls=True).alias("_reject_reasons"),
    ).select([*columns, "_reject_rules", "_reject_reasons"])  # fmt: skip
    return valid, rejected


def order_summary(valid: pl.LazyFrame) -> pl.DataFrame:
    sale = ~pl.col("is_cancellation") & pl.col("is_product")
    ret = pl.col("is_cancellation") & pl.col("is_product")
    return (
        valid.filter(pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(
            pl.col("order_id").filter(sale).n_unique().cast(pl.Int64).alias("orders"),
            pl.col("quantity").filter(sale).sum().cast(pl.Int64).alias("items"),
            pl.col("line_amount").filter(sale).sum().alias("revenue"),
            pl.col("product_id").filter(sale).n_unique().cast(pl.Int64).alias("distinct_products"),
            pl.col("order_id").filter(pl.col("is_cancellation")).n_unique().cast(pl.Int64).alias("return_orders"),
            (-pl.col("quantity").filter(ret).sum()).cast(pl.Int64).alias("returned_items"),
            (-pl.col("line_amount").filter(ret).sum()).alias("refunds"),
            pl.col("line_amount").filter(~pl.col("is_product")).sum().alias("non_product_amount"),
            pl.col("order_ts").min().alias("first_order_ts"),
            pl.col("order_ts").max().alias("last_order_ts"),
        )
        .with_columns((pl.col("revenue") - pl.col("refunds")).round(6).alias("net_revenue"),
                      pl.col("revenue").round(6), pl.col("refunds").round(6), pl.col("non_product_amount").round(6))
        .select("customer_id", "orders", "items", "revenue", "distinct_products", "return_orders", "returned_items",
                "refunds", "net_revenue", "non_product_amount", "first_order_ts", "last_order_ts")
        .sort("customer_id")
        .collect(engine="streaming")
    )  # fmt: skip


def main(csv: str, source_uri: str, out_dir: str) -> dict[str, float]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t = time.perf_counter()
    read_drop(to_utf8(csv, out), source_uri).sink_parquet(out / "raw.parquet", compression="zstd")
    times["raw"] = time.perf_counter() - t
    t = time.perf_counter()
    valid, rejected = validate(pl.read_parquet(out / "raw.parquet"))
    valid.write_parquet(out / "validated.parquet", compression="zstd")
    rejected.write_parquet(out / "rejected.parquet", compression="zstd")
    times["validation"] = time.perf_counter() - t
    t = time.perf_counter()
    order_summary(pl.scan_parquet(out / "validated.parquet")).write_parquet(out / "order_summary.parquet")
    times["order_summary"] = time.perf_counter() - t
    return times


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(*sys.argv[1:4])), flush=True)
