"""Tests of ``retina_assets.ingestion``: readers, transcoding, coercion, raw conversion and schema drift."""
