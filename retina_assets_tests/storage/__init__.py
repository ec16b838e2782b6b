"""Tests of ``retina_assets.storage``: lake paths, the versioned store, file systems and object stores."""
