"""Helpers shared by the server fixtures: free ports, waiting for a port, stopping a process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest


def in_ci() -> bool:
    """True on CI (``CI=true``), where a missing test server is a failure, never a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip the test with ``reason`` locally; fail it on CI (servers must run there)."""
    if in_ci():
        pytest.fail(f"test server unavailable on CI: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(proc: subprocess.Popen[bytes], port: int, timeout: float, log_path: str) -> None:
    """Return once 127.0.0.1:``port`` accepts connections; raise with the server's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    stop_process_group(proc)
    with open(log_path, errors="replace") as fh:
        tail = fh.read()[-3000:]
    raise RuntimeError(f"server did not open 127.0.0.1:{port} within {timeout:.0f}s; log:\n{tail}")


def start_process(
    args: list[str], log_path: str, env: dict[str, str] | None = None, cwd: str | None = None
) -> subprocess.Popen[bytes]:
    """Start ``args`` in a new process group (so the whole tree can be stopped), output to ``log_path``."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM every process of ``proc``'s group (e.g. a launcher shell and the server it started), SIGKILL
    what is left after ``timeout`` seconds. Returns once the group is gone (at most ~2 x ``timeout``)."""
    pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(pgid):
            break
        os.killpg(pgid, sig)
        deadline = time.monotonic() + timeout
        while _group_alive(pgid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.2)
    proc.wait(timeout=timeout)
