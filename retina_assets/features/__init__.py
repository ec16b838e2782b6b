"""Features: model-ready datasets accumulated in hive partitions under ``<lake>/features``."""
