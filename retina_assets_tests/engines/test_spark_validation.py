"""Validation on Spark gives the same split, rule codes and counts as the in-process path (its outputs are
parts the executors wrote, compared by lineage); the pyspark contract reports a Spark frame's schema
problems."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retina_assets.demo import SAMPLE
from retina_assets.engines.spark_validation import validate_on_spark
from retina_assets.model.contracts import spark_schema_errors
from retina_assets.model.naming import SOURCE_FILE, SOURCE_ROW
from retina_assets.model.spec import DatasetSpec, load_client_spec
from retina_assets.quality.checks import CheckContext, OutcomeSummary
from retina_assets.quality.validation import ValidationOutcome, validate_dataset
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore
from retina_assets_tests.support.raw_frames import demo_raw_orders

pytestmark = pytest.mark.slow


def _codes(frame) -> dict[int, set[str]]:  # type: ignore[no-untyped-def]
    return {
        int(r): set(c.split(",")) for r, c in zip(frame["_source_row"], frame["_reject_rules"], strict=True)
    }


LINEAGE = [(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]


def _on_spark(
    spark, lake: Path, raw: Path | DatasetRef, spec: DatasetSpec, bucket_rows: int
) -> tuple[ValidationOutcome, OutcomeSummary, int, dict[str, DatasetVersion]]:  # type: ignore[no-untyped-def]
    """Validate the raw file on Spark into ``lake``; the committed outputs read back in drop order (as the
    in-process outcome has them), the summary, the number of parts and the committed versions."""
    store = VersionedStore(str(lake))
    ctx = CheckContext("2010-12-03")
    ref = raw if isinstance(raw, DatasetRef) else DatasetRef(str(raw))
    result = validate_on_spark(spark, ref, spec, ctx, store, bucket_rows=bucket_rows)
    try:
        tables, versions = {}, {}
        for zone, staged in (("validated", result.valid), ("rejected", result.rejected)):
            version = store.commit_parts(
                zone, "demo", "orders", "2010-12-03", staged.parts, schema=staged.schema,
                staging_area=staged.staging_area,
            )  # fmt: skip
            tables[zone] = store.read_version(version).sort_by(LINEAGE)
            versions[zone] = version
    finally:
        result.discard()
    summary = result.summary
    outcome = ValidationOutcome(
        tables["validated"], tables["rejected"], summary.raw_rows, spec.canonical, summary.rule_counts,
        summary.schema_errors, summary.dropped_columns,
    )  # fmt: skip
    return outcome, summary, result.parts, versions


def test_spark_and_pandas_agree_on_a_real_day(tmp_path: Path, spark_local) -> None:
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    raw = demo_raw_orders(SAMPLE)
    day = raw[raw["_source_file"] == "orders_20101203.csv"].reset_index(drop=True)
    day.loc[5, "Quantity"] = 0  # add a contract failure and an unparseable value to the real dirt
    day.loc[6, "_raw_errors"] = "Quantity: cannot read x as int64"
    table = pa.Table.from_pandas(day, preserve_index=False)
    path = tmp_path / "raw.parquet"
    pq.write_table(table, path)

    local = validate_dataset(day, spec)
    on_spark, summary, parts, _versions = _on_spark(
        spark_local, tmp_path / "lake", path, spec, bucket_rows=600
    )
    assert parts == 4
    assert summary == OutcomeSummary.of(local, spec, CheckContext("2010-12-03"))
    assert on_spark.valid_table.equals(local.valid_table)
    assert on_spark.rejected_table.equals(local.rejected_table)
    assert on_spark.schema_errors == [] == local.schema_errors
    assert on_spark.rule_counts == local.rule_counts
    assert {"quantity.non_zero", "unparseable_value", "duplicate_key", "zero_price"} <= set(local.rule_counts)
    assert on_spark.reconciles and on_spark.raw_rows == len(day)
    assert _codes(on_spark.rejected) == _codes(local.rejected)
    pd.testing.assert_frame_equal(on_spark.valid, local.valid, check_dtype=False)
    pd.testing.assert_frame_equal(on_spark.rejected, local.rejected, check_dtype=False)


@pytest.mark.parametrize("fraction", [False, True])
def test_a_column_typed_unlike_the_contract_is_judged_the_same(tmp_path: Path, spark_local, fraction) -> None:
    """Quantities stored as doubles: whole numbers pass the contract's int64 (pandera judges the distinct
    values Spark sends the driver), one 1.5 among them fails the schema; both engines say the same."""
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    raw = demo_raw_orders(SAMPLE)
    day = raw[raw["_source_file"] == "orders_20101203.csv"].head(400).reset_index(drop=True)
    day["Quantity"] = day["Quantity"].astype("float64")
    if fraction:
        day.loc[7, "Quantity"] = 1.5
    table = pa.Table.from_pandas(day, preserve_index=False)
    errors = table.schema.get_field_index("_raw_errors")
    table = table.set_column(errors, "_raw_errors", pa.nulls(len(day), pa.string()))
    path = tmp_path / "raw.parquet"
    pq.write_table(table, path)

    local = validate_dataset(table, spec)
    assert bool(local.schema_errors) == fraction
    on_spark, summary, parts, _versions = _on_spark(
        spark_local, tmp_path / "lake", path, spec, bucket_rows=150
    )
    assert parts == 3
    assert summary == OutcomeSummary.of(local, spec, CheckContext("2010-12-03"))
    assert on_spark.valid_table.equals(local.valid_table)
    assert on_spark.rejected_table.equals(local.rejected_table)


def test_pyspark_contract_reports_schema_problems_of_a_spark_frame(spark_local) -> None:
    from pyspark.sql import functions as F  # noqa: N812

    good = spark_local.createDataFrame(
        [("536365", "85123A", 6, "2010-12-01 08:26:00", 2.55, "17850")],
        "order_id string, product_id string, quantity long, order_ts string, unit_price double, "
        "customer_id string",
    ).withColumn("order_ts", F.to_timestamp("order_ts"))
    assert spark_schema_errors(good, "orders") == []
    bad = good.withColumn("quantity", good["quantity"].cast("string")).drop("unit_price")
    text = " ".join(spark_schema_errors(bad, "orders"))
    assert "quantity" in text and "wrong_datatype" in text
    assert "unit_price" in text


def test_spark_client_validates_on_spark_in_the_asset(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spark_local,
) -> None:
    import dagster as dg

    from retina_assets.demo import write_drops
    from retina_assets_tests.support.quality import edit_spec, materialize, spec_env
    from retina_assets_tests.support.runs import materializations

    env = spec_env(tmp_path, monkeypatch)
    write_drops(env.landing, source=SAMPLE, days=1)
    keys = ("demo/raw_orders", "demo/validated_orders", "demo/rejected_orders")
    with dg.instance_for_test() as instance:
        local = materializations(materialize(env, instance, "2010-12-01", *keys))
        edit_spec(env, lambda d: d.update(engine="spark"))
        spark = materializations(materialize(env, instance, "2010-12-01", *keys))
    for key in ("demo/validated_orders", "demo/rejected_orders"):
        assert spark[key]["row_count"] == local[key]["row_count"] > 0
    assert (
        spark["demo/validated_orders"]["reject_rule_counts"]
        == local["demo/validated_orders"]["reject_rule_counts"]
    )
    assert spark["demo/rejected_orders"]["parts"] >= 1 == local["demo/rejected_orders"]["parts"]
    a = pq.read_table(local["demo/rejected_orders"]["path"]).to_pandas()
    b = pq.read_table(spark["demo/rejected_orders"]["path"]).to_pandas()  # a folder of parts
    assert _codes(a) == _codes(b)


def test_asset_spark_validation_finds_key_repeats_whose_other_columns_differ(
    tmp_path: Path,
    spark_local,
) -> None:
    """A re-sent order line whose description changed repeats the contract key but not the whole row: the
    Spark engine the assets use must still see both copies in one task (it once bucketed by every column
    and let such repeats through, unlike the in-process engine)."""
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    assert spec.quality.rules["reject_duplicates"] == "key"
    raw = demo_raw_orders(SAMPLE)
    day = raw[raw["_source_file"] == "orders_20101203.csv"].head(200).reset_index(drop=True)
    resent = day.head(40).copy()
    resent["Description"] = resent["Description"].fillna("") + " (re-sent)"
    resent["_source_row"] = resent["_source_row"] + len(day)
    day = pd.concat([day, resent], ignore_index=True)
    table = pa.Table.from_pandas(day, preserve_index=False)
    errors = table.schema.get_field_index("_raw_errors")  # all-null here: give it the raw stage's type
    table = table.set_column(errors, "_raw_errors", pa.nulls(len(day), pa.string()))
    path = tmp_path / "raw.parquet"
    pq.write_table(table, path, row_group_size=20)  # row groups Spark can read as separate splits

    local = validate_dataset(day, spec)
    on_spark, _summary, parts, first = _on_spark(spark_local, tmp_path / "lake", path, spec, bucket_rows=30)
    assert parts == 8
    # the layout follows the rows, not how Spark splits its input: a re-run read in many small input
    # splits gives the very same parts (so the same versions, deduplicated)
    spark_local.conf.set("spark.sql.files.maxPartitionBytes", "4096")
    try:
        assert spark_local.read.parquet(str(path)).rdd.getNumPartitions() > 1
        _again, _, _, second = _on_spark(spark_local, tmp_path / "lake", path, spec, bucket_rows=30)
    finally:
        spark_local.conf.unset("spark.sql.files.maxPartitionBytes")
    for zone in ("validated", "rejected"):
        assert second[zone].deduplicated and second[zone].content_hash == first[zone].content_hash
    assert local.rule_counts.get("duplicate_key", 0) >= 40
    assert on_spark.rule_counts == local.rule_counts
    assert list(on_spark.rejected["_source_row"]) == list(local.rejected["_source_row"])
    assert list(on_spark.valid["_source_row"]) == list(local.valid["_source_row"])


def test_spark_validates_a_multipart_raw_version_as_its_rows(tmp_path: Path, spark_local) -> None:
    """The Spark engine is given a multi-part raw version's folder (``raw.uri``) and reads it as one
    dataset: the same outcome as validating the same rows in-process."""
    from retina_assets.storage.versioned_store import stage_part

    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    raw = demo_raw_orders(SAMPLE)
    day = raw[raw["_source_file"] == "orders_20101203.csv"].reset_index(drop=True)
    day.loc[5, "Quantity"] = 0  # a contract failure and an unparseable value beside the real dirt
    day.loc[6, "_raw_errors"] = "Quantity: cannot read x as int64"
    table = pa.Table.from_pandas(day, preserve_index=False)
    store = VersionedStore(str(tmp_path / "lake"))
    area = store.staging_area()
    step = table.num_rows // 3 + 1
    parts = [
        stage_part(store.fs, area, i, table.slice(i * step, step).to_batches(), table.schema)
        for i in range(3)
    ]
    version = store.commit_parts(
        "raw", "demo", "orders", "2010-12-03", parts, schema=table.schema, staging_area=area
    )
    ref = DatasetRef(version.path, version.content_hash, version.row_count)
    assert ref.is_multipart and ref.to_arrow_schema() == table.schema
    local = validate_dataset(day, spec)
    on_spark, summary, _parts, _versions = _on_spark(
        spark_local, tmp_path / "out", ref, spec, bucket_rows=600
    )
    assert on_spark.raw_rows == len(day) and on_spark.rule_counts == local.rule_counts
    assert summary == OutcomeSummary.of(local, spec, CheckContext("2010-12-03"))
    pd.testing.assert_frame_equal(on_spark.valid, local.valid, check_dtype=False)
    pd.testing.assert_frame_equal(on_spark.rejected, local.rejected, check_dtype=False)
