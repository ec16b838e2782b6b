"""Multi-part versions for tests: a small orders schema, its rows, and parts staged and committed the way a
Spark job's executors and the IO manager do it (:func:`stage_part`, :meth:`VersionedStore.commit_parts`)."""

from __future__ import annotations

import pyarrow as pa

from retina_assets.storage.versioned_store import DatasetVersion, VersionedStore, stage_part

SCHEMA = pa.schema([("customer_id", pa.int64()), ("amount", pa.float64()), ("note", pa.string())])
ZONE, CLIENT, DATASET, PARTITION = "validated", "demo", "orders", "2011-01-04"


def rows(start: int, count: int) -> pa.Table:
    """``count`` rows with customer ids ``start``, ``start + 1``, ..."""
    ids = list(range(start, start + count))
    return pa.table(
        {"customer_id": ids, "amount": [i * 1.5 for i in ids], "note": [f"n{i}" for i in ids]}, schema=SCHEMA
    )


def write_parts(
    store: VersionedStore,
    tables: list[pa.Table],
    partition: str = PARTITION,
    *,
    zone: str = ZONE,
    client: str = CLIENT,
    dataset: str = DATASET,
    input_paths: list[str] | None = None,
) -> DatasetVersion:
    """Stage one part per table (in small batches, as an executor streams them) and commit them as one
    version of ``<zone>/<client>/<dataset>`` [``partition``]."""
    area = store.staging_area()
    staged = [
        stage_part(store.fs, area, i, t.to_batches(max_chunksize=7), SCHEMA) for i, t in enumerate(tables)
    ]
    return store.commit_parts(
        zone, client, dataset, partition, staged, schema=SCHEMA, run_id="r1", staging_area=area,
        input_paths=input_paths or [],
    )  # fmt: skip
