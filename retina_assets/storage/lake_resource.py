"""A Dagster resource giving assets read access to the lake's version records."""

import dagster as dg

from retina_assets.storage.credentials import StorageCredentials
from retina_assets.storage.versioned_store import VersionedStore


class LakeResource(dg.ConfigurableResource):
    """The lake at ``lake_uri`` (local path, ``s3://`` or ``abfs://``), with the object store's
    ``credentials`` (:class:`StorageCredentials`, ``EnvVar`` fields)."""

    lake_uri: str
    credentials: StorageCredentials = StorageCredentials()

    def store(self) -> VersionedStore:
        return VersionedStore(self.lake_uri, storage_options=self.credentials.storage_options(self.lake_uri))
