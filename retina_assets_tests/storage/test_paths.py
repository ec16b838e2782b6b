"""The lake layout refuses hostile names before they become paths."""

import pytest

from retina_assets.model.naming import UnsafeNameError
from retina_assets.storage import paths


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "a|b", "", "Demo", "1abc", "a..b", "a b", "x" * 64, "..", "a\\b", "é"]
)
def test_hostile_client_and_dataset_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafeNameError, match="not allowed"):
        paths.dataset_root("/lake", "raw", name, "orders")
    with pytest.raises(UnsafeNameError):
        paths.dataset_root("/lake", "raw", "demo", name)


@pytest.mark.parametrize(
    "key", ["../2019-01-01", "2019-13-01", "2019-02-30", "2019-1-1", "2019-01-01/..", ""]
)
def test_hostile_or_invalid_partition_keys_are_refused(key: str) -> None:
    with pytest.raises(UnsafeNameError):
        paths.partition_dir("/lake", "raw", "demo", "orders", key)


def test_layout_is_hive_style_per_zone() -> None:
    assert (
        paths.partition_dir("s3://b/lake/", "features", "demo", "order_summary", "2019-08-01")
        == "s3://b/lake/features/demo/order_summary/as_of_date=2019-08-01"
    )
    assert paths.version_dir("/l", "features", "demo", "order_summary", "2019-08-01").startswith(
        "/l/_versions/features/demo/order_summary/"
    )
    assert (
        paths.version_dir("/l", "raw", "demo", "orders", "2019-08-01")
        == "/l/_versions/raw/demo/orders/as_of_date=2019-08-01"
    )
    with pytest.raises(ValueError, match="unknown zone"):
        paths.dataset_root("/l", "bronze", "demo", "orders")
