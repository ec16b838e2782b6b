"""Pytest plugin: a throwaway PostgreSQL server (Debian's ``postgresql`` package) on 127.0.0.1.

``postgres_server`` runs ``initdb`` into a fresh temporary data directory and ``pg_ctl start`` on a free port,
listening on 127.0.0.1 only (and a socket in the data directory), and stops it with ``pg_ctl stop -m fast``
afterwards. PostgreSQL refuses to run as root, so as root (CI) both run as the ``postgres`` system user with
``runuser``. Installed by ``scripts/install_system_packages.sh``; locally the test skips without it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from retina_assets_tests.support.servers import free_port, unavailable

PG_USER = "dagster"
PG_DB = "dagster"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    db: str

    def env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/postgres-storage.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": "",
            "DAGSTER_PG_DB": self.db,
        }


def _bindir() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _bindir()
    if bindir is None:
        unavailable("PostgreSQL server not installed; run scripts/install_system_packages.sh")
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    # /tmp itself, not pytest's tmp folder: the postgres user must be able to reach the data directory
    base = tempfile.mkdtemp(prefix="pgsql-test-")
    data = os.path.join(base, "data")
    log = os.path.join(base, "server.log")
    if as_root:
        shutil.chown(base, "postgres")
    port = free_port()

    def run(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    try:
        run(f"{bindir}/initdb", "-D", data, "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-h 127.0.0.1 -p {port} -k {data} -c fsync=off -c max_connections=200"
        run(f"{bindir}/pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')[-2000:]}")
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(
            [f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
        ).returncode:
            assert time.monotonic() < deadline, "PostgreSQL did not become ready"
            time.sleep(0.3)
        subprocess.run(
            [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", PG_USER, PG_DB], check=True
        )
        yield PostgresServer("127.0.0.1", port, PG_USER, PG_DB)
    finally:
        subprocess.run(
            [*prefix, f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "-t", "60", "stop"],
            capture_output=True,
            timeout=90,
        )
        shutil.rmtree(base, ignore_errors=True)
