"""The Dagster UI in a real browser: Playwright (Python) driving Debian's Chromium (``/usr/bin/chromium``, never
a downloaded browser build) against a ``dagster dev`` started here over a temporary lake, with the demo
client's drops ingested by its sensor: a good day (2010-12-01) and a day whose drop has too many zero-price
lines (2010-12-02, blocked by the ``reject_fraction`` check).

Each step saves a screenshot into ``test-artifacts/browser/`` (kept by ``.ci/run``); a failing step saves
``<step>-FAILED.png`` there too."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.servers import free_port, start_process, stop_process_group, unavailable

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
WAIT_SECONDS = 240
GOOD, BLOCKED = "2010-12-01", "2010-12-02"


@dataclass
class UI:
    base: str
    home: Path
    instance: dg.DagsterInstance
    log: Path

    def runs_done(self, count: int) -> bool:
        runs = self.instance.get_runs()
        return len(runs) >= count and all(r.is_finished for r in runs)


def wait_for(what: str, condition, ui: UI) -> None:  # noqa: ANN001
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    pytest.fail(
        f"timed out waiting for {what}; dagster dev log:\n{ui.log.read_text(errors='replace')[-4000:]}"
    )


def blocked_drop(good: bytes) -> bytes:
    """The day's drop with the unit price of every third line set to 0 (quarantined as ``zero_price``)."""
    lines = good.split(b"\r\n")
    header = lines[0].split(b";")
    price = header.index(b"UnitPrice")
    out = [lines[0]]
    for i, line in enumerate(lines[1:]):
        fields = line.split(b";")
        if len(fields) == len(header) and i % 3 == 0:
            fields[price] = b"0"
        out.append(b";".join(fields))
    return b"\r\n".join(out)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    if not os.path.exists(CHROMIUM):
        unavailable("Debian's chromium is not installed; run scripts/install_system_packages.sh")
    from retina_assets.demo import SAMPLE, write_drops

    root = tmp_path_factory.mktemp("ui")
    env_paths = LakeEnv(root / "lake", root / "landing", REPO_ROOT / "clients")
    env_paths.lake.mkdir()
    env_paths.landing.mkdir()
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "RETINA_LAKE_URI": str(env_paths.lake),
        "RETINA_LANDING_URI": str(env_paths.landing),
        "RETINA_CLIENTS_DIR": str(env_paths.clients_dir),
        "RETINA_SENSOR_INTERVAL_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }
    log = root / "dagster_dev.log"
    dagster = str(Path(sys.executable).with_name("dagster"))
    # the instance's SQLite storage is created before dagster dev starts (no migration race)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        proc = start_process(
            [dagster, "dev", "-w", str(REPO_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            str(log),
            env=env,
        )
        ui = UI(f"http://127.0.0.1:{port}", home, instance, log)
        try:
            [good] = write_drops(env_paths.landing, source=SAMPLE, days=1)
            wait_for("the good day's run", lambda: ui.runs_done(1), ui)
            tmp = good.with_name(".blocked.tmp")
            tmp.write_bytes(blocked_drop(good.read_bytes()))
            os.replace(tmp, good.with_name("orders_20101202.csv"))
            wait_for("the blocked day's run", lambda: ui.runs_done(2), ui)
            yield ui
        finally:
            stop_process_group(proc, timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator[object]:  # noqa: ANN001
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-FAILED.png"), full_page=True)
    context.close()


def open_page(page, url: str) -> None:  # noqa: ANN001
    page.goto(url, wait_until="networkidle")
    # the first visit shows a newsletter dialog over everything
    with contextlib.suppress(Exception):
        page.get_by_role("button", name="Skip").click(timeout=5_000)


def test_lineage_shows_the_three_client_groups(ui: UI, page) -> None:  # noqa: ANN001
    open_page(page, f"{ui.base}/asset-groups")
    page.get_by_text("Global asset lineage").wait_for()
    for group in ("cdnow", "completejourney", "demo"):
        page.get_by_text(group, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "lineage.png"))


def test_materialize_a_partition_from_the_asset_page_runs_and_succeeds(ui: UI, page) -> None:  # noqa: ANN001
    before = {r.run_id for r in ui.instance.get_runs()}
    open_page(page, f"{ui.base}/assets/demo/order_summary")
    page.get_by_role("button", name="Materialize…").click()
    page.get_by_role("button", name="Custom").click()
    page.get_by_placeholder("ex: 2010-12-01").fill(GOOD)
    page.keyboard.press("Enter")
    page.screenshot(path=str(ARTIFACTS / "materialize-dialog.png"))
    page.get_by_role("button", name="Launch").last.click()

    def new_run() -> list[dg.DagsterRun]:
        return [r for r in ui.instance.get_runs() if r.run_id not in before]

    wait_for("the run launched from the UI", lambda: any(r.is_finished for r in new_run()), ui)
    [run] = new_run()
    assert run.status == dg.DagsterRunStatus.SUCCESS and run.tags.get("dagster/partition") == GOOD
    open_page(page, f"{ui.base}/runs/{run.run_id}")
    page.get_by_text("Success").first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "materialize-run.png"))


def test_checks_tab_shows_results_per_partition_and_the_blocked_one(ui: UI, page) -> None:  # noqa: ANN001
    open_page(page, f"{ui.base}/assets/demo/validated_orders?view=checks")
    for check in ("reconciliation", "schema", "reject_fraction", "key_unique"):
        page.get_by_text(check, exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "checks.png"))
    # the blocked partition: its blocking reject_fraction check failed
    open_page(page, f"{ui.base}/assets/demo/validated_orders?view=checks&checkDetail=reject_fraction")
    page.get_by_text("This is a blocking asset check").or_(page.get_by_text("blocking")).first.wait_for()
    page.get_by_text("Failed").first.wait_for()
    page.get_by_text(BLOCKED).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "blocked-check.png"))
    page.get_by_text("Execution history").click()
    page.get_by_text(GOOD).first.wait_for()  # one result per partition: the good day passed
    page.screenshot(path=str(ARTIFACTS / "check-history.png"))
