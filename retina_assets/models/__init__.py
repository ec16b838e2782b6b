"""Models fitted on features: plain functions of dataframes (no Dagster), called by the production
notebooks in ``notebooks/production/`` and usable from any notebook or script."""
