"""Client rule patterns run on a linear-time engine: a crafted product code cannot stall validation."""

from __future__ import annotations

import pandas as pd
import pytest

from retina_assets.quality.validation import _orders_rules


@pytest.mark.timeout(60)  # a backtracking engine needs about 2**40 steps for this value
def test_a_catastrophic_product_code_pattern_on_a_crafted_code_is_evaluated_quickly() -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["1", "2"],
            "product_id": ["a" * 40 + "!", "aaaa"],
            "quantity": [1, 1],
            "unit_price": [1.0, 1.0],
        }
    )
    _orders_rules(frame, {"non_product_code_patterns": [r"^(a+)+$"]})
    assert frame["is_product"].tolist() == [True, False]
