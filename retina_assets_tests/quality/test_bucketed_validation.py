"""Large partitions are validated in key-hash buckets with bounded memory; the result must be exactly that of
validating the whole partition at once: same rows, order, codes, reasons, check figures and file bytes."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from retina_assets.demo import SAMPLE, write_drops
from retina_assets.engines import stages
from retina_assets.model.spec import load_client_spec
from retina_assets.quality import bucketed_validation
from retina_assets.quality.bucketed_validation import validate_in_buckets
from retina_assets.quality.checks import CheckContext, OutcomeSummary, evaluate_checks
from retina_assets.quality.validation import validate_dataset
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import VersionedStore
from retina_assets_tests.support.quality import materialize, spec_env
from retina_assets_tests.support.raw_frames import demo_raw_orders
from retina_assets_tests.support.runs import materializations


def dirty_raw(tmp_path: Path) -> tuple[pd.DataFrame, pa.Table, str]:
    """Ten real demo days plus crafted dirt: unparseable values, a zero quantity and key repeats whose other
    columns differ (they must meet their first occurrence in the same bucket)."""
    raw = demo_raw_orders(SAMPLE)
    resent = raw.iloc[100:160].copy()
    resent["Description"] = resent["Description"].fillna("") + " (re-sent)"
    resent[["_source_file", "_source_row"]] = [["orders_resent.csv", i] for i in range(len(resent))]
    raw = pd.concat([raw, resent], ignore_index=True)
    raw.loc[5, "_raw_errors"] = "Quantity: cannot read x as int64"
    raw.loc[7, "Quantity"] = 0
    table = pa.Table.from_pandas(raw, preserve_index=False)
    errors = table.schema.get_field_index("_raw_errors")
    table = table.set_column(errors, "_raw_errors", table.column(errors).cast(pa.string()))
    path = str(tmp_path / "raw.parquet")
    pq.write_table(table, path)
    return table.to_pandas(), table, path


def test_buckets_give_the_whole_partition_result_to_the_byte(tmp_path: Path) -> None:
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    frame, table, path = dirty_raw(tmp_path)
    ctx = CheckContext(partition="2010-12-10", previous_row_counts=[20_000], previous_partition="2010-12-09")
    whole = validate_dataset(frame, spec)
    assert {"duplicate_key", "unparseable_value", "quantity.non_zero"} <= set(whole.rule_counts)

    result = validate_in_buckets(
        DatasetRef(path, row_count=table.num_rows),
        spec,
        ctx,
        bucket_rows=table.num_rows // 6,
        window_rows=997,
    )
    try:
        assert result.buckets >= 6 and result.windows > 10
        assert result.summary == OutcomeSummary.of(whole, spec, ctx)
        as_dicts = [
            [(r.name, r.passed, r.metadata) for r in evaluate_checks(spec, outcome, ctx)]
            for outcome in (whole, result.summary)
        ]
        assert as_dicts[0] == as_dicts[1]
        store_whole = VersionedStore(str(tmp_path / "whole"))
        store_buckets = VersionedStore(str(tmp_path / "buckets"))
        for zone, frame_out, schema, batches in (
            ("validated", whole.valid, result.valid_schema, result.valid_batches()),
            ("rejected", whole.rejected, result.rejected_schema, result.rejected_batches()),
        ):
            a = store_whole.write(zone, "demo", "orders", "2010-12-10", pa.Table.from_pandas(frame_out))
            b = store_buckets.write(
                zone, "demo", "orders", "2010-12-10", batches, schema=schema, table_layout=True
            )
            assert (b.content_hash, b.row_count) == (a.content_hash, a.row_count), zone
    finally:
        result.close()
    assert not Path(result._workdir).exists()  # working files removed


def test_large_partition_in_the_asset_dedupes_onto_the_whole_partition_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asset switches to buckets above BUCKET_ROWS; with a tiny threshold the same day gives the same
    validated and rejected versions (deduplicated) and the same check results as the one-frame path."""
    env = spec_env(tmp_path, monkeypatch)
    write_drops(env.landing, source=SAMPLE, days=1)
    keys = ("demo/raw_orders", "demo/validated_orders", "demo/rejected_orders")
    with dg.instance_for_test() as instance:
        first = materialize(env, instance, "2010-12-01", *keys)
        monkeypatch.setattr(stages, "BUCKET_ROWS", 500)
        monkeypatch.setattr(bucketed_validation, "WINDOW_ROWS", 300)
        calls: list[int] = []

        def spy(*args: object, **kwargs: object) -> bucketed_validation.BucketedValidation:
            result = validate_in_buckets(*args, **kwargs)  # type: ignore[arg-type]
            calls.append(result.buckets)
            return result

        monkeypatch.setattr(stages, "validate_in_buckets", spy)
        second = materialize(env, instance, "2010-12-01", *keys)
    assert calls and calls[0] >= 4  # the bucketed path ran, with several buckets
    one, many = materializations(first), materializations(second)
    assert one["demo/raw_orders"]["row_count"] > 2_000  # several buckets of 500
    for key in ("demo/validated_orders", "demo/rejected_orders"):
        assert many[key]["path"] == one[key]["path"] and many[key]["deduplicated"] is True
    assert (
        many["demo/validated_orders"]["reject_rule_counts"]
        == one["demo/validated_orders"]["reject_rule_counts"]
    )

    def checks(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, dict]]:
        return {
            e.asset_check_key.name: (e.passed, {k: v.value for k, v in e.metadata.items()})
            for e in result.get_asset_check_evaluations()
        }

    assert checks(second) == checks(first) and len(checks(first)) >= 6


@pytest.mark.parametrize("backend", ["s3", "azure"])
def test_buckets_read_a_raw_version_on_object_storage(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The raw version is fetched from S3 / Azure once and split locally; the result is the local one."""
    from retina_assets.storage.filesystem import filesystem_for
    from retina_assets_tests.support.backends import backend_root

    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    frame, table, path = dirty_raw(tmp_path)
    uri = backend_root(request, backend, tmp_path, "lake") + "/raw.parquet"
    filesystem_for(uri).publish_file(path, uri, replace=False)
    ctx = CheckContext(partition="2010-12-10")
    remote = validate_in_buckets(DatasetRef(uri, row_count=table.num_rows), spec, ctx, bucket_rows=5_000)
    try:
        assert remote.buckets > 1
        assert remote.summary == OutcomeSummary.of(validate_dataset(frame, spec), spec, ctx)
        assert sum(b.num_rows for b in remote.valid_batches()) == remote.summary.validated_rows
    finally:
        remote.close()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_buckets_read_a_multipart_raw_version_as_the_same_rows(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A raw version written as parts (a Spark job's executors) validates exactly as the same rows in one
    file: same summary, same validated and rejected bytes."""
    from retina_assets.storage.versioned_store import stage_part
    from retina_assets_tests.support.backends import backend_root

    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    frame, table, _ = dirty_raw(tmp_path)
    store = VersionedStore(backend_root(request, backend, tmp_path, "lake"))
    area = store.staging_area()
    third = table.num_rows // 3
    slices = [table.slice(0, third), table.slice(third, third), table.slice(2 * third)]
    parts = [stage_part(store.fs, area, i, s.to_batches(), table.schema) for i, s in enumerate(slices)]
    raw = store.commit_parts(
        "raw", "demo", "orders", "2010-12-10", parts, schema=table.schema, staging_area=area
    )
    assert len(raw.parts) == 3
    ctx = CheckContext(partition="2010-12-10")
    ref = DatasetRef(raw.path, raw.content_hash, raw.row_count)
    result = validate_in_buckets(ref, spec, ctx, bucket_rows=table.num_rows // 4, window_rows=2_000)
    try:
        whole = validate_dataset(frame, spec)
        assert result.summary == OutcomeSummary.of(whole, spec, ctx)
        for zone, rows, schema, batches in (
            ("validated", whole.valid, result.valid_schema, result.valid_batches()),
            ("rejected", whole.rejected, result.rejected_schema, result.rejected_batches()),
        ):
            a = store.write(zone, "demo", "orders", "2010-12-10", pa.Table.from_pandas(rows))
            b = store.write(zone, "demo", "orders", "2010-12-10", batches, schema=schema, table_layout=True)
            assert b.deduplicated and b.content_hash == a.content_hash, zone
    finally:
        result.close()
    assert not Path(result._workdir).exists()
