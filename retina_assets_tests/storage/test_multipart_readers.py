"""Every reader sees a multi-part version as one dataset: pyarrow, DuckDB and polars read the version's
folder and the zone's current view (hive root) as exactly the rows written, with their types, on local disk,
S3 (moto server) and Azure (Azurite); local Spark reads both too. Also pins down what the docs say about the
``as_of_date`` column an engine may infer from the ``as_of_date=`` folder above a version folder."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from retina_assets.storage import paths
from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore
from retina_assets_tests.support.backends import BACKENDS, backend_root
from retina_assets_tests.support.multipart import CLIENT, DATASET, PARTITION, SCHEMA, ZONE, rows, write_parts

OTHER_DAY = "2011-01-05"


def _lake(store: VersionedStore) -> tuple[DatasetVersion, pa.Table, pa.Table]:
    """A 3-part version of one day and a single-file version of another: (the 3-part version, its rows, the
    rows of the whole dataset)."""
    tables = [rows(0, 10), rows(10, 25), rows(35, 3)]
    version = write_parts(store, tables)
    store.write(ZONE, CLIENT, DATASET, OTHER_DAY, rows(500, 4))
    return version, pa.concat_tables(tables), pa.concat_tables([*tables, rows(500, 4)])


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by("customer_id")


def _polars_options(backend: str) -> dict[str, str] | None:
    """polars reads object stores with its own client: the test servers' endpoints and keys from the env."""
    if backend == "s3":
        return {
            "aws_endpoint_url": os.environ["AWS_ENDPOINT_URL"],
            "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
        }
    if backend == "azure":
        settings = dict(
            item.split("=", 1) for item in os.environ["AZURE_STORAGE_CONNECTION_STRING"].split(";") if item
        )
        return {
            "account_name": settings["AccountName"],
            "account_key": settings["AccountKey"],
            "endpoint": settings["BlobEndpoint"].rstrip("/"),
            "allow_http": "true",
        }
    return None


@pytest.mark.parametrize("backend", BACKENDS)
def test_pyarrow_duckdb_and_polars_read_the_folder_and_the_view(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    store = VersionedStore(backend_root(request, backend, tmp_path, "lake"))
    version, expected, everything = _lake(store)
    fs = store.fs
    root = paths.dataset_root(store.lake_uri, ZONE, CLIENT, DATASET)
    arrow_fs = pafs.PyFileSystem(pafs.FSSpecHandler(fs.fs))

    def bare(uri: str) -> str:  # pyarrow's fsspec handler takes paths without the scheme
        return fs._strip(uri).split("://", 1)[-1]

    # pyarrow: the folder as a dataset (its parts in name order), and the hive root
    folder = pq.read_table(bare(version.path), filesystem=arrow_fs)
    assert folder.schema == SCHEMA and folder.equals(expected)  # no column inferred from the path above
    hive = ds.dataset(bare(root), filesystem=arrow_fs, partitioning="hive").to_table()
    assert _sorted(hive.drop_columns("as_of_date")).equals(_sorted(everything))

    # DuckDB: '<folder>/*.parquet'; hive_partitioning=false, else it adds as_of_date from the folder above
    con = duckdb.connect()
    if not fs.is_local:
        con.register_filesystem(fs.fs)
    exact = con.sql(
        f"select * from read_parquet('{version.path}/*.parquet', hive_partitioning=false) order by customer_id"
    ).arrow()
    exact = exact.read_all() if hasattr(exact, "read_all") else exact
    assert exact.schema == SCHEMA and exact.equals(expected)
    inferred = con.sql(f"select * from read_parquet('{version.path}/*.parquet')")
    assert inferred.columns == [*SCHEMA.names, "as_of_date"]
    assert {
        r[0] for r in con.sql("select distinct cast(as_of_date as varchar) from inferred").fetchall()
    } == {PARTITION}
    view = con.sql(
        f"select * exclude (as_of_date) from read_parquet('{root}/*/*.parquet', hive_partitioning=true) "
        "order by customer_id"
    ).arrow()
    view = view.read_all() if hasattr(view, "read_all") else view
    assert view.equals(_sorted(everything))

    # polars: the folder ('<folder>/': an object store has no folders to tell apart) or '<folder>/*.parquet' reads as the version's columns only; the root as hive
    options = _polars_options(backend)
    want = pl.from_arrow(expected)  # polars' own types (large strings)
    by_polars = pl.read_parquet(f"{version.path}/", storage_options=options)  # "/": a folder on any store
    assert by_polars.schema == want.schema and by_polars.equals(want)
    globbed = pl.scan_parquet(f"{version.path}/*.parquet", storage_options=options, hive_partitioning=False)
    assert globbed.collect().equals(want)
    polars_view = pl.read_parquet(f"{root}/", storage_options=options, hive_partitioning=True)
    assert polars_view.columns == [*SCHEMA.names, "as_of_date"]
    assert polars_view.drop("as_of_date").sort("customer_id").equals(pl.from_arrow(_sorted(everything)))


def test_spark_reads_the_folder_and_the_view(tmp_path: Path, spark_local) -> None:
    store = VersionedStore(str(tmp_path / "lake"))
    version, expected, everything = _lake(store)
    folder = spark_local.read.parquet(version.path)
    assert folder.columns == SCHEMA.names  # the folder is the base path: nothing inferred from above it
    assert [tuple(r) for r in folder.orderBy("customer_id").collect()] == [
        tuple(r.values()) for r in expected.to_pylist()
    ]
    assert [(f.name, f.dataType.simpleString()) for f in folder.schema.fields] == [
        ("customer_id", "bigint"),
        ("amount", "double"),
        ("note", "string"),
    ]
    root = paths.dataset_root(store.lake_uri, ZONE, CLIENT, DATASET)
    view = spark_local.read.parquet(root)
    assert view.columns == [*SCHEMA.names, "as_of_date"]
    got = [tuple(r)[:3] for r in view.orderBy("customer_id").collect()]
    assert got == [tuple(r.values()) for r in _sorted(everything).to_pylist()]
    assert {str(r[0]) for r in view.select("as_of_date").distinct().collect()} == {PARTITION, OTHER_DAY}
