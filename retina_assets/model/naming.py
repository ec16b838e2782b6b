"""Names defined once: zones, canonical datasets, lineage columns, safe names, and dataset/asset names.

Every dataset of the lake is named ``<client>/<asset name>`` (the Dagster asset key and the name the lake API
takes), where the asset name carries its zone:

=================  ==========================  ===============================
zone               asset name                  example
=================  ==========================  ===============================
``raw``            ``raw_<dataset>``           ``demo/raw_orders``
``validated``      ``validated_<dataset>``     ``demo/validated_orders``
``rejected``       ``rejected_<dataset>``      ``demo/rejected_orders``
``features``       ``<feature>``               ``demo/order_summary``
=================  ==========================  ===============================

:class:`DatasetName` is the only parser and formatter of these names. Client, dataset and partition names are
checked against a strict pattern before they reach a path or an asset key (:func:`check_name`,
:func:`check_partition_key`), so a hostile name such as ``../etc`` or ``a|b`` is refused with a clear error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

RAW = "raw"
VALIDATED = "validated"
REJECTED = "rejected"
FEATURES = "features"
ZONES = (RAW, VALIDATED, REJECTED, FEATURES)
# zones whose asset names carry the zone as a prefix (features are named by the feature alone)
PREFIXED_ZONES = (RAW, VALIDATED, REJECTED)

Canonical = Literal["orders", "customers", "products"]
CANONICAL_DATASETS: tuple[str, ...] = get_args(Canonical)

# the hive partition column of every dataset (``.../as_of_date=YYYY-MM-DD/``)
PARTITION_COLUMN = "as_of_date"

# lineage columns the raw stage adds to every row, kept through validation and quarantine
SOURCE_FILE = "_source_file"
SOURCE_ROW = "_source_row"
RAW_ERRORS = "_raw_errors"
LINEAGE_COLUMNS = (SOURCE_FILE, SOURCE_ROW, RAW_ERRORS)
# columns of the quarantine (rejected zone): which rules a row broke, and why
REJECT_RULES = "_reject_rules"
REJECT_REASONS = "_reject_reasons"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class UnsafeNameError(ValueError):
    """A client, dataset or partition name that must not become part of a path."""


def check_name(kind: str, value: str) -> str:
    """Return ``value`` if it is a safe lower-case identifier, else raise :class:`UnsafeNameError`.

    Safe means: starts with a letter, only ``a-z``, ``0-9`` and ``_``, at most 63 characters. That keeps
    names valid as Dagster asset-key parts, partition keys (no ``|``) and path segments (no ``/``, ``..``
    or ``\\``).
    """
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise UnsafeNameError(
            f"{kind} name {value!r} is not allowed: use lower-case letters, digits and '_', "
            "starting with a letter (at most 63 characters)"
        )
    return value


def check_partition_key(value: str) -> str:
    """Return ``value`` if it is a real calendar date ``YYYY-MM-DD``, else raise :class:`UnsafeNameError`."""
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise UnsafeNameError(f"partition key {value!r} is not a date of the form YYYY-MM-DD")
    try:
        dt.date.fromisoformat(value)
    except ValueError as exc:
        raise UnsafeNameError(f"partition key {value!r} is not a valid date: {exc}") from None
    return value


@dataclass(frozen=True)
class DatasetName:
    """One dataset of the lake: its zone, client and dataset (or feature) name, all checked safe."""

    zone: str
    client: str
    dataset: str

    def __post_init__(self) -> None:
        if self.zone not in ZONES:
            raise ValueError(f"unknown zone {self.zone!r}; expected one of {list(ZONES)}")
        check_name("client", self.client)
        check_name("dataset", self.dataset)

    @property
    def asset_name(self) -> str:
        """``raw_orders``, ``validated_orders``, ``rejected_orders`` or the feature's own name."""
        return f"{self.zone}_{self.dataset}" if self.zone in PREFIXED_ZONES else self.dataset

    @property
    def path(self) -> list[str]:
        """The Dagster asset key path: ``[client, asset_name]``."""
        return [self.client, self.asset_name]

    def __str__(self) -> str:
        return f"{self.client}/{self.asset_name}"

    @classmethod
    def parse(cls, name: str | Sequence[str]) -> DatasetName:
        """Parse ``"<client>/<asset name>"`` (or an asset key path ``[client, asset name]``).

        Raises ``ValueError`` (or :class:`UnsafeNameError`) naming the input when it is not of that form.
        """
        parts = name.split("/") if isinstance(name, str) else list(name)
        if len(parts) != 2:
            raise ValueError(f"dataset {name!r} is not of the form '<client>/<dataset>'")
        client, asset_name = parts
        for zone in PREFIXED_ZONES:
            if asset_name.startswith(f"{zone}_"):
                return cls(zone, client, asset_name[len(zone) + 1 :])
        return cls(FEATURES, client, asset_name)
