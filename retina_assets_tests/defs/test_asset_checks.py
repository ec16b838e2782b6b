"""Asset checks on the validated assets: declared per client policy, evaluated per partition, with
volume against earlier drops, freshness, null-rate limits and referential integrity."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.demo import SAMPLE, write_drops
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.landing import settled
from retina_assets_tests.support.quality import (
    check_results,
    edit_spec,
    materialize,
    orders_quality,
    spec_env,
    write_drop,
)
from retina_assets_tests.support.runs import materializations

VALIDATE = ("demo/raw_orders", "demo/validated_orders", "demo/rejected_orders")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    return spec_env(tmp_path, monkeypatch)


def _declared(env: LakeEnv, key: str) -> dict[str, dg.AssetCheckSpec]:
    graph = build_definitions(env.settings).resolve_asset_graph()
    return {
        k.name: graph.get_check_spec(k)
        for k in graph.asset_check_keys
        if k.asset_key == dg.AssetKey.from_user_string(key)
    }


def test_checks_are_declared_from_the_client_policy(env: LakeEnv) -> None:
    declared = _declared(env, "demo/validated_orders")
    assert set(declared) == {
        "reconciliation",
        "schema",
        "reject_fraction",
        "key_unique",
        "null_rate",
        "volume",
        "freshness",
    }  # no referential_integrity: the demo client sends no customers/products
    assert declared["reject_fraction"].blocking and declared["schema"].blocking
    assert not declared["volume"].blocking and not declared["null_rate"].blocking

    def policy(data: dict) -> None:
        q = orders_quality(data)
        q["volume"] = {"severity": "off"}
        q["null_rate"] = {"severity": "error", "threshold": 0.1}
        q["schema"] = {"severity": "warn"}  # YAML alias of schema_conformance

    edit_spec(env, policy)
    declared = _declared(env, "demo/validated_orders")
    assert "volume" not in declared
    assert declared["null_rate"].blocking and not declared["schema"].blocking


def test_checks_are_evaluated_per_partition_with_volume_and_freshness(
    env: LakeEnv, instance: dg.DagsterInstance
) -> None:
    write_drops(env.landing, source=SAMPLE, days=3)  # 2010-12-01 .. 03, ~2,100-3,100 lines each
    for day in ("2010-12-01", "2010-12-02", "2010-12-03"):
        result = materialize(env, instance, day, *VALIDATE)
        assert result.success
        checks = check_results(result)
        assert all(c.partition == day for c in checks.values())
        assert all(c.passed for c in checks.values()), {
            k: c.metadata for k, c in checks.items() if not c.passed
        }
    # a tiny, late drop: 20 lines, six days after the previous one
    from retina_assets.demo import load_source

    lines = load_source(SAMPLE).head(20).to_dict("records")
    write_drop(env, "2010-12-09", lines)
    result = materialize(env, instance, "2010-12-09", *VALIDATE)
    assert result.success  # volume and freshness are warnings for the demo client
    checks = check_results(result)
    volume, freshness = checks["volume"], checks["freshness"]
    assert not volume.passed and volume.severity == dg.AssetCheckSeverity.WARN
    assert volume.metadata["raw_rows"].value == 20
    assert volume.metadata["previous_row_counts"].value == [3108, 2109, 2202]
    assert not freshness.passed and freshness.metadata["days_since_previous_drop"].value == 6
    # the instance keeps each check's result per partition (what the UI shows per as_of_date)
    from dagster._core.event_api import PartitionKeyFilter

    volume_key = dg.AssetCheckKey(dg.AssetKey(["demo", "validated_orders"]), "volume")
    for day, passed in (("2010-12-02", True), ("2010-12-09", False)):
        [record] = instance.event_log_storage.get_asset_check_execution_history(
            volume_key, limit=1, partition_filter=PartitionKeyFilter(key=day)
        )
        evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
        assert evaluation.partition == day and evaluation.passed is passed


def test_null_rate_limits_per_column(env: LakeEnv, instance: dg.DagsterInstance) -> None:
    write_drops(env.landing, source=SAMPLE, days=1)  # 2010-12-01: 37% of lines have no customer id
    result = materialize(env, instance, "2010-12-01", *VALIDATE)
    null_rate = check_results(result)["null_rate"]
    assert null_rate.passed
    rate = null_rate.metadata["null_rates"].value["customer_id"]
    assert 0.3 < rate < 0.4 and null_rate.metadata["limits"].value["customer_id"] == 0.6

    edit_spec(
        env,
        lambda d: orders_quality(d).update(null_rate={"severity": "warn", "columns": {"customer_id": 0.3}}),
    )
    null_rate = check_results(materialize(env, instance, "2010-12-01", *VALIDATE))["null_rate"]
    assert not null_rate.passed and null_rate.metadata["over_limit"].value == {"customer_id": rate}


SHOP = """
client: shop
start_date: 2024-01-01
datasets:
  orders:
    canonical: orders
    pattern: 'orders_(?P<as_of_date>\\d{4}-\\d{2}-\\d{2})\\.csv'
    columns:
      order_id: {}
      product_id: {}
      quantity: {type: int64}
      order_ts: {type: timestamp}
      unit_price: {type: float64}
      customer_id: {required: false}
    quality:
      referential_integrity: {severity: error, threshold: 0.1}
  customers:
    canonical: customers
    pattern: 'customers_(?P<as_of_date>\\d{4}-\\d{2}-\\d{2})\\.csv'
    columns: {customer_id: {}, email: {required: false}, status: {required: false}}
  products:
    canonical: products
    pattern: 'products_(?P<as_of_date>\\d{4}-\\d{2}-\\d{2})\\.csv'
    columns: {product_id: {}, unit_price: {type: float64, required: false}}
features: [order_summary]
"""


def test_referential_integrity_and_master_data_contracts(env: LakeEnv, instance: dg.DagsterInstance) -> None:
    (env.clients_dir / "shop.yaml").write_text(SHOP)
    land = env.landing / "shop"
    land.mkdir()
    (land / "customers_2024-01-02.csv").write_text(
        "customer_id,email,status\nc1,a@x.org,active\nc2,b@x.org,closed\nc3,not-an-email,active\n"
        "c4,d@x.org,gone\nc5,e@x.org,active\nc5,e2@x.org,active\n"
    )
    (land / "products_2024-01-02.csv").write_text("product_id,unit_price\np1,1.5\np2,2.0\np3,-1\n")
    (land / "orders_2024-01-02.csv").write_text(
        "order_id,product_id,quantity,order_ts,unit_price,customer_id\n"
        "o1,p1,1,2024-01-02 10:00:00,1.5,c1\no1,p2,2,2024-01-02 10:00:00,2.0,c1\n"
        "o2,p1,1,2024-01-02 11:00:00,1.5,c9\no3,p8,1,2024-01-02 12:00:00,3.0,c2\n"
    )
    settled(*land.iterdir())
    # orders validated before any customers/products exist: the check cannot pass
    early = materialize(
        env, instance, "2024-01-02", "shop/raw_orders", "shop/validated_orders", "shop/rejected_orders"
    )
    ri = check_results(early)["referential_integrity"]
    assert not ri.passed and "no validated partition" in str(ri.metadata["references"].value)

    keys = [f"shop/{z}_{d}" for d in ("customers", "products") for z in ("raw", "validated", "rejected")]
    master = materialize(env, instance, "2024-01-02", *keys)
    meta = materializations(master)
    import pyarrow.parquet as pq

    rejected = pq.read_table(meta["shop/rejected_customers"]["path"]).to_pandas()
    assert sorted(zip(rejected["customer_id"], rejected["_reject_rules"], strict=True)) == [
        ("c3", "email.pattern"),
        ("c4", "status.allowed_values"),
        ("c5", "customer_id.unique"),
        ("c5", "customer_id.unique"),
    ]
    assert meta["shop/validated_customers"]["row_count"] == 2  # c1, c2 (both c5 rows are ambiguous)
    assert pq.read_table(meta["shop/rejected_products"]["path"]).column("_reject_rules").to_pylist() == [
        "unit_price.non_negative"
    ]

    result = materialize(
        env, instance, "2024-01-02", "shop/raw_orders", "shop/validated_orders", "shop/rejected_orders"
    )
    ri = check_results(result)["referential_integrity"]
    refs = ri.metadata["references"].value
    assert not ri.passed and ri.severity == dg.AssetCheckSeverity.ERROR
    assert refs["customer_id"]["orphan_rows"] == 1 and refs["customer_id"]["examples"] == ["c9"]
    assert refs["product_id"]["orphan_rows"] == 1 and refs["product_id"]["examples"] == ["p8"]
    assert materializations(result)["shop/validated_orders"]["failed_blocking_checks"] == [
        "referential_integrity"
    ]


def test_raw_assets_carry_a_freshness_policy_for_drops_that_never_come() -> None:
    """The freshness check only runs when a drop arrives; the raw asset's Dagster freshness policy (evaluated
    by the daemon, shown in the UI) covers the missing drop, with the client's own threshold."""
    from datetime import timedelta

    from retina_assets.definitions import build_definitions
    from retina_assets.settings import REPO_ROOT, LakeSettings

    defs = build_definitions(
        LakeSettings("/tmp/unused-lake", "/tmp/unused-landing", str(REPO_ROOT / "clients"))
    )
    graph = defs.resolve_asset_graph()

    def policy_of(key: str) -> dg.FreshnessPolicy | None:
        return graph.get(dg.AssetKey.from_user_string(key)).freshness_policy

    demo = policy_of("demo/raw_orders")  # demo.yaml: freshness_days threshold 4 (no Saturday trading)
    assert demo is not None
    assert (demo.warn_window.to_timedelta(), demo.fail_window.to_timedelta()) == (
        timedelta(days=4),
        timedelta(days=5),
    )
    cdnow = policy_of("cdnow/raw_purchases")  # default threshold: 3 days
    assert cdnow is not None and cdnow.fail_window.to_timedelta() == timedelta(days=4)
    assert policy_of("completejourney/raw_products") is None  # master data: check switched off
    assert policy_of("demo/validated_orders") is None  # only raw assets: downstream follows the drops
