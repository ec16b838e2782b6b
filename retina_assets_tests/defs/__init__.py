"""Tests of the Dagster layer ``retina_assets.defs``: sensors, asset checks and the gate, resources,
engine choice, re-validation and how the code location treats bad client specs."""
