"""Object-store credentials as Dagster config whose values come from environment variables.

:class:`StorageCredentials` is part of the config of the ``lake_io_manager``, ``lake`` and ``landing``
resources, with :class:`dagster.EnvVar` fields (see :meth:`from_env`): Dagster resolves them when a run or
sensor starts, the UI and run config show only the variable *names*, and the
values reach s3fs/adlfs as ``storage_options`` without ever being logged (every ``repr`` in the storage layer
leaves them out). A deployment can point any field at its own variable, e.g. one key pair per client bucket:
``StorageCredentials(aws_access_key_id=dg.EnvVar("ACME_S3_KEY_ID"), ...)``.

Without any field set the storage layer falls back to the libraries' own environment lookup (``AWS_*``,
``AZURE_STORAGE_*``), which is also what the Dagster-free :mod:`retina_assets.lake` API uses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg

from retina_assets.storage.filesystem import (
    AZURE_SCHEMES,
    CREDENTIAL_ENV_VARS,
    S3_SCHEMES,
    credential_options,
)


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
