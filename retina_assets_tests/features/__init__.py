"""Tests of ``retina_assets.features``: feature definitions and their registry."""
