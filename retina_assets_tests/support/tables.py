"""Comparing tables written by different engines."""

from __future__ import annotations

import pyarrow as pa
import pytest


def assert_same_rows(left: pa.Table, right: pa.Table) -> None:
    """Same schema (names and types); same rows in the same order; floats equal to 1e-6."""
    assert left.schema.remove_metadata() == right.schema.remove_metadata()
    a, b = left.to_pylist(), right.to_pylist()
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        for key in x:
            if isinstance(x[key], float):
                assert x[key] == pytest.approx(y[key], abs=1e-6, nan_ok=True), (key, x, y)
            else:
                assert x[key] == y[key], (key, x, y)
