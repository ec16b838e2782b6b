"""The example clients (different formats and shapes) each flow raw -> validated -> features; the demo
command writes every example client's drops, and a multi-dataset client's sensor runs only the dataset that
was dropped."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retina_assets.catalog import load_clients
from retina_assets.definitions import build_definitions
from retina_assets.defs.client import build_client_definitions
from retina_assets.demo import write_example_drops
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.filesystem import sha256_file
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.runs import materializations

# client, orders dataset, partition, canonical types the validated orders must have
CASES = [
    ("completejourney", "transactions", "2017-01-02"),
    ("cdnow", "purchases", "1997-01-02"),
]


def materialize(env: LakeEnv, instance: dg.DagsterInstance, keys: list[str], partition: str) -> dict:
    """``dg.materialize`` the client's assets (from its spec) for ``keys`` and one partition."""
    client = keys[0].split("/")[0]
    spec = next(s for s in load_clients(env.clients_dir) if s.client == client)
    assets = build_client_definitions(spec).assets
    resources = build_definitions(env.settings).resources
    result = dg.materialize(
        assets, partition_key=partition, instance=instance, resources=resources, selection=keys
    )
    assert result.success
    return materializations(result)


@pytest.mark.parametrize(("client", "dataset", "partition"), CASES)
def test_example_client_flows_end_to_end(
    lake_env: LakeEnv, instance: dg.DagsterInstance, client: str, dataset: str, partition: str
) -> None:
    drops = write_example_drops(lake_env.landing, days=3, clients=(client,), sample=True)[client]
    before = {p: sha256_file(str(p)) for p in drops}
    keys = [f"{client}/raw_{dataset}", f"{client}/validated_{dataset}", f"{client}/rejected_{dataset}"]
    meta = materialize(lake_env, instance, [*keys, f"{client}/order_summary"], partition)
    raw, valid, rejected, summary = (meta[k] for k in [*keys, f"{client}/order_summary"])
    assert raw["row_count"] > 100
    assert raw["row_count"] == valid["row_count"] + rejected["row_count"]
    assert valid["row_count"] > 0.9 * raw["row_count"]
    assert summary["input_paths"] == [valid["path"]]
    schema = pq.read_schema(valid["path"])
    assert schema.field("quantity").type == pa.int64()
    assert schema.field("unit_price").type == pa.float64()
    assert schema.field("order_ts").type == pa.timestamp("us")
    assert schema.field("customer_id").type == pa.string()
    table = pq.read_table(valid["path"])
    assert table.column("order_ts").to_pylist()[0].date().isoformat() == partition
    feature = pq.read_table(
        lake_env.lake / f"features/{client}/order_summary/as_of_date={partition}/part-0.parquet"
    )
    assert feature.num_rows > 0
    assert abs(
        sum(feature.column("revenue").to_pylist())
        - sum(
            q * p
            for q, p in zip(
                table.column("quantity").to_pylist(), table.column("unit_price").to_pylist(), strict=True
            )
            if q > 0
        )
    ) < 0.01 * max(1.0, sum(feature.column("revenue").to_pylist()))
    assert {p: sha256_file(str(p)) for p in drops} == before  # drops never altered


def test_completejourney_products_xlsx_flows_to_validated(
    lake_env: LakeEnv, instance: dg.DagsterInstance
) -> None:
    write_example_drops(lake_env.landing, days=1, clients=("completejourney",), sample=True)
    keys = [
        "completejourney/raw_products",
        "completejourney/validated_products",
        "completejourney/rejected_products",
    ]
    meta = materialize(lake_env, instance, keys, "2017-01-01")
    raw, valid = meta[keys[0]], meta[keys[1]]
    assert raw["row_count"] == valid["row_count"] + meta[keys[2]]["row_count"]
    assert valid["row_count"] > 500
    table = pq.read_table(valid["path"])
    assert {"product_id", "category", "description", "department"} <= set(table.column_names)
    ids = table.column("product_id").to_pylist()
    assert len(ids) == len(set(ids)) and all(i.isdigit() for i in ids)


def test_cdnow_keeps_zero_padded_customer_ids(lake_env: LakeEnv, instance: dg.DagsterInstance) -> None:
    write_example_drops(lake_env.landing, days=1, clients=("cdnow",), sample=True)
    keys = ["cdnow/raw_purchases", "cdnow/validated_purchases", "cdnow/rejected_purchases"]
    meta = materialize(lake_env, instance, keys, "1997-01-01")
    ids = pq.read_table(meta[keys[1]]["path"]).column("customer_id").to_pylist()
    assert "00001" in ids and all(len(i) == 5 for i in ids)


def test_demo_command_writes_every_example_client(tmp_path: Path) -> None:
    from retina_assets.demo import main

    main(["--landing", str(tmp_path), "--days", "2", "--sample"])
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "orders_20101201.csv",
        "orders_20101202.csv",
    ]
    cj = sorted(p.name for p in (tmp_path / "completejourney").iterdir())
    assert cj == ["products_20170101.xlsx", "transactions_2017-01-01.jsonl", "transactions_2017-01-02.jsonl"]
    cd = sorted(p.name for p in (tmp_path / "cdnow").iterdir())
    assert cd == [
        "CDNOW_19970101.txt",
        "CDNOW_19970101.txt.done",
        "CDNOW_19970102.txt",
        "CDNOW_19970102.txt.done",
    ]


def test_sensor_runs_only_the_dropped_dataset_of_a_multi_dataset_client(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """completejourney sends products once and transactions daily: each drop's run selects only the
    assets of its own dataset (plus features fed by orders), never an asset whose drop did not arrive."""
    clients_dir = tmp_path / "clients"
    clients_dir.mkdir()
    text = (REPO_ROOT / "clients" / "completejourney.yaml").read_text()
    (clients_dir / "completejourney.yaml").write_text(text.replace("quiet_seconds: 5", "quiet_seconds: 0"))
    landing = tmp_path / "landing"
    write_example_drops(landing, days=2, clients=("completejourney",), sample=True)
    settings = LakeEnv(tmp_path / "lake", landing, clients_dir).settings
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("completejourney_drop_sensor")
    resources = {"landing": defs.resources["landing"], "lake": defs.resources["lake"]}
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        first = sensor(ctx)
        ctx.update_cursor(first.cursor)
        second = sensor(ctx)
    # a quiet period of 0 s: files are complete on the first tick (by their last-modified time)
    run_requests = [*(first.run_requests or []), *(second.run_requests or [])]
    requests = {(r.partition_key, tuple(k.to_user_string() for k in r.asset_selection)) for r in run_requests}
    tx = ("completejourney/raw_transactions", "completejourney/validated_transactions",
          "completejourney/rejected_transactions", "completejourney/order_summary",
          "completejourney/customer_rfm")  # fmt: skip
    products = ("completejourney/raw_products", "completejourney/validated_products",
                "completejourney/rejected_products")  # fmt: skip
    assert requests == {("2017-01-01", tx), ("2017-01-02", tx), ("2017-01-01", products)}
