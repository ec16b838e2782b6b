"""Comparing tables written by different engines."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from retina_assets.storage.filesystem import sha256_file
from retina_assets.storage.parts import combined_hash, parse_part_name


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


def assert_multipart(path: str, content_hash: str) -> None:
    """``path`` is a multi-part version's folder, named by the hash its parts' names combine to, each part
    named by the hash of its bytes."""
    parts = sorted(p.name for p in Path(path).iterdir())
    assert Path(path).name == content_hash == combined_hash(parts)
    for name in parts:
        parsed = parse_part_name(name)
        assert parsed is not None and parsed[1] == sha256_file(str(Path(path) / name))
