"""Tests of ``retina_assets.model``: client specs, contracts, naming."""
