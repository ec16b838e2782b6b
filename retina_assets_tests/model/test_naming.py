"""Dataset names are parsed and formatted in one place, for every zone, and hostile names never get through."""

from __future__ import annotations

import pytest

from retina_assets.model.naming import FEATURES, RAW, REJECTED, VALIDATED, ZONES, DatasetName, UnsafeNameError


@pytest.mark.parametrize(
    ("text", "zone", "dataset"),
    [
        ("demo/raw_orders", RAW, "orders"),
        ("demo/validated_orders", VALIDATED, "orders"),
        ("demo/rejected_orders", REJECTED, "orders"),
        ("demo/order_summary", FEATURES, "order_summary"),
        ("demo/raw_raw_orders", RAW, "raw_orders"),  # only the first prefix names the zone
    ],
)
def test_names_round_trip_through_every_zone(text: str, zone: str, dataset: str) -> None:
    name = DatasetName.parse(text)
    assert (name.zone, name.client, name.dataset) == (zone, "demo", dataset)
    assert str(name) == text and DatasetName.parse(name.path) == name
    assert name.path == text.split("/")


def test_every_zone_formats_back_to_an_asset_name() -> None:
    assert [DatasetName(zone, "acme", "orders").asset_name for zone in ZONES] == [
        "raw_orders",
        "validated_orders",
        "rejected_orders",
        "orders",
    ]


@pytest.mark.parametrize(
    "text", ["demo", "a/b/c", "demo/", "../etc/raw_orders", "Demo/raw_orders", "demo/raw_a|b"]
)
def test_malformed_or_hostile_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        DatasetName.parse(text)


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown zone 'bronze'"):
        DatasetName("bronze", "demo", "orders")
    with pytest.raises(UnsafeNameError, match="not allowed"):
        DatasetName(RAW, "demo", "../orders")
