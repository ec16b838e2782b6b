"""Features on Spark: a registered feature's Spark builder run on the exact input versions, its rows written
by the executors.

Spark reads each input version itself (in parallel, only the columns the feature declares), the feature's
``build_spark`` computes the rows, and :func:`~retina_assets.engines.spark_writer.write_parts` has the
executors write them as a multi-part version: parts by a hash of the feature's ``sort_by`` key, rows sorted by
it within a part, cast to the feature's schema. So the rows and types are those of
:func:`~retina_assets.features.registry.build_in_process` (which writes one file sorted by the same key); only
part names and the builder's small metadata reach the driver. The number of parts follows the input rows
(:func:`~retina_assets.engines.spark_writer.parts_for_rows`). Features that read history build in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retina_assets.engines.spark import functions_for
from retina_assets.engines.spark_writer import parts_for_rows, write_parts
from retina_assets.features.registry import Feature
from retina_assets.storage.dataset_ref import DatasetRef
from retina_assets.storage.versioned_store import StagedVersion, VersionedStore


def build_on_spark(
    feature: Feature, spark: Any, inputs: Mapping[str, DatasetRef], store: VersionedStore
) -> tuple[StagedVersion, dict[str, Any]]:
    """Build ``feature`` on the Spark session ``spark`` from exact input versions (canonical -> version);
    returns the rows staged in ``store``'s lake (to commit) and the builder's metadata."""
    if feature.build_spark is None:
        raise ValueError(f"feature {feature.name!r} has no Spark builder; run it on the pandas engine")
    if feature.history:
        raise ValueError(f"feature {feature.name!r} reads history and runs in-process only")
    frames = {}
    for canonical, ref in inputs.items():
        frame = ref.to_spark(spark)
        columns = feature.input_columns(canonical, ref)
        frames[canonical] = frame.select(*columns) if columns is not None else frame
    first = next(iter(frames.values()))
    rows, metadata = feature.build_spark(frames, functions_for(first))
    parts = parts_for_rows(sum(ref.footer_row_count() for ref in inputs.values()))
    staged = write_parts(
        rows,
        store.lake_uri,
        feature.schema,
        parts=parts,
        key_columns=feature.sort_by,
        sort_columns=feature.sort_by,
        storage_options=store.fs.storage_options,
    )
    return staged, metadata
