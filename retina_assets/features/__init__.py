"""Features: model-ready datasets built from validated data, accumulated in hive partitions under
``<lake>/features``.

:data:`FEATURES` is the registry: adding a feature is writing its module (a :class:`Feature` with its
builders) and listing it here. Client specs, the Dagster assets, the drop sensor and the Spark engine all
follow this registry.
"""

from retina_assets.features.customer_rfm import CUSTOMER_RFM
from retina_assets.features.order_summary import ORDER_SUMMARY
from retina_assets.features.registry import Feature, build_in_process

FEATURES: dict[str, Feature] = {feature.name: feature for feature in (ORDER_SUMMARY, CUSTOMER_RFM)}


def feature_catalog() -> dict[str, tuple[str, ...]]:
    """Feature name -> the canonical datasets it reads: what client specs are checked against."""
    return {name: feature.reads for name, feature in FEATURES.items()}


__all__ = ["FEATURES", "Feature", "build_in_process", "feature_catalog"]
