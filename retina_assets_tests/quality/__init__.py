"""Tests of ``retina_assets.quality``: contracts applied to data, quarantine, bucketed validation."""
