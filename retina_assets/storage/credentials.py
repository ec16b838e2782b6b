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

# field -> the environment variables it is read from by default (first one set wins)
ENV_VARS: dict[str, tuple[str, ...]] = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID",),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "s3_endpoint_url": ("RETINA_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL"),
    "azure_connection_string": ("AZURE_STORAGE_CONNECTION_STRING",),
    "azure_account_name": ("AZURE_STORAGE_ACCOUNT_NAME",),
    "azure_account_key": ("AZURE_STORAGE_ACCOUNT_KEY",),
    "azure_sas_token": ("AZURE_STORAGE_SAS_TOKEN",),
}


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
        """Each field as an :class:`dagster.EnvVar` of the first of its :data:`ENV_VARS` that is set now
        (unset fields stay empty, so a local-only deployment needs no variables at all)."""
        environ = os.environ if environ is None else environ
        fields: dict[str, Any] = {}
        for name, variables in ENV_VARS.items():
            found = next((v for v in variables if environ.get(v)), None)
            if found is not None:
                fields[name] = dg.EnvVar(found)
        return cls(**fields)

    def storage_options(self, uri: str) -> dict[str, Any] | None:
        """fsspec ``storage_options`` for ``uri`` (``s3://``, ``abfs://``), or ``None`` for local paths and
        when no field for that store is set (then s3fs/adlfs read the environment themselves)."""
        scheme = uri.split("://", 1)[0] if "://" in uri else "file"
        options: dict[str, Any] = {}
        if scheme in ("s3", "s3a"):
            options = {
                "key": self.aws_access_key_id,
                "secret": self.aws_secret_access_key,
                "token": self.aws_session_token,
                "endpoint_url": self.s3_endpoint_url,
            }
        elif scheme in ("abfs", "abfss", "az"):
            if self.azure_connection_string:
                options = {"connection_string": self.azure_connection_string}
            else:
                options = {
                    "account_name": self.azure_account_name,
                    "account_key": self.azure_account_key,
                    "sas_token": self.azure_sas_token,
                }
                if self.azure_account_name and not (self.azure_account_key or self.azure_sas_token):
                    options["anon"] = False  # the account name alone: DefaultAzureCredential (identity)
        options = {k: v for k, v in options.items() if v is not None and v != ""}
        return options or None

    def __repr__(self) -> str:  # never show a credential value, resolved or not
        configured = sorted(name for name in ENV_VARS if getattr(self, name, None) is not None)
        return f"StorageCredentials(configured={configured})"

    __str__ = __repr__
