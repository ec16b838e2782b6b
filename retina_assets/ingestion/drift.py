"""Schema drift between two drops of the same dataset.

A drop's *schema* is its column names, in file order, each with the type the drop carries: the type its
format declares (JSON, Parquet) or, for formats read as text (CSV, TSV, fixed width, Excel), the type its
values look like in the first batch (``int64``, ``float64``, ``string``; ``null`` when every value is
empty). :func:`compare_schemas` reports what changed between the previous drop and this one:

* ``added`` / ``removed`` columns;
* ``renamed`` columns (heuristic): a removed and an added column whose names are equal once case, spaces,
  ``_`` and ``-`` are ignored, or are close (difflib ratio >= 0.8) and hold the same type;
* ``retyped`` columns: same name, different type. ``null`` (no values seen) matches every type, and
  ``int64`` -> ``float64`` (a widening that happens whenever a day's values are all whole numbers) is not
  counted.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

_COMPATIBLE = {frozenset({"int64", "float64"})}


def _type_name(dtype: pa.DataType) -> str:
    if pa.types.is_null(dtype):
        return "null"
    if pa.types.is_integer(dtype):
        return "int64"
    if pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "float64"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_timestamp(dtype):
        return "timestamp"
    if pa.types.is_date(dtype):
        return "date"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "string"
    return str(dtype)


def _infer_text(values: pl.Series) -> str:
    text = values.cast(pl.String).str.strip_chars()
    text = text.filter(text.is_not_null() & (text != ""))
    if text.len() == 0:
        return "null"
    if text.cast(pl.Int64, strict=False).null_count() == 0:
        return "int64"
    if text.cast(pl.Float64, strict=False).null_count() == 0:
        return "float64"
    return "string"


def batch_schema(batch: pa.RecordBatch, text_format: bool) -> dict[str, str]:
    """The schema of a drop as seen in its first batch: ``{column: type}`` in file order."""
    if not text_format:
        return {f.name: _type_name(f.type) for f in batch.schema}
    frame = pl.from_arrow(pa.Table.from_batches([batch]), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return {name: _infer_text(frame[name]) for name in frame.columns}


def merge_schemas(schemas: list[dict[str, str]]) -> dict[str, str]:
    """One schema for several drop files of a partition: union of columns, the first non-null type wins."""
    merged: dict[str, str] = {}
    for schema in schemas:
        for name, type_ in schema.items():
            if merged.get(name, "null") == "null":
                merged[name] = type_
    return merged


@dataclass
class DriftReport:
    """What changed between the previous drop's schema and this one's (empty lists: no drift)."""

    previous_partition: str | None
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    renamed: list[dict[str, str]] = field(default_factory=list)
    retyped: list[dict[str, str]] = field(default_factory=list)

    @property
    def has_drift(self) -> bool:
        return bool(self.added or self.removed or self.renamed or self.retyped)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "has_drift": self.has_drift}

    def summary(self) -> str:
        """One line for logs and error messages."""
        if self.previous_partition is None:
            return "first drop of this dataset: no previous schema to compare with"
        if not self.has_drift:
            return f"schema unchanged since {self.previous_partition}"
        parts = []
        if self.added:
            parts.append(f"added {self.added}")
        if self.removed:
            parts.append(f"removed {self.removed}")
        if self.renamed:
            parts.append("renamed " + ", ".join(f"{r['from']!r} -> {r['to']!r}" for r in self.renamed))
        if self.retyped:
            parts.append(
                "retyped " + ", ".join(f"{r['column']!r} {r['from']} -> {r['to']}" for r in self.retyped)
            )
        return f"schema drift since {self.previous_partition}: " + "; ".join(parts)


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


def _compatible(a: str, b: str) -> bool:
    return a == b or "null" in (a, b) or frozenset({a, b}) in _COMPATIBLE


def compare_schemas(
    previous: dict[str, str] | None, current: dict[str, str], previous_partition: str | None = None
) -> DriftReport:
    """The drift from ``previous`` to ``current`` (see the module docstring for the rules)."""
    report = DriftReport(previous_partition=previous_partition if previous is not None else None)
    if previous is None:
        return report
    removed = [c for c in previous if c not in current]
    added = [c for c in current if c not in previous]
    for old in list(removed):
        candidates = [
            new
            for new in added
            if _compatible(previous[old], current[new])
            and (
                _norm(old) == _norm(new)
                or difflib.SequenceMatcher(None, _norm(old), _norm(new)).ratio() >= 0.8
            )
        ]
        if candidates:
            new = max(candidates, key=lambda n: difflib.SequenceMatcher(None, _norm(old), _norm(n)).ratio())
            report.renamed.append({"from": old, "to": new})
            removed.remove(old)
            added.remove(new)
    report.added, report.removed = added, removed
    for name, type_ in current.items():
        if name in previous and not _compatible(previous[name], type_):
            report.retyped.append({"column": name, "from": previous[name], "to": type_})
    return report
