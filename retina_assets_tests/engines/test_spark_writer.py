"""Spark executors write a version's parts (of one output, or of several in one pass); the driver commits them
as one deterministic multi-part version."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retina_assets.engines.spark_writer import lay_out, parts_for_rows, write_parts, write_split_parts
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import VersionedStore

SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("line", pa.int64()), ("amount", pa.float64()), ("at", pa.timestamp("us"))]
)


def _table(rows: int) -> pa.Table:
    return pa.table(
        {
            "customer_id": [i % 97 for i in range(rows)],
            "line": list(range(rows)),
            "amount": [i / 4 for i in range(rows)],
            "at": pa.array([i * 1_000_000 for i in range(rows)], pa.timestamp("us")),
        },
        schema=SCHEMA,
    )


def _commit(store: VersionedStore, staged):
    return store.commit_parts(
        "validated", "demo", "orders", "2011-01-04", staged.parts, schema=staged.schema,
        staging_area=staged.staging_area,
    )  # fmt: skip


@pytest.mark.parametrize("spark_partitions", [1, 3])
def test_executors_write_the_same_parts_whatever_the_input_partitioning(
    tmp_path, spark_local, spark_partitions
):
    table = _table(5_000)
    store = VersionedStore(str(tmp_path))
    frame = spark_local.createDataFrame(table.to_pandas()).repartition(spark_partitions)
    staged = write_parts(
        frame, str(tmp_path), SCHEMA, parts=4, key_columns=["customer_id"], sort_columns=["line"]
    )
    assert [p.index for p in staged.parts] == [0, 1, 2, 3]
    version = _commit(store, staged)
    read = DatasetRef(version.path, version.content_hash).to_arrow()
    assert read.schema == SCHEMA
    assert read.sort_by("line").equals(table)
    # each part holds whole keys, sorted by the sort column
    for part in version.parts:
        rows = DatasetRef(f"{version.path}/{part['name']}").to_arrow()
        assert rows.column("line").to_pylist() == sorted(rows.column("line").to_pylist())

    again = write_parts(
        spark_local.createDataFrame(table.to_pandas()).repartition(5), str(tmp_path), SCHEMA, parts=4,
        key_columns=["customer_id"], sort_columns=["line"],
    )  # fmt: skip
    assert _commit(store, again).deduplicated
    assert not any((tmp_path / "_staging").iterdir())


def test_an_empty_frame_is_one_empty_part(tmp_path, spark_local):
    frame = spark_local.createDataFrame(_table(10).to_pandas()).limit(0)
    staged = write_parts(
        frame, str(tmp_path), SCHEMA, parts=3, key_columns=["customer_id"], sort_columns=["line"]
    )
    version = _commit(VersionedStore(str(tmp_path)), staged)
    assert version.row_count == 0 and len(version.parts) == 1
    assert DatasetRef(version.path, version.content_hash).to_arrow().schema == SCHEMA


def test_parts_follow_the_rows_not_the_cluster():
    assert parts_for_rows(0) == 1
    assert parts_for_rows(4_000_000) == 1
    assert parts_for_rows(4_000_001) == 2
    assert parts_for_rows(10**12) == 256


def _split_by_parity(window: pa.Table) -> tuple[dict[str, pa.Table], dict[str, int]]:
    even = pc.equal(pc.bit_wise_and(window.column("line"), 1), 0)
    return (
        {"even": window.filter(even), "odd": window.filter(pc.invert(even)), "none": window.slice(0, 0)},
        {"rows": window.num_rows},
    )


def test_one_pass_writes_several_outputs_a_window_at_a_time(tmp_path, spark_local):
    table = _table(3_000)
    store = VersionedStore(str(tmp_path))
    versions = []
    for spark_partitions in (1, 4):
        frame = spark_local.createDataFrame(table.to_pandas()).repartition(spark_partitions)
        written = write_split_parts(
            lay_out(frame, ["customer_id"], 3), str(tmp_path), SCHEMA.names,
            {"even": SCHEMA, "odd": SCHEMA, "none": SCHEMA}, _split_by_parity,
            sort_columns=["line"], window_rows=200,
        )  # fmt: skip
        # the split function saw every row once, never more than a window at a time
        assert sum(n["rows"] for n in written.notes) == 3_000
        assert max(n["rows"] for n in written.notes) == 200
        assert [p.index for p in written.outputs["even"].parts] == [0, 1, 2]
        assert written.outputs["none"].parts[0].row_count == 0  # no rows anywhere: one empty part
        versions.append(
            {
                name: store.commit_parts(
                    "validated",
                    "demo",
                    name,
                    "2011-01-04",
                    staged.parts,
                    schema=staged.schema,
                    staging_area=staged.staging_area,
                )  # fmt: skip
                for name, staged in written.outputs.items()
            }
        )
        written.discard()
    first, again = versions
    assert again["even"].deduplicated and again["odd"].content_hash == first["odd"].content_hash
    read = DatasetRef(first["odd"].path, first["odd"].content_hash).to_arrow()
    assert read.sort_by("line").equals(table.filter(pc.equal(pc.bit_wise_and(table.column("line"), 1), 1)))
    assert not any((tmp_path / "_staging").iterdir())


def test_parts_keyed_by_a_column_the_output_does_not_keep(tmp_path, spark_local):
    table = _table(200)
    out = pa.schema([SCHEMA.field("line"), SCHEMA.field("amount")])
    staged = write_parts(
        spark_local.createDataFrame(table.to_pandas()), str(tmp_path), out, parts=2,
        key_columns=["customer_id"], sort_columns=["line"],
    )  # fmt: skip
    version = _commit(VersionedStore(str(tmp_path)), staged)
    read = DatasetRef(version.path, version.content_hash).to_arrow()
    assert read.schema == out and read.sort_by("line").equals(table.select(out.names))
