"""Tests of ``retina_assets.engines``: the Spark engine (local and Spark Connect) against the in-process one."""
