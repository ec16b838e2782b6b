"""Each drop's schema is recorded on the raw materialization, compared with the previous drop of the same
dataset, and the spec's drift policy (accept | warn | fail) decides."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from retina_assets.catalog import load_clients
from retina_assets.definitions import build_definitions
from retina_assets.defs.client import build_client_definitions
from retina_assets.ingestion.drift import compare_schemas
from retina_assets.settings import LakeSettings

SPEC = """\
client: acme
start_date: 2024-01-01
completeness: {{quiet_seconds: 0}}  # drops are written whole before a run starts
datasets:
  orders:
    canonical: orders
    pattern: 'orders_(?P<as_of_date>\\d{{4}}-\\d{{2}}-\\d{{2}})\\.csv'
    columns:
      id:    {{name: order_id}}
      sku:   {{name: product_id}}
      qty:   {{name: quantity, type: int64}}
      price: {{name: unit_price, type: float64}}
      ts:    {{name: order_ts, type: timestamp}}
      note:  {{name: note, required: false}}
      code:  {{name: code, required: false}}
    drift: {policy}
"""

DAY1 = "id,sku,qty,price,ts,note,code\n1,A,2,1.50,2024-01-01 10:00:00,hello,X1\n2,B,1,3.00,2024-01-01 11:00:00,,X2\n"
# 'note' renamed to 'Note', 'code' removed, 'channel' added, 'price' now text
DAY2 = "id,sku,qty,price,ts,Note,channel\n3,A,2,cheap,2024-01-02 10:00:00,hi,web\n4,C,1,free,2024-01-02 12:00:00,,shop\n"
SAME = "id,sku,qty,price,ts,note,code\n5,A,1,2.50,2024-01-03 10:00:00,x,X3\n"


def setup(tmp_path: Path, policy: str) -> LakeSettings:
    clients = tmp_path / "clients"
    landing = tmp_path / "landing" / "acme"
    clients.mkdir()
    landing.mkdir(parents=True)
    (clients / "acme.yaml").write_text(SPEC.format(policy=policy))
    (landing / "orders_2024-01-01.csv").write_text(DAY1)
    (landing / "orders_2024-01-02.csv").write_text(DAY2)
    (landing / "orders_2024-01-03.csv").write_text(SAME)
    return LakeSettings(str(tmp_path / "lake"), str(tmp_path / "landing"), str(clients))


def run_raw(
    settings: LakeSettings, instance: dg.DagsterInstance, partition: str
) -> dg.ExecuteInProcessResult:
    spec = load_clients(settings.clients_dir)[0]
    return dg.materialize(
        build_client_definitions(spec).assets,
        selection=["acme/raw_orders"],
        partition_key=partition,
        instance=instance,
        resources=build_definitions(settings).resources,
        raise_on_error=False,
    )


def raw_metadata(result: dg.ExecuteInProcessResult) -> dict:
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}


EXPECTED_DRIFT = {
    "added": ["channel"],
    "removed": ["code"],
    "renamed": [{"from": "note", "to": "Note"}],
    "retyped": [{"column": "price", "from": "float64", "to": "string"}],
}


def test_first_drop_records_schema_and_has_no_drift(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    meta = raw_metadata(run_raw(setup(tmp_path, "fail"), instance, "2024-01-01"))
    assert meta["drop_schema"] == {
        "id": "int64", "sku": "string", "qty": "int64", "price": "float64", "ts": "string", "note": "string",
        "code": "string",
    }  # fmt: skip
    assert meta["declared_types"]["price"] == "float64"
    assert meta["schema_drift"]["previous_partition"] is None and not meta["schema_drift"]["has_drift"]


@pytest.mark.parametrize("policy", ["accept", "warn"])
def test_drift_is_reported_and_written_under_accept_and_warn(
    tmp_path: Path, instance: dg.DagsterInstance, policy: str
) -> None:
    settings = setup(tmp_path, policy)
    assert run_raw(settings, instance, "2024-01-01").success
    result = run_raw(settings, instance, "2024-01-02")
    assert result.success
    meta = raw_metadata(result)
    drift = meta["schema_drift"]
    assert drift["previous_partition"] == "2024-01-01" and drift["has_drift"] and drift["policy"] == policy
    assert {k: drift[k] for k in EXPECTED_DRIFT} == EXPECTED_DRIFT
    assert "renamed 'note' -> 'Note'" in meta["schema_drift_summary"]
    assert Path(meta["path"]).exists()
    warnings = [
        e.message
        for e in instance.all_logs(result.run_id)
        if e.level == 30 and "schema drift since 2024-01-01" in e.message
    ]
    assert bool(warnings) == (policy == "warn")


def test_drift_fails_under_fail_and_nothing_is_written(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    settings = setup(tmp_path, "fail")
    assert run_raw(settings, instance, "2024-01-01").success
    result = run_raw(settings, instance, "2024-01-02")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "acme/orders [2024-01-02]: schema drift since 2024-01-01" in message
    assert "added ['channel']" in message and "retyped 'price' float64 -> string" in message
    assert "policy is 'fail'" in message
    assert not (Path(settings.lake_uri) / "raw/acme/orders/as_of_date=2024-01-02").exists()
    assert not (Path(settings.lake_uri) / "_commits/raw/acme/orders/as_of_date=2024-01-02").exists()
    assert "2024-01-02" not in instance.get_materialized_partitions(dg.AssetKey(["acme", "raw_orders"]))
    # a drop with the previous drop's schema passes, compared against the last good partition
    ok = run_raw(settings, instance, "2024-01-03")
    assert ok.success
    assert raw_metadata(ok)["schema_drift"]["previous_partition"] == "2024-01-01"


def test_compare_schemas_rules() -> None:
    prev = {"a": "int64", "Unit Price": "float64", "gone": "string", "n": "null"}
    cur = {"a": "float64", "unit_price": "float64", "new": "bool", "n": "string"}
    report = compare_schemas(prev, cur, "2024-01-01")
    assert report.renamed == [{"from": "Unit Price", "to": "unit_price"}]
    assert report.added == ["new"] and report.removed == ["gone"]
    assert report.retyped == []  # int64 -> float64 is a widening, null matches anything
    assert compare_schemas(None, cur).previous_partition is None
    assert not compare_schemas(cur, dict(cur), "x").has_drift
    assert compare_schemas({"a": "int64"}, {"a": "string"}, "x").retyped == [
        {"column": "a", "from": "int64", "to": "string"}
    ]


def test_unreadable_drop_fails_the_raw_step_clearly_and_writes_nothing(
    tmp_path: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drop that breaks mid-stream (a ragged row after many good blocks) fails the raw asset with the
    file name and the reason; the drop is untouched and the lake holds no file for the partition."""
    from retina_assets.ingestion import readers
    from retina_assets.storage.filesystem import sha256_file

    monkeypatch.setattr(readers, "BLOCK_BYTES", 1 << 16)  # many blocks, so the bad row is mid-stream
    settings = setup(tmp_path, "accept")
    drop = Path(settings.landing_uri) / "acme" / "orders_2024-01-01.csv"
    good = "".join(f"{i},A,1,1.50,2024-01-01 10:00:00,n,c\n" for i in range(20_000))
    drop.write_text(DAY1.splitlines()[0] + "\n" + good + "999,A,1\n" + good)
    before = sha256_file(str(drop))
    result = run_raw(settings, instance, "2024-01-01")
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.message
    assert "orders_2024-01-01.csv: cannot read as csv" in message and "Expected 7 columns, got 3" in message
    assert sha256_file(str(drop)) == before
    lake = Path(settings.lake_uri)
    assert [p for p in lake.rglob("*") if p.is_file()] == []
