"""A Dagster resource giving assets read access to the lake's version records."""

from __future__ import annotations

import dagster as dg

from retina_assets.storage.versioned_store import VersionedStore


class LakeResource(dg.ConfigurableResource):
    """The lake at ``lake_uri`` (local path, ``s3://`` or ``abfs://``)."""

    lake_uri: str

    def store(self) -> VersionedStore:
        return VersionedStore(self.lake_uri)
