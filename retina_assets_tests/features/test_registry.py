"""A feature is one registration: listing a ``Feature`` in ``FEATURES`` is enough for client specs to name
it, for the Dagster layer to grow its asset from the datasets it reads, for the drop sensor to rebuild it
when one of those datasets gets a drop, and for both engines to run its builders."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import dagster as dg
import polars as pl
import pyarrow as pa
import pytest

from retina_assets.catalog import load_client, spec_errors
from retina_assets.definitions import build_definitions
from retina_assets.defs.sensors import dataset_asset_keys
from retina_assets.demo import SAMPLE
from retina_assets.features import FEATURES, Feature, feature_catalog
from retina_assets.features.registry import build_in_process
from retina_assets.model.spec import load_client_spec
from retina_assets.quality.validation import validate_dataset
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import VersionedStore, stage_part
from retina_assets_tests.support.quality import edit_spec, materialize, spec_env
from retina_assets_tests.support.raw_frames import demo_raw_orders
from retina_assets_tests.support.runs import materializations

LINES_SCHEMA = pa.schema([("order_id", pa.string()), ("lines", pa.int64())])


def _lines(inputs: Mapping[str, pl.DataFrame]) -> tuple[pl.DataFrame, dict[str, Any]]:
    orders = inputs["orders"]
    rows = orders.group_by("order_id").agg(pl.len().cast(pl.Int64).alias("lines"))
    return rows, {"orders_seen": rows.height}


def _lines_spark(inputs: Mapping[str, Any], F: ModuleType) -> tuple[Any, dict[str, Any]]:  # noqa: N803
    rows = inputs["orders"].groupBy("order_id").agg(F.count(F.lit(1)).cast("long").alias("lines"))
    return rows, {}


ORDER_LINES = Feature(
    name="order_lines",
    reads=("orders",),
    schema=LINES_SCHEMA,
    sort_by=("order_id",),
    description="Lines per order.",
    build=_lines,
    build_spark=_lines_spark,
    columns={"orders": ("order_id",)},
)
PRODUCT_COUNT = Feature(
    name="product_count",
    reads=("products",),
    schema=pa.schema([("products", pa.int64())]),
    sort_by=("products",),
    description="Products in the master.",
    build=lambda inputs: (pl.DataFrame({"products": [inputs["products"].height]}), {}),
)


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    for feature in (ORDER_LINES, PRODUCT_COUNT):
        monkeypatch.setitem(FEATURES, feature.name, feature)


def test_every_registered_feature_declares_what_it_reads() -> None:
    assert feature_catalog() == {name: f.reads for name, f in FEATURES.items()}
    assert "order_summary" in FEATURES and FEATURES["order_summary"].reads == ("orders",)


def test_a_registered_feature_becomes_an_asset_fed_by_what_it_reads(
    registered: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retina_assets.demo import SAMPLE, write_drops

    env = spec_env(tmp_path, monkeypatch)
    edit_spec(env, lambda data: data.update(features=["order_summary", "order_lines"]))
    defs = build_definitions(env.settings)
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey(["demo", "order_lines"])
    assert graph.get(key).parent_keys == {dg.AssetKey(["demo", "validated_orders"])}
    write_drops(env.landing, source=SAMPLE, days=1)
    with dg.instance_for_test() as instance:
        result = materialize(
            env,
            instance,
            "2010-12-01",
            "demo/raw_orders",
            "demo/validated_orders",
            "demo/rejected_orders",
            "demo/order_lines",
        )
        assert result.success
    meta = materializations(result)["demo/order_lines"]
    table = VersionedStore(str(env.lake)).read_table(meta["path"])
    assert table.schema.equals(LINES_SCHEMA)
    assert table.column("order_id").to_pylist() == sorted(table.column("order_id").to_pylist())
    assert meta["orders_seen"] == table.num_rows > 0
    assert meta["path"].startswith(f"{env.lake}/_versions/features/demo/order_lines/")


def test_the_drop_sensor_rebuilds_a_feature_only_for_the_datasets_it_reads(registered: None) -> None:
    spec = load_client(REPO_ROOT / "clients" / "completejourney.yaml")
    spec = spec.model_copy(update={"features": ["order_summary", "order_lines", "product_count"]})
    on_transactions = {k.to_user_string() for k in dataset_asset_keys(spec, "transactions")}
    on_products = {k.to_user_string() for k in dataset_asset_keys(spec, "products")}
    assert {"completejourney/order_summary", "completejourney/order_lines"} <= on_transactions
    assert "completejourney/product_count" not in on_transactions
    assert "completejourney/product_count" in on_products
    assert "completejourney/order_summary" not in on_products


def test_specs_accept_registered_features_and_refuse_others(registered: None, tmp_path: Path) -> None:
    folder = tmp_path / "clients"
    folder.mkdir()
    demo = (REPO_ROOT / "clients" / "demo.yaml").read_text()
    (folder / "demo.yaml").write_text(
        demo.replace("features: [order_summary, customer_rfm]", "features: [order_lines]")
    )
    (folder / "unknown.yaml").write_text(
        demo.replace("client: demo", "client: unknown").replace(
            "features: [order_summary, customer_rfm]", "features: [churn]"
        )
    )
    (folder / "nomaster.yaml").write_text(
        demo.replace("client: demo", "client: nomaster").replace(
            "features: [order_summary, customer_rfm]", "features: [product_count]"
        )
    )
    problems = {(Path(e.file).stem, e.field): e.problem for e in spec_errors(folder)}
    assert set(problems) == {("unknown", "features"), ("nomaster", "<root>")}
    assert "unknown feature(s) ['churn']" in problems[("unknown", "features")]
    assert "order_lines" in problems[("unknown", "features")]  # the message lists what is registered
    assert "needs a dataset with canonical: products" in problems[("nomaster", "<root>")]


def test_a_lazy_feature_scans_a_multipart_version_as_its_rows(tmp_path: Path) -> None:
    """order_summary (a lazy feature: polars scans its input) built from a validated version written as
    parts gives the table it gives from the same rows in one file."""
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    valid = pa.Table.from_pandas(validate_dataset(demo_raw_orders(SAMPLE), spec).valid, preserve_index=False)
    store = VersionedStore(str(tmp_path / "lake"))
    one = store.write("validated", "demo", "orders", "2010-12-01", valid)
    area = store.staging_area()
    step = valid.num_rows // 3 + 1
    parts = [
        stage_part(store.fs, area, i, valid.slice(i * step, step).to_batches(), valid.schema)
        for i in range(3)
    ]
    split = store.commit_parts(
        "validated", "demo", "orders", "2010-12-02", parts, schema=valid.schema, staging_area=area
    )
    feature = FEATURES["order_summary"]
    assert feature.lazy and len(split.parts) == 3
    from_file, _ = build_in_process(feature, {"orders": DatasetRef(one.path, one.content_hash)})
    from_parts, _ = build_in_process(feature, {"orders": DatasetRef(split.path, split.content_hash)})
    assert from_parts.num_rows > 0 and from_parts.equals(from_file)
