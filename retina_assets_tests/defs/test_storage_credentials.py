"""Object-store credentials come from Dagster EnvVar fields of the StorageCredentials resource: the resource's
values are what the storage layer uses (Azurite checks the account key), under any variable name, and no
value is ever shown."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs.resources import StorageCredentials
from retina_assets.settings import REPO_ROOT, LakeSettings
from retina_assets.storage.filesystem import filesystem_for
from retina_assets_tests.support.object_store import upload_demo_drops
from retina_assets_tests.support.servers_azure import AZURITE_KEY, AzureEnv

INGEST_KEYS = ["demo/raw_orders", "demo/validated_orders", "demo/rejected_orders", "demo/order_summary"]


def test_from_env_uses_env_var_names_of_what_is_set() -> None:
    environ = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_ENDPOINT_URL": "http://x"}
    creds = StorageCredentials.from_env(environ)
    assert creds.aws_access_key_id == dg.EnvVar("AWS_ACCESS_KEY_ID")
    assert creds.aws_secret_access_key == dg.EnvVar("AWS_SECRET_ACCESS_KEY")
    assert creds.s3_endpoint_url == dg.EnvVar("AWS_ENDPOINT_URL")
    assert creds.azure_account_key is None and creds.aws_session_token is None
    # the project's own endpoint variable wins over the AWS one
    both = StorageCredentials.from_env({**environ, "RETINA_S3_ENDPOINT_URL": "http://y"})
    assert both.s3_endpoint_url == dg.EnvVar("RETINA_S3_ENDPOINT_URL")
    assert StorageCredentials.from_env({}) == StorageCredentials()


def test_storage_options_per_store_and_never_a_value_in_repr() -> None:
    creds = StorageCredentials(
        aws_access_key_id="id",
        aws_secret_access_key="s3cr3t-value",
        s3_endpoint_url="http://127.0.0.1:9",
        azure_account_name="acct",
        azure_account_key="azure-s3cr3t",
    )
    assert creds.storage_options("s3://bucket/lake") == {
        "key": "id",
        "secret": "s3cr3t-value",
        "endpoint_url": "http://127.0.0.1:9",
    }
    assert creds.storage_options("abfs://container/lake") == {
        "account_name": "acct",
        "account_key": "azure-s3cr3t",
    }
    assert creds.storage_options("/local/lake") is None
    assert StorageCredentials().storage_options("s3://bucket") is None  # falls back to the environment
    for text in (repr(creds), str(creds), repr(filesystem_for("s3://b", creds.storage_options("s3://b")))):
        assert "s3cr3t" not in text
    with_conn = StorageCredentials(azure_connection_string="DefaultEndpointsProtocol=http;AccountKey=k")
    assert with_conn.storage_options("abfs://c") == {
        "connection_string": "DefaultEndpointsProtocol=http;AccountKey=k"
    }


def _materialize_day(defs: dg.Definitions, day: str) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def("demo_ingest").execute_in_process(
            partition_key=day, instance=instance, raise_on_error=False
        )


def test_pipeline_uses_the_resource_credentials_under_any_variable_name(
    azure_env: AzureEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake, landing = azure_env.uri("lake"), azure_env.uri("landing")
    upload_demo_drops(landing, tmp_path, days=1)
    # move the connection string to a deployment-specific variable: the libraries cannot find it any more
    # (no run without credentials here: adlfs would then try the public Azure endpoint, off this machine)
    connection = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("ACME_BLOB_CONNECTION", connection)
    settings = LakeSettings(lake, landing, str(REPO_ROOT / "clients"))
    assert StorageCredentials.from_env().azure_connection_string is None

    # a wrong key through the resource is rejected by the emulator: the resource's value is what is used
    wrong = connection.replace(AZURITE_KEY, "d3Jvbmcga2V5" * 4)
    monkeypatch.setenv("ACME_BLOB_WRONG", wrong)
    bad = StorageCredentials(azure_connection_string=dg.EnvVar("ACME_BLOB_WRONG"))
    assert not _materialize_day(build_definitions(settings, credentials=bad), "2010-12-01").success

    good = StorageCredentials(azure_connection_string=dg.EnvVar("ACME_BLOB_CONNECTION"))
    defs = build_definitions(settings, credentials=good)
    result = _materialize_day(defs, "2010-12-01")
    assert result.success
    written = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert set(INGEST_KEYS) <= written
    # the UI/run config side sees only the variable name
    assert all(AZURITE_KEY not in repr(resource) for resource in defs.resources.values())
    assert "ACME_BLOB_CONNECTION" in repr(good.azure_connection_string)
