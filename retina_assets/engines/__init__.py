"""Execution engines: in-process (pandas/polars) or Spark (local mode or Spark Connect)."""
