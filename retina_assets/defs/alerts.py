"""Telling someone when a run fails: a run-failure sensor that posts to a webhook.

The webhook URL comes from the environment variable ``RETINA_ALERT_WEBHOOK_URL`` as a Dagster ``EnvVar``
(the UI shows the variable's name, never the URL, which often embeds a token). Without it the sensor still
runs and says in its ticks that no webhook is configured.

One POST per failed run, JSON::

    {"text": "...one line for chat tools...", "client": "demo", "assets": ["demo/raw_orders"],
     "partition": "2010-12-01", "job": "demo_ingest", "run_id": "...", "error": "...",
     "drop": "orders_20101201.csv"}

``client`` comes from the run's ``retina/client`` tag (set by the drop sensor) or else from the failed
assets' keys; ``assets`` are the assets of the failed steps (all selected assets when the run failed
before any step); ``error`` is each failed step's error message (bounded in length). A webhook that does not
answer 2xx is retried with backoff; if it still fails the tick fails, so the daemon shows it and tries again.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

import dagster as dg

WEBHOOK_ENV_VAR = "RETINA_ALERT_WEBHOOK_URL"
MAX_ERROR_CHARS = 2000
POST_ATTEMPTS = 3


class AlertWebhook(dg.ConfigurableResource):
    """Where run-failure notifications go (``url`` unset: nowhere)."""

    url: str | None = None
    timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AlertWebhook:
        """The URL as an ``EnvVar`` when ``RETINA_ALERT_WEBHOOK_URL`` is set (resolved at run time)."""
        environ = os.environ if environ is None else environ  # type: ignore[assignment]
        return cls(url=dg.EnvVar(WEBHOOK_ENV_VAR)) if environ.get(WEBHOOK_ENV_VAR) else cls()

    def post(self, payload: dict[str, Any]) -> None:
        """POST ``payload`` as JSON; retried with backoff (1 s, 2 s), raises if every attempt failed."""
        assert self.url, "no webhook URL"
        body = json.dumps(payload).encode()
        for attempt in range(POST_ATTEMPTS):
            request = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                    return
            except (urllib.error.URLError, OSError) as exc:
                if attempt == POST_ATTEMPTS - 1:
                    # the exception text may contain the URL: say only what went wrong
                    raise RuntimeError(
                        f"run-failure webhook ({WEBHOOK_ENV_VAR}) failed {POST_ATTEMPTS} times: "
                        f"{type(exc).__name__}: {getattr(exc, 'reason', getattr(exc, 'code', ''))}"
                    ) from None
                time.sleep(2**attempt)


def failure_report(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    """What a notification says about the failed run (see the module docstring)."""
    run = context.dagster_run
    step_errors: dict[str, str] = {}
    for event in context.get_step_failure_events():
        error = event.event_specific_data.error if event.event_specific_data else None
        message = error.message.strip() if error else event.message or ""
        step_errors[event.step_key or "?"] = message[:MAX_ERROR_CHARS]
    planned = context.instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    step_assets: dict[str, list[str]] = {}
    for record in planned:
        event = record.event_log_entry.dagster_event
        if event is not None and event.asset_key is not None:
            step_assets.setdefault(event.step_key or "", []).append(event.asset_key.to_user_string())
    assets = sorted({a for step in step_errors for a in step_assets.get(step, [])})
    if not assets:
        assets = sorted(k.to_user_string() for k in run.asset_selection or [])
    client = run.tags.get("retina/client") or (assets[0].split("/", 1)[0] if assets else None)
    error = "\n".join(step_errors.values()) or (context.failure_event.message or "run failed")
    partition = run.tags.get("dagster/partition")
    text = (
        f"Retina run failed: client {client or '?'}, {', '.join(assets) or run.job_name}"
        f"{f' [{partition}]' if partition else ''}: {error.splitlines()[0] if error else ''}"
    )
    return {
        "text": text[:MAX_ERROR_CHARS],
        "client": client,
        "assets": assets,
        "partition": partition,
        "job": run.job_name,
        "run_id": run.run_id,
        "error": error[:MAX_ERROR_CHARS],
        "drop": run.tags.get("retina/drop"),
    }


@dg.run_failure_sensor(
    name="retina_run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=10,
    description=f"Posts every failed run (client, assets, partition, error) to the webhook in ${WEBHOOK_ENV_VAR}.",
)
def run_failure_alert(
    context: dg.RunFailureSensorContext, alert_webhook: AlertWebhook
) -> dg.SkipReason | None:
    report = failure_report(context)
    if not alert_webhook.url:
        return dg.SkipReason(f"{WEBHOOK_ENV_VAR} is not set; not sent: {report['text']}")
    alert_webhook.post(report)
    context.log.info(f"run-failure notification sent for run {report['run_id']}")
    return None
