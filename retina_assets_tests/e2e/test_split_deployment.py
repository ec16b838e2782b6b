"""The split deployment, as shipped in ``deploy/``: a code server (``dagster code-server start``), the
webserver and the daemon as three separate processes sharing a real PostgreSQL (``dagster-postgres``),
the webserver and daemon loading the code location over gRPC through ``deploy/workspace.yaml``. The
drop-to-features daemon scenario passes on it, and the webserver serves the location it loads over gRPC."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.e2e.test_daemon import Daemon, drop_to_features
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.servers import free_port, start_process, stop_process_group, wait_for_port
from retina_assets_tests.support.servers_postgres import PostgresServer

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
LOCATION_QUERY = (
    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on RepositoryLocation { repositories { jobs { name } } } } } } } }"
)


class SplitDeployment(Daemon):
    """Code server and webserver started once; ``start``/``stop`` start and stop only the daemon, as a
    daemon restart in production would."""

    def __init__(self, home: Path, env: dict[str, str]):
        super().__init__(home, env)
        self.workspace = str(REPO_ROOT / "deploy" / "workspace.yaml")
        self.servers: list = []

    def start_servers(self) -> int:
        grpc_port, web_port = int(self.env["RETINA_CODE_SERVER_PORT"]), free_port()
        code_log = str(self.home / "code_server.log")
        code = start_process(
            [str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port),
             "-m", "retina_assets.definitions"],
            code_log,
            env=self.env,
        )  # fmt: skip
        self.servers.append(code)
        wait_for_port(code, grpc_port, timeout=120, log_path=code_log)
        web_log = str(self.home / "webserver.log")
        web = start_process(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port), "-w", self.workspace],
            web_log,
            env=self.env,
        )
        self.servers.append(web)
        wait_for_port(web, web_port, timeout=120, log_path=web_log)
        return web_port

    def start(self) -> None:
        args = [str(BIN / "dagster-daemon"), "run", "-w", self.workspace]
        self.proc = start_process(args, str(self.log), env=self.env)

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
    home = tmp_path / "dagster_home"
    home.mkdir()
    # the instance config the deployment uses: the repository's dagster.yaml plus the Postgres storage block
    config = (
        (REPO_ROOT / "dagster.yaml").read_text()
        + "\n"
        + (REPO_ROOT / "deploy" / "postgres-storage.yaml").read_text()
    )
    (home / "dagster.yaml").write_text(config)
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
    env = {
        **os.environ,
        **pg_env,
        "DAGSTER_HOME": str(home),
        "RETINA_LAKE_URI": str(lake_env.lake),
        "RETINA_LANDING_URI": str(lake_env.landing),
        "RETINA_CLIENTS_DIR": str(lake_env.clients_dir),
        "RETINA_SENSOR_INTERVAL_SECONDS": "5",
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",
        "RETINA_CODE_SERVER_HOST": "127.0.0.1",
        "RETINA_CODE_SERVER_PORT": str(free_port()),
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
