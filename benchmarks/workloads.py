"""The measured workloads. Each runs in its own process (``python -m benchmarks.workloads TASK ARGS``).

Every workload imports what it needs, then times only the work itself (interpreter start-up and imports are
excluded, for the project and the baselines alike), and prints one JSON line with ``seconds``, ``rows``,
phase timings and the process's own peak RSS (``VmHWM``). The parent (:mod:`benchmarks.harness`) also samples the
RSS of the whole process tree (the JVM for Spark), so peak memory covers everything the workload started.

Workloads:

* ``project_raw``: what the ``demo/raw_orders`` asset runs: :class:`DropConversion` over the partition's
  drops, streamed into :meth:`VersionedStore.write` (zone ``raw``) in a fresh lake.
* ``duckdb_raw``: DuckDB ``COPY (SELECT * FROM read_csv(...)) TO ... (FORMAT parquet)``, typed the same way.
* ``polars_raw``: polars ``scan_csv(...).sink_parquet(...)``, typed the same way.
* ``validate``: what ``demo/validated_orders`` runs from a raw version, in-process (:func:`validate_dataset`,
  pandas + pandera) or on local Spark (``run_validation(engine="spark")``); validated and rejected rows written.
* ``project_pipeline``: raw + validation + ``order_summary`` as the demo client's assets run them, per stage.
* ``baseline_pipeline``: the independent DuckDB SQL or polars whole pipeline (``benchmarks/baseline_*.py``).
* ``features``: what ``demo/order_summary`` runs from that validated version, in-process (polars) or on
  local Spark (:func:`~retina_assets.engines.spark_features.build_on_spark`).
* ``lake_pipeline``: the demo client's Dagster assets (raw, validated + rejected, ``order_summary``) as
  three runs on one instance, for a copy of the client set to ``engine``; per stage: wall and CPU seconds
  of the process tree, the peak RSS of this process and of the Spark driver JVM, the JVM's heap (see
  :mod:`benchmarks.spark_scale`).
* ``compare_versions``: two lakes' versions of the same stages compared row for row and type for type.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from retina_assets.settings import REPO_ROOT

CLIENT = "demo"
DATASET = "orders"

# The demo client's columns typed as clients/demo.yaml declares them (for the baselines).
DUCKDB_COLUMNS = {
    "InvoiceNo": "VARCHAR",
    "StockCode": "VARCHAR",
    "Description": "VARCHAR",
    "Quantity": "BIGINT",
    "InvoiceDate": "TIMESTAMP",
    "UnitPrice": "DOUBLE",
    "CustomerID": "VARCHAR",
    "Country": "VARCHAR",
}


def _started_spark(phases: dict[str, float]) -> Any:
    """The session the Spark resource returns (same config, same process), started outside the timed
    stages; its start-up time goes to ``phases["session"]``."""
    from retina_assets.engines.spark import spark_session

    t = time.perf_counter()
    session = spark_session()
    session.range(1).count()
    phases["session"] = time.perf_counter() - t
    return session


def demo_spec() -> Any:
    """The ``orders`` dataset spec of the repository's demo client."""
    from retina_assets.model.spec import load_client_spec

    return load_client_spec(REPO_ROOT / "clients" / "demo.yaml").datasets[DATASET]


def project_raw(landing: str, partition: str, lake: str) -> dict[str, Any]:
    """Convert the partition's drops with the project's raw conversion into a version in ``lake``."""
    # what a Dagster step process has loaded with the code location before the asset runs (pandas, fsspec
    # ...); without this the first batch would pay for these imports inside the timed section
    import fsspec  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow.csv  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    from retina_assets.catalog import load_client
    from retina_assets.ingestion.drift import merge_schemas
    from retina_assets.ingestion.landing import drops_for_partition
    from retina_assets.ingestion.raw_conversion import DropConversion
    from retina_assets.storage.filesystem import filesystem_for
    from retina_assets.storage.versioned_store import VersionedStore

    spec = demo_spec()
    started = time.perf_counter()
    landing_uri = str(Path(landing) / CLIENT)
    fs = filesystem_for(landing_uri)
    client = load_client(REPO_ROOT / "clients" / f"{CLIENT}.yaml")
    drops = drops_for_partition(fs, landing_uri, client, DATASET, partition)
    if not drops:
        raise SystemExit(f"no drop for {partition} in {landing_uri}")
    conversion = DropConversion(drops, spec, fs, progress=lambda _msg: None)
    merge_schemas(list(conversion.drop_schemas().values()))  # the asset records each drop's schema (drift)
    version = VersionedStore(lake).write(
        "raw",
        CLIENT,
        DATASET,
        partition,
        conversion.batches(),
        schema=conversion.schema,
        input_paths=[d.uri for d in drops],
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": version.row_count,
        "path": version.path,
        "out_bytes": version.num_bytes,
        "rows_with_errors": conversion.stats.rows_with_errors,
    }


def duckdb_raw(csv: str, out: str) -> dict[str, Any]:
    """DuckDB's CSV reader straight into Parquet (zstd), same types and date format as the spec."""
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in DUCKDB_COLUMNS.items()) + "}"
    con.execute(
        f"""COPY (SELECT * FROM read_csv('{csv}', delim=';', header=true, quote='"',
                encoding='latin-1', decimal_separator=',', timestampformat='%d/%m/%Y %H:%M',
                columns={columns}))
            TO '{out}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    seconds = time.perf_counter() - started
    rows = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()
    assert rows is not None
    return {"seconds": seconds, "rows": int(rows[0]), "out_bytes": Path(out).stat().st_size}


def polars_raw(csv: str, out: str) -> dict[str, Any]:
    """polars' streaming CSV scan into Parquet (zstd), same types and date format as the spec.

    polars reads only UTF-8: ``utf8-lossy`` turns Latin-1 bytes such as ``£`` into U+FFFD (the project and
    DuckDB decode them correctly). Timing is unaffected; the note in the results says so.
    """
    import polars as pl

    schema = {k: pl.String for k in DUCKDB_COLUMNS}
    schema |= {"Quantity": pl.Int64, "UnitPrice": pl.Float64}
    started = time.perf_counter()
    (
        pl.scan_csv(csv, separator=";", encoding="utf8-lossy", decimal_comma=True, schema=schema)
        .with_columns(pl.col("InvoiceDate").str.strptime(pl.Datetime("us"), "%d/%m/%Y %H:%M"))
        .sink_parquet(out, compression="zstd")
    )
    seconds = time.perf_counter() - started
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    return {"seconds": seconds, "rows": int(rows), "out_bytes": Path(out).stat().st_size}


def validate(raw_path: str, partition: str, lake: str, engine: str = "inprocess") -> dict[str, Any]:
    """What ``demo/validated_orders`` runs: load the raw version, validate, write validated + rejected.

    ``engine`` ``inprocess``: :func:`validate_dataset` (pandas + pandera) on the whole partition, or, above
    ``BUCKET_ROWS`` raw rows, :func:`validate_in_buckets` streamed to the store, as the asset does;
    ``spark``: ``validate_partition(..., engine="spark")`` on local Spark, exactly what the asset runs for
    a Spark client (the executors write both outputs as parts; the driver commits them). The Spark session
    start is timed separately (``phases.session``), not in ``seconds``.
    """
    import pyarrow.parquet as pq

    from retina_assets.engines.stages import validate_partition
    from retina_assets.quality.bucketed_validation import BUCKET_ROWS, validate_in_buckets
    from retina_assets.quality.checks import CheckContext
    from retina_assets.quality.validation import validate_dataset
    from retina_assets.storage.dataset_ref import DatasetRef
    from retina_assets.storage.versioned_store import VersionedStore, table_from_any

    spec = demo_spec()
    store = VersionedStore(lake)
    phases: dict[str, float] = {}
    session = _started_spark(phases) if engine == "spark" else None
    started = t = time.perf_counter()
    raw_rows = pq.ParquetFile(raw_path).metadata.num_rows
    if session is None and raw_rows > BUCKET_ROWS:
        buckets = validate_in_buckets(DatasetRef(raw_path, row_count=raw_rows), spec, CheckContext(partition))
        phases["compute"] = time.perf_counter() - t
        if not buckets.summary.reconciles:
            raise SystemExit("validation does not reconcile: raw != valid + rejected")
        t = time.perf_counter()
        valid = store.write("validated", CLIENT, DATASET, partition, buckets.valid_batches(),
                            schema=buckets.valid_schema, table_layout=True)  # fmt: skip
        rejected = store.write("rejected", CLIENT, DATASET, partition, buckets.rejected_batches(),
                               schema=buckets.rejected_schema, table_layout=True)  # fmt: skip
        phases["write"] = time.perf_counter() - t
        buckets.close()
        return {
            "seconds": time.perf_counter() - started,
            "rows": raw_rows,
            "valid_rows": valid.row_count,
            "rejected_rows": rejected.row_count,
            "path": valid.path,
            "phases": phases,
            "buckets": buckets.buckets,
        }
    if session is not None:
        staged = validate_partition(
            DatasetRef(raw_path, row_count=raw_rows), spec, CheckContext(partition), "spark",
            spark=lambda: session, store=store,
        )  # fmt: skip
        phases["compute"] = time.perf_counter() - t
        if not staged.summary.reconciles:
            raise SystemExit("validation does not reconcile: raw != valid + rejected")
        t = time.perf_counter()
        committed = {
            zone: store.commit_parts(
                zone,
                CLIENT,
                DATASET,
                partition,
                rows.parts,
                schema=rows.schema,
                staging_area=rows.staging_area,
            )
            for zone, rows in (("validated", staged.valid), ("rejected", staged.rejected))
        }
        staged.close()
        phases["write"] = time.perf_counter() - t
        seconds = time.perf_counter() - started
        session.stop()
        return {
            "seconds": seconds,
            "rows": raw_rows,
            "valid_rows": committed["validated"].row_count,
            "rejected_rows": committed["rejected"].row_count,
            "path": committed["validated"].path,
            "phases": phases,
            "parts": staged.parts,
        }
    else:
        frame = DatasetRef(raw_path).to_pandas()
        phases["load"] = time.perf_counter() - t
        t = time.perf_counter()
        outcome = validate_dataset(frame, spec)
        phases["compute"] = time.perf_counter() - t
    if not outcome.reconciles:
        raise SystemExit("validation does not reconcile: raw != valid + rejected")
    t = time.perf_counter()
    valid = store.write("validated", CLIENT, DATASET, partition, table_from_any(outcome.valid))
    rejected = store.write("rejected", CLIENT, DATASET, partition, table_from_any(outcome.rejected))
    phases["write"] = time.perf_counter() - t
    seconds = time.perf_counter() - started
    if session is not None:
        session.stop()
    return {
        "seconds": seconds,
        "rows": outcome.raw_rows,
        "valid_rows": valid.row_count,
        "rejected_rows": rejected.row_count,
        "path": valid.path,
        "phases": phases,
    }


def features(validated_path: str, partition: str, lake: str, engine: str) -> dict[str, Any]:
    """What ``demo/order_summary`` runs on ``engine`` (``inprocess`` = polars, ``spark`` = local Spark).

    The Spark session start (JVM) is timed separately as ``phases.session`` and not included in
    ``seconds``: a long-running code server keeps its session.
    """
    from retina_assets.features.order_summary import ORDER_SUMMARY
    from retina_assets.storage.dataset_ref import DatasetRef
    from retina_assets.storage.versioned_store import VersionedStore

    store = VersionedStore(lake)
    phases: dict[str, float] = {}
    spark = _started_spark(phases) if engine == "spark" else None
    started = t = time.perf_counter()
    if spark is not None:
        from retina_assets.engines.spark_features import build_on_spark

        staged, _metadata = build_on_spark(
            ORDER_SUMMARY, spark, {"orders": DatasetRef(validated_path)}, store
        )
        phases["compute"] = time.perf_counter() - t
        t = time.perf_counter()
        version = store.commit_parts(
            "features", CLIENT, "order_summary", partition, staged.parts, schema=staged.schema,
            staging_area=staged.staging_area,
        )  # fmt: skip
        phases["write"] = time.perf_counter() - t
        spark.stop()
        rows = DatasetRef(validated_path).footer_row_count()
        return {"seconds": time.perf_counter() - started, "rows": rows, "summary_rows": version.row_count,
                "phases": phases, "parts": len(version.parts or [])}  # fmt: skip
    else:
        from retina_assets.engines.stages import build_feature

        # what the asset runs: the nine columns scanned and summarized in one streaming query
        summary, _metadata = build_feature(ORDER_SUMMARY, {"orders": DatasetRef(validated_path)})
        phases["compute"] = time.perf_counter() - t
    t = time.perf_counter()
    version = store.write("features", CLIENT, "order_summary", partition, summary)
    phases["write"] = time.perf_counter() - t
    seconds = time.perf_counter() - started
    if spark is not None:
        spark.stop()
    rows = DatasetRef(validated_path).row_count or _parquet_rows(validated_path)
    return {"seconds": seconds, "rows": rows, "summary_rows": version.row_count, "phases": phases}


class _Stages:
    """Wall and CPU seconds (all threads of the process) per stage."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peak: dict[str, int] = {}

    def run(self, stage: str, work: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.wall[stage] = time.perf_counter() - wall
        self.cpu[stage] = time.process_time() - cpu
        self.peak[stage] = own_peak_rss()  # the process's peak so far: which stage raised it
        return result

    def result(self, rows: int, **extra: Any) -> dict[str, Any]:
        return {"seconds": sum(self.wall.values()), "rows": rows, "phases": self.wall, "stage_cpu": self.cpu,
                "peak_after_stage": self.peak, **extra}  # fmt: skip


def project_pipeline(landing: str, partition: str, lake: str) -> dict[str, Any]:
    """The demo client's whole pipeline as its assets run it, one stage after the other: the raw conversion
    (as :func:`project_raw`), validation (``validate_partition``: window by window with key buckets above
    ``BUCKET_ROWS``) with validated and rejected versions written, then ``order_summary`` built from the
    validated version and written."""
    import pandas  # noqa: F401 - loaded by the code location before a step runs, as in project_raw
    import pyarrow.parquet  # noqa: F401

    from retina_assets.engines.stages import build_feature, validate_partition
    from retina_assets.features.order_summary import ORDER_SUMMARY
    from retina_assets.quality.checks import CheckContext
    from retina_assets.storage.dataset_ref import DatasetRef
    from retina_assets.storage.versioned_store import RecordBatchStream, VersionedStore

    stages = _Stages()
    raw = stages.run("raw", lambda: project_raw(landing, partition, lake))
    store = VersionedStore(lake)
    spec = demo_spec()

    def validation() -> Any:
        ref = DatasetRef(raw["path"], row_count=raw["rows"])
        out = validate_partition(ref, spec, CheckContext(partition))
        try:
            written = []
            for zone, rows in (("validated", out.valid), ("rejected", out.rejected)):
                if isinstance(rows, RecordBatchStream):
                    written.append(store.write(zone, CLIENT, DATASET, partition, rows.batches,
                                               schema=rows.schema, table_layout=True))  # fmt: skip
                else:
                    written.append(store.write(zone, CLIENT, DATASET, partition, rows))
            return written
        finally:
            out.close()

    valid, rejected = stages.run("validation", validation)

    def features() -> Any:
        table, _meta = build_feature(ORDER_SUMMARY, {"orders": DatasetRef(valid.path)})
        return store.write("features", CLIENT, "order_summary", partition, table)

    summary = stages.run("order_summary", features)
    return stages.result(raw["rows"], valid_rows=valid.row_count, rejected_rows=rejected.row_count,
                         summary_rows=summary.row_count)  # fmt: skip


def baseline_pipeline(tool: str, csv: str, out: str) -> dict[str, Any]:
    """An independent whole pipeline (``benchmarks.baseline_polars`` or ``benchmarks.baseline_duckdb``) on
    the same drop; stage seconds as it reports them, CPU per stage measured here."""
    import importlib

    module = importlib.import_module(f"benchmarks.baseline_{tool}")
    if tool == "duckdb":
        import duckdb  # noqa: F401 - imports are not timed, for any tool
    stages = _Stages()
    cpu = time.process_time()
    times = module.main(csv, csv, out)
    stages.wall = dict(times)
    stages.cpu = {"total": time.process_time() - cpu}
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(str(Path(out) / "raw.parquet")).metadata.num_rows
    return stages.result(rows)


def lake_pipeline(
    landing: str, lake: str, clients: str, partition: str, engine: str, remote: str | None = None
) -> dict[str, Any]:
    """The demo client's assets for ``partition`` on ``engine``, one run per stage on one Dagster instance
    (:func:`benchmarks.spark_scale.run_lake_stages`), with the figures of every stage.

    ``clients`` holds the client specs (a copy of ``clients/demo.yaml`` with ``engine`` set); ``remote``
    puts Spark steps on a Spark Connect server. The local Spark session is started (and timed, as
    ``phases.session``) before the stages, as a code server that keeps its session would have it.
    """
    import os

    from benchmarks.spark_scale import ProcessProbe, run_lake_stages

    if remote:
        os.environ["RETINA_SPARK_REMOTE"] = remote
    probe = ProcessProbe()
    phases: dict[str, float] = {}
    session = _started_spark(phases) if engine == "spark" else None
    if session is not None:
        probe.attach_spark(session)
    stages = run_lake_stages(landing, lake, clients, partition, probe)
    raw = stages.get("raw", {}).get("outputs", {}).get("demo/raw_orders", {})
    spark_info = probe.spark_info()
    if session is not None and not remote and not probe.jvm_lost:
        session.stop()
    return {
        "seconds": sum(s["wall"] for s in stages.values()),
        "rows": int(raw.get("row_count") or 0),
        "engine": engine,
        "phases": phases,
        "stages": stages,
        "spark": spark_info,
    }


def compare_versions(left: str, right: str) -> dict[str, Any]:
    """Compare the versions two ``lake_pipeline`` results (JSON files) recorded, stage by stage."""
    from benchmarks.spark_scale import compare_outputs

    started = time.perf_counter()
    comparison = compare_outputs(json.loads(Path(left).read_text()), json.loads(Path(right).read_text()))
    return {"seconds": time.perf_counter() - started, "rows": 0, "comparison": comparison}


def _parquet_rows(path: str) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


TASKS = {
    "project_raw": project_raw,
    "duckdb_raw": duckdb_raw,
    "polars_raw": polars_raw,
    "validate": validate,
    "features": features,
    "project_pipeline": project_pipeline,
    "baseline_pipeline": baseline_pipeline,
    "lake_pipeline": lake_pipeline,
    "compare_versions": compare_versions,
}


def own_peak_rss() -> int:
    """This process's peak RSS (``VmHWM``), in bytes.

    Not ``getrusage().ru_maxrss``: on Linux that survives fork + exec, so a child would report its parent's
    peak if the parent was larger.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> None:
    task, kwargs = argv[0], json.loads(argv[1])
    cpu = _cpu_seconds()
    result = TASKS[task](**kwargs)
    result["cpu_seconds"] = _cpu_seconds() - cpu
    result["peak_rss_bytes"] = own_peak_rss()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
