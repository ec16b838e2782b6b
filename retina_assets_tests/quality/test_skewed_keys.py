"""A drop where most rows share one key puts them all in one key bucket; that bucket is tallied batch by batch
(memory follows its distinct keys, not its rows) and must still give exactly the whole-partition result."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.demo import SAMPLE
from retina_assets.model.spec import load_client_spec
from retina_assets.quality import validation
from retina_assets.quality.bucketed_validation import validate_in_buckets
from retina_assets.quality.checks import CheckContext, OutcomeSummary
from retina_assets.quality.validation import validate_dataset
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets_tests.support.raw_frames import demo_raw_orders


def test_a_key_most_rows_share_gives_the_whole_partition_result(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    spec = load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets["orders"]
    real = demo_raw_orders(SAMPLE).head(3_000)
    same = pd.concat([real.iloc[[10]]] * 9_000, ignore_index=True)  # one order line sent 9,000 times
    raw = pd.concat([real.head(1_500), same, real.tail(1_500)], ignore_index=True)
    raw["_source_row"] = range(len(raw))
    table = pa.Table.from_pandas(raw, preserve_index=False)
    errors = table.schema.get_field_index("_raw_errors")
    table = table.set_column(errors, "_raw_errors", pa.nulls(len(raw), pa.string()))
    path = str(tmp_path / "raw.parquet")
    pq.write_table(table, path)
    tallied: list[int] = []
    original = validation.KeyTally.add

    def spy(self, frame):  # type: ignore[no-untyped-def]
        tallied.append(frame.height)
        return original(self, frame)

    monkeypatch.setattr(validation.KeyTally, "add", spy)
    ctx = CheckContext(partition="2010-12-01")
    whole = validate_dataset(table, spec)
    result = validate_in_buckets(
        DatasetRef(path, row_count=len(raw)), spec, ctx, bucket_rows=1_000, window_rows=700
    )
    try:
        assert tallied and max(tallied) <= 700  # the swollen bucket was read in batches, not whole
        assert whole.rule_counts["duplicate_key"] >= 8_999
        assert result.summary == OutcomeSummary.of(whole, spec, ctx)
        valid = pa.Table.from_batches(list(result.valid_batches()), schema=result.valid_schema)
        rejected = pa.Table.from_batches(list(result.rejected_batches()), schema=result.rejected_schema)
        assert valid.equals(whole.valid_table) and rejected.equals(whole.rejected_table)
    finally:
        result.close()
