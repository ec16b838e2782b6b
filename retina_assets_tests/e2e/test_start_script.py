"""README command 1 (`scripts/start.sh`) started the way CI, ``nohup`` or a service manager start it: in the
background of a non-interactive shell, which hands it SIGINT as *ignored*. SIGTERM or SIGINT must still stop
the UI, the daemon, their code servers and any run workers promptly, leaving no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.servers import free_port

pytestmark = pytest.mark.slow

STARTUP_SECONDS = 180
STOP_SECONDS = 45  # the bound: every process of the tree is gone this long after the signal (loaded CI)


def ui_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def tree(pid: int) -> dict[int, str]:
    """The process ``pid`` and all its descendants, pid -> command line."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for proc in procs:
        try:
            out[proc.pid] = " ".join(proc.cmdline())[:160]
        except psutil.Error:
            continue
    return out


def alive(pids: dict[int, str]) -> dict[int, str]:
    out = {}
    for pid, cmd in pids.items():
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out[pid] = cmd
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_start_script_in_the_background_stops_on_a_signal_with_nothing_left(
    tmp_path: Path, sig: signal.Signals
) -> None:
    port = free_port()
    log = tmp_path / "start.log"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path / "home"),
        "RETINA_LAKE_URI": str(tmp_path / "lake"),
        "RETINA_LANDING_URI": str(tmp_path / "landing"),
        "RETINA_DEMO_DAYS": "1",
        "DAGSTER_PORT": str(port),
    }
    # exactly what a CI script or service wrapper does: `cmd &` in a non-interactive shell, then exit
    launcher = subprocess.run(
        ["bash", "-c", f"bash scripts/start.sh >{log} 2>&1 & echo $!"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    pid = int(launcher.stdout.strip())
    seen: dict[int, str] = {}
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ui_answers(port):
            assert time.monotonic() < deadline, f"UI never answered:\n{log.read_text()[-3000:]}"
            assert psutil.pid_exists(pid), f"start.sh exited:\n{log.read_text()[-3000:]}"
            seen |= tree(pid)
            time.sleep(1)
        # let the daemon start its code server (and the sensors their first runs) so the tree is complete
        for _ in range(10):
            seen |= tree(pid)
            time.sleep(1)
        assert any("dagster._daemon" in c or "dagster-daemon" in c for c in seen.values()), seen
        assert any("dagster_webserver" in c or "dagster-webserver" in c for c in seen.values()), seen

        os.kill(pid, sig)
        stop_deadline = time.monotonic() + STOP_SECONDS
        while alive(seen) and time.monotonic() < stop_deadline:
            time.sleep(0.5)
        left = alive(seen)
        assert not left, f"{len(left)} process(es) still running {STOP_SECONDS}s after {sig.name}: {left}"
        assert not ui_answers(port)
    finally:
        for leftover in alive(seen):  # only the processes this test started, by id
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)
