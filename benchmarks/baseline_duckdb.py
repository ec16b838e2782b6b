"""An independent DuckDB SQL pipeline for the demo client's orders: drop -> validated + rejected -> order_summary.

Written from the rule descriptions (``clients/demo.yaml``, the ``orders`` contract in docs/data-quality.md and
the ``order_summary`` column table), not by calling the project; the twin of :mod:`benchmarks.baseline_polars`.

Usage: ``python -m benchmarks.baseline_duckdb CSV SOURCE_URI OUT_DIR`` writes ``raw.parquet``,
``validated.parquet``, ``rejected.parquet`` and ``order_summary.parquet`` and prints ``RESULT {json}`` with
the seconds of each stage.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

KEY = ["order_id", "product_id", "quantity", "unit_price", "order_ts", "customer_id"]
NON_PRODUCT = ["POST", "D", "C2", "DOT", "M", "m", "BANK CHARGES", "S", "AMAZONFEE", "PADS", "B", "CRUK"]
LENGTH = {"order_id": 64, "product_id": 64, "description": 500, "customer_id": 64, "country": 64}
COLUMNS = ["order_id", "product_id", "description", "quantity", "order_ts", "unit_price", "customer_id",
           "country", "_source_file", "_source_row", "is_cancellation", "is_product", "line_amount"]  # fmt: skip


def _shown(column: str) -> str:
    """A value as the project's messages show it (SQL)."""
    if column == "quantity":
        return f"coalesce(CAST({column} AS VARCHAR), 'nan')"
    if column == "unit_price":
        return f"coalesce(CAST({column} AS VARCHAR), 'nan')"
    if column == "order_ts":
        return f"coalesce('Timestamp(''' || strftime({column}, '%Y-%m-%d %H:%M:%S') || ''')', 'nan')"
    return f"coalesce('''' || {column} || '''', 'None')"


def rules() -> list[tuple[str, str, str]]:
    """(code, SQL condition, SQL reason) in the project's code order."""
    inv = "coalesce(order_id, '')"
    key = ", ".join(KEY)
    out = [
        ("non_sale_document", f"starts_with({inv}, 'A')", "'order id starts with ''A'': not a sale'"),
        ("negative_quantity_not_cancellation", f"quantity < 0 AND NOT starts_with({inv}, 'C')",
         "'negative quantity on an order whose id does not start with ''C'''"),
        ("cancellation_with_positive_quantity", f"quantity > 0 AND starts_with({inv}, 'C')",
         "'cancellation line with a positive quantity'"),
        ("zero_price", "unit_price = 0", "'unit price is 0'"),
        ("duplicate_key", f"row_number() OVER (PARTITION BY {key} ORDER BY _source_row) > 1",
         "'repeats the key " + str(KEY).replace("'", "''") + " of an earlier row'"),
    ]  # fmt: skip
    for col in ["order_id", "product_id", "description", "quantity", "order_ts", "unit_price", "customer_id",
                "country"]:  # fmt: skip
        checks = []
        if col in ("order_id", "product_id", "quantity", "order_ts", "unit_price"):
            checks.append(("not_null", f"{col} IS NULL"))
        if col in LENGTH:
            checks.append(("length", f"(length({col}) < 1 OR length({col}) > {LENGTH[col]})"))
        if col == "quantity":
            checks += [("non_zero", "quantity = 0"), ("plausible_range", "abs(quantity) > 1000000")]
        if col == "order_ts":
            checks.append(
                ("plausible_date", "(order_ts < TIMESTAMP '1990-01-01' OR order_ts > TIMESTAMP '2100-01-01')")
            )
        if col == "unit_price":
            checks += [("non_negative", "unit_price < 0"), ("plausible_range", "abs(unit_price) > 1000000")]
        for rule, cond in checks:
            out.append((f"{col}.{rule}", cond, f"'{col}=' || {_shown(col)} || ' fails {rule}'"))
    return out


def main(csv: str, source_uri: str, out_dir: str) -> dict[str, float]:
    import duckdb

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    times: dict[str, float] = {}
    t = time.perf_counter()
    con.execute(f"""COPY (SELECT * FROM read_csv('{csv}', delim=';', header=true, quote='"', encoding='latin-1',
            decimal_separator=',', timestampformat='%d/%m/%Y %H:%M',
            columns={{'InvoiceNo': 'VARCHAR', 'StockCode': 'VARCHAR', 'Description': 'VARCHAR',
                      'Quantity': 'BIGINT', 'InvoiceDate': 'TIMESTAMP', 'UnitPrice': 'DOUBLE',
                      'CustomerID': 'VARCHAR', 'Country': 'VARCHAR'}}))
        TO '{out}/raw.parquet' (FORMAT parquet, COMPRESSION zstd)""")
    times["raw"] = time.perf_counter() - t
    t = time.perf_counter()
    found = rules()
    flags = ",\n".join(f"coalesce({cond}, false) AS _b{i}" for i, (_, cond, _) in enumerate(found))
    codes = ", ".join(f"CASE WHEN _b{i} THEN '{code}' END" for i, (code, _, _) in enumerate(found))
    reasons = ", ".join(f"CASE WHEN _b{i} THEN {reason} END" for i, (_, _, reason) in enumerate(found))
    bad = " OR ".join(f"_b{i}" for i in range(len(found)))
    non_product = ", ".join("'" + c.replace("'", "''") + "'" for c in NON_PRODUCT)
    source = source_uri.replace("'", "''")
    con.execute(f"""CREATE TEMP TABLE flagged AS
        WITH rows AS (
            SELECT InvoiceNo AS order_id, StockCode AS product_id, Description AS description,
                   Quantity AS quantity, InvoiceDate AS order_ts, UnitPrice AS unit_price,
                   CustomerID AS customer_id, Country AS country, '{source}' AS _source_file,
                   CAST(file_row_number + 1 AS BIGINT) AS _source_row,
                   starts_with(coalesce(InvoiceNo, ''), 'C') AS is_cancellation,
                   NOT (coalesce(StockCode, '') IN ({non_product}) OR starts_with(coalesce(StockCode, ''), 'DCGS')
                        OR starts_with(coalesce(StockCode, ''), 'gift_0001_')) AS is_product,
                   CAST(Quantity AS DOUBLE) * UnitPrice AS line_amount
            FROM read_parquet('{out}/raw.parquet', file_row_number=true))
        SELECT *, {flags} FROM rows""")
    cols = ", ".join(COLUMNS)
    con.execute(f"""COPY (SELECT {cols} FROM flagged WHERE NOT ({bad}) ORDER BY _source_row)
        TO '{out}/validated.parquet' (FORMAT parquet, COMPRESSION zstd)""")
    con.execute(f"""COPY (SELECT {cols}, concat_ws(',', {codes}) AS _reject_rules,
                                 concat_ws('; ', {reasons}) AS _reject_reasons
                          FROM flagged WHERE {bad} ORDER BY _source_row)
        TO '{out}/rejected.parquet' (FORMAT parquet, COMPRESSION zstd)""")
    times["validation"] = time.perf_counter() - t
    t = time.perf_counter()
    con.execute(f"""COPY (
        WITH v AS (SELECT *, NOT is_cancellation AND is_product AS sale, is_cancellation AND is_product AS ret
                   FROM read_parquet('{out}/validated.parquet') WHERE customer_id IS NOT NULL),
        s AS (SELECT customer_id,
                CAST(count(DISTINCT order_id) FILTER (WHERE sale) AS BIGINT) AS orders,
                CAST(coalesce(sum(quantity) FILTER (WHERE sale), 0) AS BIGINT) AS items,
                coalesce(sum(line_amount) FILTER (WHERE sale), 0) AS revenue,
                CAST(count(DISTINCT product_id) FILTER (WHERE sale) AS BIGINT) AS distinct_products,
                CAST(count(DISTINCT order_id) FILTER (WHERE is_cancellation) AS BIGINT) AS return_orders,
                CAST(-coalesce(sum(quantity) FILTER (WHERE ret), 0) AS BIGINT) AS returned_items,
                -coalesce(sum(line_amount) FILTER (WHERE ret), 0) AS refunds,
                coalesce(sum(line_amount) FILTER (WHERE NOT is_product), 0) AS non_product_amount,
                min(order_ts) AS first_order_ts, max(order_ts) AS last_order_ts
              FROM v GROUP BY customer_id)
        SELECT customer_id, orders, items, round(revenue, 6) AS revenue, distinct_products, return_orders,
               returned_items, round(refunds, 6) AS refunds, round(revenue - refunds, 6) AS net_revenue,
               round(non_product_amount, 6) AS non_product_amount, first_order_ts, last_order_ts
        FROM s ORDER BY customer_id)
        TO '{out}/order_summary.parquet' (FORMAT parquet)""")
    times["order_summary"] = time.perf_counter() - t
    return times


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(*sys.argv[1:4])), flush=True)
