"""Plain metadata (what the stages return) as Dagster metadata values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg


def to_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dicts and lists become JSON metadata; numbers, strings, booleans, ``None`` and Dagster metadata
    values are kept as they are (Dagster shows them as such)."""
    return {
        name: dg.MetadataValue.json(value) if isinstance(value, dict | list | tuple) else value
        for name, value in values.items()
    }
