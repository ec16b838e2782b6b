"""Features on Spark: a registered feature's Spark builder run on the exact input versions.

Spark reads each input version itself (in parallel, only the columns the feature declares), the feature's
``build_spark`` computes the rows, and the result is returned as Arrow cast to the feature's schema and
sorted by its ``sort_by``: the same rows and types as :func:`~retina_assets.features.registry.build_in_process`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from retina_assets.engines.spark import functions_for, to_arrow
from retina_assets.features.registry import Feature
from retina_assets.storage.dataset_ref import DatasetRef


def build_on_spark(
    feature: Feature, spark: Any, inputs: Mapping[str, DatasetRef]
) -> tuple[pa.Table, dict[str, Any]]:
    """Build ``feature`` on the Spark session ``spark`` from exact input versions (canonical -> version)."""
    if feature.build_spark is None:
        raise ValueError(f"feature {feature.name!r} has no Spark builder; run it on the pandas engine")
    frames = {}
    for canonical, ref in inputs.items():
        frame = ref.to_spark(spark)
        columns = feature.input_columns(canonical, ref)
        frames[canonical] = frame.select(*columns) if columns is not None else frame
    first = next(iter(frames.values()))
    rows, metadata = feature.build_spark(frames, functions_for(first))
    table = to_arrow(rows, feature.schema)
    return table.sort_by([(c, "ascending") for c in feature.sort_by]), metadata
