"""Raw conversion on Spark gives the in-process raw rows, row for row and type for type (values, lineage,
``_raw_errors``), on the example clients' real drops and on dirty ones; bad drops fail naming the file;
formats Spark does not read stay in-process and say why; the raw asset of an ``engine: spark`` client
writes a multi-part version that ``verify`` rebuilds on Spark to the same hash."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pytest
import yaml

from retina_assets.definitions import build_definitions
from retina_assets.demo import FULL, load_source, to_client_format
from retina_assets.engines.spark_raw import convert_partition_on_spark, scan_records
from retina_assets.example_clients import write_cdnow_drops, write_completejourney_drops
from retina_assets.ingestion.raw_conversion import SCHEMA_SAMPLE_ROWS
from retina_assets.ingestion.raw_stage import RawPartition, convert_partition
from retina_assets.ingestion.readers import DropReadError
from retina_assets.model.spec import ClientSpec, load_client_spec
from retina_assets.settings import REPO_ROOT, LakeSettings
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.filesystem import filesystem_for
from retina_assets.storage.versioned_store import StagedVersion, VersionedStore
from retina_assets.verify import IDENTICAL, verify
from retina_assets_tests.support.runs import materializations

pytestmark = pytest.mark.timeout(600)
SPARK = pytest.mark.slow  # the tests that start Spark
LONG_AGO = 1_000_000_000  # a delivery time past every completeness quiet period


def _in_process(landing: Path, lake: Path, client: ClientSpec, dataset: str, day: str) -> pa.Table:
    prepared = convert_partition(
        filesystem_for(str(landing)), str(landing), client, dataset, day, archive=filesystem_for(str(lake))
    )
    return pa.Table.from_batches(list(prepared.stream.batches), schema=prepared.stream.schema)


def _on_spark(
    landing: Path, lake: Path, client: ClientSpec, dataset: str, day: str, spark: Any, **kwargs: Any
) -> tuple[pa.Table, RawPartition]:
    """The raw rows Spark wrote, read back from the committed multi-part version."""
    prepared = convert_partition_on_spark(
        filesystem_for(str(landing)), str(landing), client, dataset, day, spark, str(lake), **kwargs
    )
    staged = prepared.stream
    assert isinstance(staged, StagedVersion)
    version = VersionedStore(str(lake)).commit_parts(
        "raw",
        client.client,
        dataset,
        day,
        staged.parts,
        schema=staged.schema,
        staging_area=staged.staging_area,
    )
    return DatasetRef(version.path, version.content_hash).to_arrow(), prepared


def _assert_same(spark_rows: pa.Table, in_process: pa.Table) -> None:
    assert spark_rows.schema == in_process.schema
    assert spark_rows.num_rows == in_process.num_rows
    for name in in_process.column_names:  # column by column: a difference names its column
        assert spark_rows.column(name).to_pylist() == in_process.column(name).to_pylist(), name


def _client(data: dict[str, Any]) -> ClientSpec:
    base = {"client": "dirty", "start_date": "2024-01-01", "engine": "spark",
            "completeness": {"mode": "quiet_period", "quiet_seconds": 1}}  # fmt: skip
    return ClientSpec.model_validate({**base, **data})


def _drop(folder: Path, name: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    os.utime(path, (LONG_AGO, LONG_AGO))
    return path


# --- no Spark needed ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "splittable", "exact"),
    [
        (b'a;b\r\n1;"x;y"\r\n2;"say ""hi"""\r\n', True, True),  # quoted delimiters, doubled quotes, CR LF
        (b"a;b\n1;2\n\n3;4", True, True),  # an empty line, no final line break
        (b'a;b\n1;"two\nlines"\n', False, True),  # a quoted line break
        (b'a;b\r\n1;"two\r\nlines"\r\n', False, False),  # a quoted CR LF: Spark would make it LF
        (b'a;b\n1;5" pipe\n2;"x\ny"\n', False, True),  # a stray quote: parity cannot be trusted
        (b'a;b\r\n1;5" pipe\r\n', False, False),  # ... and the file has carriage returns
        (b"a;b\n1;2\n   \n3;4\n", False, True),  # a whitespace-only line is a record in-process
        (b"a;b\n1;2\n\t", False, True),
    ],
)
def test_a_drop_is_split_between_tasks_only_when_records_are_lines(tmp_path, text, splittable, exact):
    path = tmp_path / "drop.csv"
    path.write_bytes(text)
    scan = scan_records(str(path), ";", '"')
    assert (scan.splittable, scan.spark_reads_exactly) == (splittable, exact)


def test_a_format_spark_does_not_read_stays_in_process_and_says_why(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    write_completejourney_drops(landing, days=1)
    client = load_client_spec(REPO_ROOT / "clients" / "completejourney.yaml")
    folder = landing / "completejourney"
    expected = _in_process(folder, lake, client, "transactions", "2017-01-01")
    prepared = convert_partition_on_spark(
        filesystem_for(str(folder)), str(folder), client, "transactions", "2017-01-01", None, str(lake)
    )
    assert "JSON Lines" in prepared.stream.metadata["raw_engine_note"]
    assert not isinstance(prepared.stream, StagedVersion)
    rows = pa.Table.from_batches(list(prepared.stream.batches), schema=prepared.stream.schema)
    assert rows.num_rows > 0
    _assert_same(rows, expected)


# --- Spark ---------------------------------------------------------------------------------------------


@SPARK
def test_demo_drops_on_spark_match_in_process(tmp_path: Path, demo_drops, lake_env, spark_local) -> None:
    client = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")
    folder = lake_env.landing / "demo"
    for day in ("2010-12-01", "2010-12-02"):
        expected = _in_process(folder, tmp_path / "lake-a", client, "orders", day)
        rows, prepared = _on_spark(folder, tmp_path / "lake-b", client, "orders", day, spark_local)
        _assert_same(rows, expected)
        assert prepared.stream.metadata["rows_per_file"] == {
            f"orders_{day.replace('-', '')}.csv": rows.num_rows
        }


@SPARK
def test_a_large_real_drop_split_between_tasks_keeps_every_line_number(tmp_path: Path, spark_local) -> None:
    """100,000 lines of Online Retail as one drop, read by Spark in ~1 MiB splits and written as 4 parts:
    every row's ``_source_row`` and values are the in-process ones."""
    if not FULL.exists():
        pytest.skip(f"needs the full Online Retail file at {FULL}")
    client = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")
    folder = tmp_path / "landing"
    _drop(folder, "orders_20101201.csv", to_client_format(load_source(FULL).head(100_000)))
    expected = _in_process(folder, tmp_path / "lake-a", client, "orders", "2010-12-01")
    previous = spark_local.conf.get("spark.sql.files.maxPartitionBytes")
    spark_local.conf.set("spark.sql.files.maxPartitionBytes", str(1 << 20))
    try:
        rows, prepared = _on_spark(
            folder, tmp_path / "lake-b", client, "orders", "2010-12-01", spark_local,
            rows_per_part=25_000, split_min_bytes=1,
        )  # fmt: skip
    finally:
        spark_local.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert prepared.stream.metadata["drops_split_between_tasks"] == ["orders_20101201.csv"]
    assert len(prepared.stream.parts) == 4
    _assert_same(rows, expected)


DIRTY_SPEC = {
    "datasets": {
        "orders": {
            "canonical": "orders",
            "pattern": r"orders_(?P<as_of_date>\d{8})(_\w+)?\.csv",
            "as_of_date": {"from": "filename", "format": "%Y%m%d"},
            "reader": {"delimiter": ";", "encoding": "latin-1", "decimal": ","},
            "columns": {
                "order": {"name": "order_id"},
                "product": {"name": "product_id"},
                "qty": {"name": "quantity", "type": "int64"},
                "price": {"name": "unit_price", "type": "float64"},
                "amount": {"type": "decimal", "precision": 10, "scale": 2, "required": False},
                "at": {"name": "order_ts", "type": "timestamp", "formats": ["%d/%m/%Y %H:%M", "%d.%m.%Y"]},
                "note": {"required": False},
            },
        }
    }
}


def _dirty_drops(folder: Path) -> None:
    """Two drops of one day in Latin-1 with decimal commas: quoted line breaks, doubled quotes, quoted
    empty and unquoted empty fields, blank lines, values that do not fit (flagged), an extra column."""
    first = (
        "order;product;qty;price;amount;at;note\n"
        '1;A;3;2,50;10,25;01/12/2010 08:26;"caf\xe9 \xabcr\xe8me\xbb"\n'
        '2;B;12,5;1.000;1,005;31/12/2010 23:59;"two\nlines; ""quoted"""\n'
        '3;C;;;;32/12/2010 10:00;""\n'
        "\n"
        "4;D;-7;-0,5;99999999,99;01.02.2011;\n"
        '5;"E;F";17850,0;3,;1e3;2010-12-01;x\n'
    ).encode("latin-1")
    second = (
        "order;product;qty;price;at;channel\r\n"
        "6;G;1;0,85;02/12/2010 09:00;web\r\n"
        '7;H;x;abc;yesterday;"\xe0 la carte"\r\n'
    ).encode("latin-1")
    _drop(folder, "orders_20240105.csv", first)
    _drop(folder, "orders_20240105_late.csv", second)


@SPARK
def test_dirty_drops_on_spark_are_flagged_exactly_as_in_process(tmp_path: Path, spark_local) -> None:
    client = _client(DIRTY_SPEC)
    folder = tmp_path / "landing"
    _dirty_drops(folder)
    expected = _in_process(folder, tmp_path / "lake-a", client, "orders", "2024-01-05")
    rows, prepared = _on_spark(folder, tmp_path / "lake-b", client, "orders", "2024-01-05", spark_local)
    _assert_same(rows, expected)
    errors = [e for e in rows.column("_raw_errors").to_pylist() if e]
    assert errors and prepared.stream.metadata["rows_with_unparseable_values"] == len(errors)
    assert rows.column("note").to_pylist()[:3] == ["café «crème»", 'two\nlines; "quoted"', ""]
    assert prepared.stream.metadata["rows_per_file"] == {
        "orders_20240105.csv": 5,
        "orders_20240105_late.csv": 2,
    }


@SPARK
def test_a_quoted_carriage_return_stays_in_process(tmp_path: Path, spark_local) -> None:
    client = _client(DIRTY_SPEC)
    folder = tmp_path / "landing"
    _drop(
        folder, "orders_20240105.csv", b'order;product;qty;price;at;note\r\n1;A;1;2;01.12.2010;"a\r\nb"\r\n'
    )
    expected = _in_process(folder, tmp_path / "lake-a", client, "orders", "2024-01-05")
    prepared = convert_partition_on_spark(
        filesystem_for(str(folder)),
        str(folder),
        client,
        "orders",
        "2024-01-05",
        spark_local,
        str(tmp_path / "b"),
    )
    assert "carriage return" in prepared.stream.metadata["raw_engine_note"]
    rows = pa.Table.from_batches(list(prepared.stream.batches), schema=prepared.stream.schema)
    _assert_same(rows, expected)
    assert rows.column("note").to_pylist() == ["a\r\nb"]


@SPARK
@pytest.mark.parametrize(("bad_line", "shown"), [(b"2;B;1", "2;B;1"), (b"   ", "   ")])
def test_a_malformed_record_fails_naming_the_file_and_record_on_both_engines(
    tmp_path, spark_local, bad_line, shown
):
    """Far past the rows the driver samples for the drift report, so Spark's executors find it."""
    client = _client(DIRTY_SPEC)
    folder = tmp_path / "landing"
    good = b"1;A;1;2,0;01/12/2010 08:26\n" * (3 * SCHEMA_SAMPLE_ROWS)
    _drop(folder, "orders_20240105.csv", b"order;product;qty;price;at\n" + good + bad_line + b"\n3;C;1;1;x\n")
    with pytest.raises(DropReadError, match=r"orders_20240105\.csv: .*Expected 5 columns"):
        _in_process(folder, tmp_path / "lake-a", client, "orders", "2024-01-05")
    record = f"{3 * SCHEMA_SAMPLE_ROWS + 1:,}"
    with pytest.raises(
        DropReadError,
        match=rf"orders_20240105\.csv: record {record} does not have the header's 5 fields: '{shown}'",
    ):
        _on_spark(folder, tmp_path / "lake-b", client, "orders", "2024-01-05", spark_local)


@SPARK
def test_invalid_utf8_fails_naming_the_file_and_byte(tmp_path: Path, spark_local) -> None:
    """Spark's reader would decode the byte as U+FFFD silently; the driver refuses the drop, as in-process."""
    spec = {"datasets": {"orders": {**DIRTY_SPEC["datasets"]["orders"], "reader": {"delimiter": ";"}}}}
    client = _client(spec)
    folder = tmp_path / "landing"
    head = b"order;product;qty;price;at\n" + b"1;A;1;2;2010-12-01 08:26:00\n" * (3 * SCHEMA_SAMPLE_ROWS)
    _drop(folder, "orders_20240105.csv", head + b"2;caf\xe9;1;2;2010-12-01 08:26:00\n")
    with pytest.raises(DropReadError, match=r"orders_20240105\.csv: .*invalid UTF8"):
        _in_process(folder, tmp_path / "lake-a", client, "orders", "2024-01-05")
    offset = f"{len(head) + 5:,}"
    with pytest.raises(
        DropReadError, match=rf"orders_20240105\.csv: byte 0xe9 at byte offset {offset} is not valid"
    ):
        _on_spark(folder, tmp_path / "lake-b", client, "orders", "2024-01-05", spark_local)


@SPARK
def test_dirty_drops_through_spark_connect(tmp_path: Path, spark_connect_url: str) -> None:
    from retina_assets.engines.spark import connect_session

    client = _client(DIRTY_SPEC)
    folder = tmp_path / "landing"
    _dirty_drops(folder)
    expected = _in_process(folder, tmp_path / "lake-a", client, "orders", "2024-01-05")
    session = connect_session(spark_connect_url)
    rows, _ = _on_spark(folder, tmp_path / "lake-b", client, "orders", "2024-01-05", session)
    _assert_same(rows, expected)


@SPARK
def test_a_spark_raw_version_from_the_asset_verifies_identical(
    lake_env, demo_drops, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spark_local
) -> None:
    """The raw asset of an ``engine: spark`` client writes a multi-part version with Spark's executors;
    ``verify`` rebuilds it on Spark from the archived drop to the same content hash."""
    spec = yaml.safe_load((REPO_ROOT / "clients" / "demo.yaml").read_text(encoding="utf-8"))
    clients = tmp_path / "clients-spark"
    clients.mkdir()
    (clients / "demo.yaml").write_text(yaml.safe_dump({**spec, "engine": "spark"}), encoding="utf-8")
    monkeypatch.setenv("RETINA_CLIENTS_DIR", str(clients))
    settings = LakeSettings(str(lake_env.lake), str(lake_env.landing), str(clients))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [build_definitions(settings).resolve_assets_def(dg.AssetKey(["demo", "raw_orders"]))],
            partition_key="2010-12-01",
            instance=instance,
        )
    assert result.success
    meta = materializations(result)["demo/raw_orders"]
    assert meta["retina/engine"] == "spark"
    path = meta["path"]
    assert DatasetRef(path).is_multipart
    verdicts = verify(str(lake_env.lake), path)
    assert [v.status for v in verdicts] == [IDENTICAL], verdicts[0].report()


@SPARK
def test_cdnow_fixed_width_drops_on_spark_match_in_process(tmp_path: Path, spark_local) -> None:
    landing = tmp_path / "landing"
    write_cdnow_drops(landing, days=2)
    client = load_client_spec(REPO_ROOT / "clients" / "cdnow.yaml")
    folder = landing / "cdnow"
    for day in ("1997-01-01", "1997-01-02"):
        expected = _in_process(folder, tmp_path / "lake-a", client, "purchases", day)
        rows, _ = _on_spark(folder, tmp_path / "lake-b", client, "purchases", day, spark_local)
        _assert_same(rows, expected)


FIXED_WIDTH_SPEC = {
    "datasets": {
        "orders": {
            "canonical": "orders",
            "format": "fixed_width",
            "pattern": r"orders_(?P<as_of_date>\d{8})\.txt",
            "as_of_date": {"from": "filename", "format": "%Y%m%d"},
            "reader": {"comment": "#", "null_values": ["", "NA"]},
            "columns": {
                "order": {"name": "order_id"},
                "product": {"name": "product_id"},
                "qty": {"name": "quantity", "type": "int64"},
                "price": {"name": "unit_price", "type": "float64"},
                "at": {"name": "order_ts", "type": "timestamp", "formats": ["%Y%m%d"]},
            },
        }
    }
}


@SPARK
def test_fixed_width_split_between_tasks_keeps_line_numbers_and_errors(tmp_path: Path, spark_local) -> None:
    """Comment and blank lines between records, null markers, bad values; read by Spark in 64 KiB splits.
    A line with a missing field fails both engines with the same message and line number."""
    client = _client(FIXED_WIDTH_SPEC)
    lines = ["# export", "order product qty price at"]
    for i in range(20_000):
        qty = "NA" if i % 97 == 0 else ("1,5" if i % 1_001 == 0 else str(i % 13))
        lines.append(f"{i} P{i % 50} {qty} {i % 7}.25 {'20240105' if i % 503 else 'someday'}")
        if i % 211 == 0:
            lines += ["", "   # a comment", "\t"]
    folder = tmp_path / "landing"
    _drop(folder, "orders_20240105.txt", ("\r\n".join(lines) + "\r\n").encode())
    expected = _in_process(folder, tmp_path / "lake-a", client, "orders", "2024-01-05")
    previous = spark_local.conf.get("spark.sql.files.maxPartitionBytes")
    spark_local.conf.set("spark.sql.files.maxPartitionBytes", str(64 << 10))
    try:
        rows, prepared = _on_spark(
            folder, tmp_path / "lake-b", client, "orders", "2024-01-05", spark_local, split_min_bytes=1
        )
        assert prepared.stream.metadata["drops_split_between_tasks"] == ["orders_20240105.txt"]
        _assert_same(rows, expected)
        assert any(rows.column("_raw_errors").to_pylist())

        lines.append("20000 P0 1 2.25")
        _drop(folder, "orders_20240105.txt", ("\r\n".join(lines) + "\r\n").encode())
        with pytest.raises(DropReadError) as in_process:
            _in_process(folder, tmp_path / "lake-c", client, "orders", "2024-01-05")
        with pytest.raises(DropReadError) as on_spark:
            _on_spark(
                folder, tmp_path / "lake-d", client, "orders", "2024-01-05", spark_local, split_min_bytes=1
            )
    finally:
        spark_local.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert str(on_spark.value) == str(in_process.value)
    assert f"line {len(lines)}: expected 5 fields, found 4" in str(on_spark.value)
