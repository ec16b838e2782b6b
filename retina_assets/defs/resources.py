"""The Dagster resources of the lake: storage credentials, the lake, the landing zone, Spark, engine config.

Object-store credentials are Dagster config whose values come from environment variables.

:class:`StorageCredentials` is part of the config of the ``lake_io_manager``, ``lake`` and ``landing``
resources, with :class:`dagster.EnvVar` fields (see :meth:`from_env`): Dagster resolves them when a run or
sensor starts, the UI and run config show only the variable *names*, and the
values reach s3fs/adlfs as ``storage_options`` without ever being logged (every ``repr`` in the storage layer
leaves them out). A deployment can point any field at its own variable, e.g. one key pair per client bucket:
``StorageCredentials(aws_access_key_id=dg.EnvVar("ACME_S3_KEY_ID"), ...)``.

Without any field set the storage layer falls back to the libraries' own environment lookup (``AWS_*``,
``AZURE_STORAGE_*``), which is also what the Dagster-free :mod:`retina_assets.lake` API uses.

Every resource only holds configuration and hands it to the Dagster-free layers below (storage, engines).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from pydantic import Field

from retina_assets.engines.spark import (
    describe_spark,
    local_spark_config,
    spark_remote,
    spark_session,
    stop_connect_sessions,
)
from retina_assets.model.provenance import provenance_basis
from retina_assets.model.spec import ENGINES, ClientSpec
from retina_assets.storage.content_store import spec_location, store_spec
from retina_assets.storage.filesystem import (
    AZURE_SCHEMES,
    CREDENTIAL_ENV_VARS,
    S3_SCHEMES,
    LakeFileSystem,
    credential_options,
    filesystem_for,
)
from retina_assets.storage.versioned_store import VersionedStore


class StorageCredentials(dg.Config):
    """Credentials for S3 (or an S3-compatible endpoint) and Azure Blob/ADLS; every field optional."""

    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    s3_endpoint_url: str | None = None
    azure_connection_string: str | None = None
    azure_account_name: str | None = None
    azure_account_key: str | None = None
    azure_sas_token: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageCredentials:
        """Each field as an :class:`dagster.EnvVar` of the first of its variables in :data:`~retina_assets.storage.filesystem.CREDENTIAL_ENV_VARS` that is set now
        (unset fields stay empty, so a local-only deployment needs no variables at all)."""
        environ = os.environ if environ is None else environ
        fields: dict[str, Any] = {}
        for name, variables in CREDENTIAL_ENV_VARS.items():
            found = next((v for v in variables if environ.get(v)), None)
            if found is not None:
                fields[name] = dg.EnvVar(found)
        return cls(**fields)

    def storage_options(self, uri: str) -> dict[str, Any] | None:
        """fsspec ``storage_options`` for ``uri`` (``s3://``, ``abfs://``), or ``None`` for local paths and
        when no field for that store is set (then the storage layer reads the environment itself)."""
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        prefixes = ("aws_", "s3_") if scheme in S3_SCHEMES else ("azure_",) if scheme in AZURE_SCHEMES else ()
        settings = {name: getattr(self, name) for name in CREDENTIAL_ENV_VARS if name.startswith(prefixes)}
        if not any(settings.values()):
            return None
        return credential_options(scheme, settings)

    def __repr__(self) -> str:  # never show a credential value, resolved or not
        configured = sorted(name for name in CREDENTIAL_ENV_VARS if getattr(self, name, None) is not None)
        return f"StorageCredentials(configured={configured})"

    __str__ = __repr__


class LakeResource(dg.ConfigurableResource):
    """The lake at ``lake_uri`` (local path, ``s3://`` or ``abfs://``), with the object store's
    ``credentials`` (:class:`StorageCredentials`, ``EnvVar`` fields)."""

    lake_uri: str
    credentials: StorageCredentials = StorageCredentials()

    def storage_options(self) -> dict[str, Any] | None:
        return self.credentials.storage_options(self.lake_uri)

    def store(self) -> VersionedStore:
        return VersionedStore(self.lake_uri, storage_options=self.storage_options())

    def provenance_basis(
        self, client: ClientSpec, zone: str, dataset: str, engine: str, store: bool = True
    ) -> dict[str, Any]:
        """The provenance a stage knows of the version it makes (see
        :func:`retina_assets.model.provenance.provenance_basis`), with the client's spec stored once in the
        lake, content-addressed (``<lake>/_specs/<client>/<sha256>.json``), so the version can be rebuilt
        with exactly that spec. ``store=False`` only names the location (the caller stores it later with
        :meth:`store_spec`)."""
        fs = self.store().fs
        spec_uri = store_spec(fs, client) if store else spec_location(fs, client)[0]
        return provenance_basis(client, zone, dataset, engine, spec_uri)

    def store_spec(self, client: ClientSpec) -> str:
        """Store the client's spec document in the lake (once); returns its URI."""
        return store_spec(self.store().fs, client)

    def filesystem(self) -> LakeFileSystem:
        """The lake's filesystem (for state kept beside the versions, e.g. the drop sensors' state)."""
        return filesystem_for(self.lake_uri, self.storage_options())


class LandingResource(dg.ConfigurableResource):
    """Where clients' drops land: a local folder, ``s3://bucket/prefix`` or ``abfs://container/prefix``.

    A client's drops are in ``<landing_uri>/<client>/`` unless its spec names its own ``landing``.
    """

    landing_uri: str
    credentials: StorageCredentials = StorageCredentials()

    def filesystem(self, client: ClientSpec) -> LakeFileSystem:
        uri = self.client_uri(client)
        return filesystem_for(uri, self.credentials.storage_options(uri))

    def client_uri(self, client: ClientSpec) -> str:
        return client.landing_uri(self.landing_uri)


class SparkResource(dg.ConfigurableResource):
    """Spark for steps on the Spark engine: local mode with ``spark_config``, or the Spark Connect server at
    ``remote`` (or ``$RETINA_SPARK_REMOTE`` when empty). Sessions come from
    :func:`retina_assets.engines.spark.spark_session`; none is started unless a step asks for one, so
    in-process runs pay nothing for Spark."""

    spark_config: dict[str, str] = Field(default_factory=local_spark_config)
    remote: str = Field(default="", description="sc://host:port; empty = $RETINA_SPARK_REMOTE or local")

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Close the Spark Connect session this run used (the local session is reused by the process)."""
        if self.remote_url():
            stop_connect_sessions()

    def remote_url(self) -> str | None:
        """The Spark Connect URL in effect, or ``None`` for local mode."""
        return spark_remote(self.remote)

    def session(self) -> Any:
        """A Spark Connect session if a remote is set, else the process's local session."""
        return spark_session(self.remote, self.spark_config)

    def describe(self) -> str:
        """``"spark connect sc://..."`` or ``"spark local[2]"``, for logs and metadata."""
        return describe_spark(self.remote, self.spark_config)


class EngineConfig(dg.Config):
    """Run config of every step that can run on either engine (validation, features).

    ``engine`` overrides the client's spec ``engine`` for this run; empty means "use the spec".
    """

    engine: str = Field(default="", description="pandas | spark; empty = the client's spec `engine`")

    def resolve(self, client: ClientSpec) -> str:
        """The engine in effect: this run's choice, else the client's; a clear error for anything else."""
        engine = self.engine or client.engine
        if engine not in ENGINES:
            raise dg.Failure(
                f"unknown engine {engine!r} in the run config of client {client.client!r}; "
                f"expected one of {list(ENGINES)}"
            )
        return engine
