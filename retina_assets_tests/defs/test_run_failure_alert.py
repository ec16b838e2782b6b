"""The run-failure sensor posts a real failed run (client, asset, partition, error) to a webhook served on
127.0.0.1, with the URL taken from ``RETINA_ALERT_WEBHOOK_URL`` as an ``EnvVar``; a webhook that answers
with an error at first is retried."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs.alerts import WEBHOOK_ENV_VAR, AlertWebhook, run_failure_alert
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.landing import settled
from retina_assets_tests.support.webhook import Webhook


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook(fail_first=1)
    try:
        yield hook
    finally:
        hook.close()


def failed_run(env: LakeEnv, instance: dg.DagsterInstance) -> tuple[dg.DagsterRun, dg.DagsterEvent]:
    """Run the demo ingest job for a drop that lacks the contract's columns; return the run and its
    RUN_FAILURE event."""
    (env.landing / "demo").mkdir(exist_ok=True)
    drop = env.landing / "demo" / "orders_20101201.csv"
    drop.write_bytes(b"Colour;Size\r\nred;3\r\n")
    settled(drop)  # a finished upload: the run fails on its columns, not on the quiet period
    defs = build_definitions(env.settings)
    result = defs.resolve_job_def("demo_ingest").execute_in_process(
        partition_key="2010-12-01",
        instance=instance,
        raise_on_error=False,
        tags={"retina/client": "demo", "retina/drop": "orders_20101201.csv"},
    )
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    [record] = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    assert run is not None and record.event_log_entry.dagster_event is not None
    return run, record.event_log_entry.dagster_event


def evaluate(instance: dg.DagsterInstance, run: dg.DagsterRun, event: dg.DagsterEvent) -> object:
    context = dg.build_run_status_sensor_context(
        sensor_name=run_failure_alert.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=event,
        resources={"alert_webhook": AlertWebhook.from_env()},
    ).for_run_failure()
    return run_failure_alert(context)


def test_a_failed_run_reaches_the_webhook_with_client_asset_partition_and_error(
    lake_env: LakeEnv, instance: dg.DagsterInstance, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ENV_VAR, webhook.url)
    run, event = failed_run(lake_env, instance)
    evaluate(instance, run, event)
    [body] = webhook.bodies
    assert webhook.attempts == 2  # the first answer was a 503: retried
    assert body["client"] == "demo" and body["partition"] == "2010-12-01"
    assert body["assets"] == ["demo/raw_orders"]
    assert body["run_id"] == run.run_id and body["drop"] == "orders_20101201.csv"
    assert "orders_20101201.csv" in body["error"], body["error"]
    assert body["text"].startswith("Retina run failed: client demo, demo/raw_orders [2010-12-01]: ")


def test_without_a_webhook_nothing_is_sent_and_the_tick_says_why(
    lake_env: LakeEnv, instance: dg.DagsterInstance, webhook: Webhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(WEBHOOK_ENV_VAR, raising=False)
    run, event = failed_run(lake_env, instance)
    result = evaluate(instance, run, event)
    assert isinstance(result, dg.SkipReason) and WEBHOOK_ENV_VAR in (result.skip_message or "")
    assert webhook.attempts == 0


def test_the_webhook_url_is_an_env_var_and_the_sensors_run_by_default(
    lake_env: LakeEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WEBHOOK_ENV_VAR, "http://127.0.0.1:9/secret-token")
    defs = build_definitions(lake_env.settings)
    resource = defs.resources["alert_webhook"]
    assert isinstance(resource.url, dg.EnvVar) and resource.url.env_var_name == WEBHOOK_ENV_VAR
    status = {s.name: s.default_status for s in defs.sensors}
    assert status["retina_run_failure_alert"] == dg.DefaultSensorStatus.RUNNING
    assert status["default_automation_condition_sensor"] == dg.DefaultSensorStatus.RUNNING
