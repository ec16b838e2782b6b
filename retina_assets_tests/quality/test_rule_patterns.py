"""Client rule patterns run on a linear-time engine: a crafted product code cannot stall validation."""

from __future__ import annotations

import polars as pl
import pytest

from retina_assets.quality.validation import _search


@pytest.mark.timeout(60)  # a backtracking engine needs about 2**40 steps for this value
def test_a_catastrophic_product_code_pattern_on_a_crafted_code_is_evaluated_quickly() -> None:
    codes = pl.DataFrame({"product_id": ["a" * 40 + "!", "aaaa"]})
    matched = codes.select(_search(pl.col("product_id"), r"^(a+)+$").alias("hit"))["hit"].to_list()
    assert matched == [False, True]
