"""``deploy/compose.yaml`` cannot be started here (no container engine runs on this project's machines, see
the README), so it is held to what is tested instead: each project service runs the same
``sh deploy/serve.sh <process>`` that the split-deployment test runs as a process, with the same set of
variables, and everything the processes read (the workspace's and the storage block's ``env`` settings,
the script's variables) is given by the compose file or the image. Names, ports, volumes and start order
agree across the services and with the Dockerfile."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.e2e.test_split_deployment import (
    COMPOSE_FILE,
    IMAGE_VARIABLES,
    PROCESSES,
    SERVE,
    compose_environment,
)

DEPLOY = REPO_ROOT / "deploy"
# read by deploy/serve.sh with a default, or only to override where servers listen (tests: 127.0.0.1)
OPTIONAL_SCRIPT_VARIABLES = {"RETINA_LISTEN_HOST"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_settings(node: Any) -> set[str]:
    """Every variable named by an ``{env: NAME}`` setting in a Dagster YAML file."""
    if isinstance(node, dict):
        found = {node["env"]} if set(node) == {"env"} else set()
        return found.union(*(env_settings(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(env_settings(v) for v in node))
    return set()


def dockerfile_env() -> set[str]:
    text = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("ENV "):
            names |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", line))
    return names


def test_each_project_service_runs_a_tested_process_with_the_shared_environment(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", *PROCESSES}
    for process in PROCESSES:
        service = services[process]
        assert service["command"] == [*SERVE, process], process
        assert service["image"] == "retina-assets" and service["environment"] == compose_environment()
    assert services["code-server"]["build"] == ".."  # the image is built once, from the Dockerfile


def test_everything_the_processes_read_is_set_by_the_compose_file_or_the_image(compose: dict) -> None:
    given = set(compose_environment()) | dockerfile_env()
    read = env_settings(yaml.safe_load((DEPLOY / "workspace.yaml").read_text()))
    read |= env_settings(yaml.safe_load((DEPLOY / "postgres-storage.yaml").read_text()))
    script = (DEPLOY / "serve.sh").read_text()
    read |= set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", script)) - OPTIONAL_SCRIPT_VARIABLES
    assert read <= given, sorted(read - given)
    assert set(IMAGE_VARIABLES) <= dockerfile_env()
    # the script runs from the image's working folder, where the files it reads are copied
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "WORKDIR /app" in dockerfile and "COPY deploy ./deploy" in dockerfile
    assert re.search(r"COPY dagster\.yaml\b", dockerfile)


def test_names_ports_volumes_and_start_order_agree(compose: dict) -> None:
    env, services = compose_environment(), compose["services"]
    postgres = services["postgres"]["environment"]
    assert env["DAGSTER_PG_HOST"] == "postgres" and env["DAGSTER_PG_PORT"] == "5432"
    assert (env["DAGSTER_PG_USER"], env["DAGSTER_PG_DB"]) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_DB"],
    )
    assert env["DAGSTER_PG_PASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert env["RETINA_CODE_SERVER_HOST"] == "code-server"
    [published] = services["webserver"]["ports"]
    host, _, container_port = published.rpartition(":")
    assert container_port == env["RETINA_WEBSERVER_PORT"] and host.startswith("127.0.0.1:")
    assert "ports" not in services["code-server"] and "ports" not in services["daemon"]  # inside only
    # runs execute in the code server (launched through it) and the daemon's sensors read the landing
    for process in ("code-server", "daemon"):
        mounts = {v.split(":")[1] for v in services[process]["volumes"]}
        for variable in ("RETINA_LAKE_URI", "RETINA_LANDING_URI"):
            default = re.fullmatch(r"\$\{\w+:-(.+)\}", env[variable])
            assert default and default.group(1) in mounts, (process, variable)
    for process in PROCESSES:
        assert services[process]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for process in ("webserver", "daemon"):
        assert services[process]["depends_on"]["code-server"] == {"condition": "service_started"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
