"""The server fixtures' rules: skip with a reason locally when a server is missing, fail on CI."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from retina_assets_tests.support.servers import start_process, stop_process_group, unavailable


def test_a_missing_server_skips_locally_and_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Azurite not installed"):
        unavailable("Azurite not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="unavailable on CI: Azurite not installed"):
        unavailable("Azurite not installed")


def test_stopping_kills_a_process_group_that_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); print('up', flush=True); time.sleep(300)"
    )
    log = tmp_path / "proc.log"
    proc = start_process([sys.executable, "-c", code], str(log))
    for _ in range(100):
        if log.exists() and "up" in log.read_text():
            break
        time.sleep(0.1)
    stop_process_group(proc, timeout=1)
    assert proc.returncode is not None and proc.returncode < 0  # killed, not hung
