"""Tests of the Dagster-free tools at the package top level: the lake API (``retina_assets.lake``)."""
