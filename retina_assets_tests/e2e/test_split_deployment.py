"""The split deployment, as shipped in ``deploy/``: a code server, the webserver and the daemon as three
separate processes sharing a real PostgreSQL (``dagster-postgres``), the webserver and daemon loading the
code location over gRPC through ``deploy/workspace.yaml``. Each process is started the way every container
of ``deploy/compose.yaml`` starts, ``sh deploy/serve.sh <process>``, with values for exactly the variables
the compose file gives its containers (plus what the image sets). The drop-to-features daemon scenario
passes on it, and the webserver serves the location it loads over gRPC."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.e2e.test_daemon import Daemon, drop_to_features
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.servers import free_port, start_process, stop_process_group, wait_for_port
from retina_assets_tests.support.servers_postgres import PostgresServer

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
COMPOSE_FILE = REPO_ROOT / "deploy" / "compose.yaml"
SERVE = ["sh", "deploy/serve.sh"]  # + the process: what each compose service runs
PROCESSES = ("code-server", "webserver", "daemon")
# what the image (Dockerfile ENV) provides, and test-only settings: not in the compose file
IMAGE_VARIABLES = ("DAGSTER_HOME", "RETINA_CLIENTS_DIR")
LOCATION_QUERY = (
    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on RepositoryLocation { repositories { jobs { name } } } } } } } }"
)


def compose_environment() -> dict[str, str]:
    """The environment every service of ``deploy/compose.yaml`` that runs the project gets."""
    return dict(yaml.safe_load(COMPOSE_FILE.read_text())["x-retina-env"])


def deployment_environment(values: dict[str, str]) -> dict[str, str]:
    """``values`` for the compose file's variables, refused unless they cover exactly those variables: a
    variable added to (or dropped from) the compose file cannot go untested."""
    expected = set(compose_environment())
    assert set(values) == expected, (
        f"the split-deployment test must set exactly the compose file's variables: "
        f"missing {sorted(expected - set(values))}, extra {sorted(set(values) - expected)}"
    )
    return values


class SplitDeployment(Daemon):
    """Code server and webserver started once; ``start``/``stop`` start and stop only the daemon, as a
    daemon restart in production would."""

    def __init__(self, home: Path, env: dict[str, str]):
        super().__init__(home, env)
        self.servers: list = []

    def serve(self, process: str, log: str) -> object:
        return start_process([*SERVE, process], log, env=self.env, cwd=str(REPO_ROOT))

    def start_servers(self) -> int:
        grpc_port, web_port = int(self.env["RETINA_CODE_SERVER_PORT"]), int(self.env["RETINA_WEBSERVER_PORT"])
        for process, port in (("code-server", grpc_port), ("webserver", web_port)):
            log = str(self.home / f"{process.replace('-', '_')}.log")
            proc = self.serve(process, log)
            self.servers.append(proc)
            wait_for_port(proc, port, timeout=120, log_path=log)  # type: ignore[arg-type]
        return web_port

    def start(self) -> None:
        self.proc = self.serve("daemon", str(self.log))  # type: ignore[assignment]

    def close(self) -> None:
        self.stop()
        for proc in reversed(self.servers):
            stop_process_group(proc, timeout=20)

    def tail(self) -> str:
        logs = [self.log, self.home / "code_server.log", self.home / "webserver.log"]
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())


@pytest.fixture
def split_deployment(
    lake_env: LakeEnv, tmp_path: Path, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SplitDeployment]:
    home = tmp_path / "dagster_home"  # deploy/serve.sh writes the instance config into it
    home.mkdir()
    # a fresh database per test: the server is shared by the session
    db = f"retina_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    import psycopg2

    conn = psycopg2.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        dbname=postgres_server.db,
    )
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        conn.cursor().execute(f'CREATE DATABASE "{db}"')
    finally:
        conn.close()
    pg_env = {**postgres_server.env(), "DAGSTER_PG_DB": db}
    for key, value in pg_env.items():
        monkeypatch.setenv(key, value)  # the test's own instance reads the same database
    deployment = deployment_environment(
        {
            **pg_env,
            "RETINA_LAKE_URI": str(lake_env.lake),
            "RETINA_LANDING_URI": str(lake_env.landing),
            "RETINA_CODE_SERVER_HOST": "127.0.0.1",
            "RETINA_CODE_SERVER_PORT": str(free_port()),
            "RETINA_WEBSERVER_PORT": str(free_port()),
            "RETINA_ALERT_WEBHOOK_URL": "",
        }
    )
    image = {"DAGSTER_HOME": str(home), "RETINA_CLIENTS_DIR": str(lake_env.clients_dir)}
    assert set(image) == set(IMAGE_VARIABLES)
    env = {
        **os.environ,
        **deployment,
        **image,
        # test-only: servers on 127.0.0.1, the project's tools first on PATH, quick ticks
        "RETINA_LISTEN_HOST": "127.0.0.1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "RETINA_SENSOR_INTERVAL_SECONDS": "5",
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    deployment = SplitDeployment(home, env)
    try:
        deployment.web_port = deployment.start_servers()  # type: ignore[attr-defined]
        yield deployment
    finally:
        deployment.close()


def test_split_deployment_on_postgres_runs_drops_to_features(
    lake_env: LakeEnv, split_deployment: SplitDeployment
) -> None:
    port = split_deployment.web_port  # type: ignore[attr-defined]
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": LOCATION_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        [entry] = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "retina_assets" and entry["loadStatus"] == "LOADED", entry
    jobs = {j["name"] for r in entry["locationOrLoadError"]["repositories"] for j in r["jobs"]}
    assert "demo_ingest" in jobs, jobs

    drop_to_features(lake_env, split_deployment)

    import dagster as dg

    with dg.DagsterInstance.from_config(str(split_deployment.home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        # the runs were launched through the code server, in processes apart from the daemon
        assert instance.get_runs() and all(
            r.status == dg.DagsterRunStatus.SUCCESS for r in instance.get_runs()
        )
