"""One sensor per client: notices complete new drops in its landing location and starts ingestion runs.

Behaviour:

* **Complete files only.** A file counts once it is complete by the client's rule: a marker file
  ``<name><marker_suffix>`` beside it (``mode: marker``), or an unchanged size and change token over
  ``quiet_seconds`` across ticks (``mode: quiet_period``). Hidden files (``.x``, ``_x``) are never read,
  which is how well-behaved uploaders stage partial files.
* **Content identity.** A complete file is hashed (SHA-256); the run key is
  ``<dataset>:<as_of_date>:<sha256>``, so the same content dropped twice, under any name, runs once, and a
  corrected drop for an already-built date (new content) runs again and makes a new version.
* **Durable cursor.** The cursor (kept by the Dagster instance, so it survives daemon restarts) remembers the
  content hashes already requested and files waiting out their quiet period.
* One run per (dataset, as_of_date) materializes raw -> validated/rejected -> features for the partition.
"""

import hashlib
import json
import time
from typing import Any

import dagster as dg

from retina_assets.clients.spec import ClientSpec
from retina_assets.ingestion.landing import DropNameError, find_drops
from retina_assets.ingestion.raw_assets import LandingResource

MAX_SEEN = 50_000


def _sha256(fs: Any, uri: str) -> str:
    digest = hashlib.sha256()
    with fs.open_read(uri) as fh:
        while block := fh.read(4 << 20):
            digest.update(block)
    return digest.hexdigest()


def dataset_asset_keys(client: ClientSpec, dataset: str) -> list[dg.AssetKey]:
    """The assets one drop of ``dataset`` rebuilds: its raw, validated and rejected assets, and the client's
    features when they are fed by this dataset (so a client sending several datasets on different days
    never runs an asset whose drop did not arrive)."""
    keys = [dg.AssetKey([client.client, f"{zone}_{dataset}"]) for zone in ("raw", "validated", "rejected")]
    orders = [name for name, d in client.datasets.items() if d.canonical == "orders"]
    if orders and orders[0] == dataset:
        keys += [dg.AssetKey([client.client, feature]) for feature in client.features]
    return keys


def build_drop_sensor(client: ClientSpec, job: Any, interval_seconds: int = 15) -> dg.SensorDefinition:
    """The drop sensor of one client."""

    @dg.sensor(
        name=f"{client.client}_drop_sensor",
        job=job,
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts ingestion runs for complete new drops of client {client.client}.",
    )
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingResource) -> dg.SensorResult:
        state = json.loads(context.cursor) if context.cursor else {}
        seen: list[str] = state.get("seen", [])
        seen_set = set(seen)
        pending: dict[str, list[Any]] = state.get("pending", {})
        now = time.time()
        fs = landing.filesystem(client)
        landing_uri = landing.client_uri(client)
        listing = fs.list_files(landing_uri)
        names = {info.uri.rsplit("/", 1)[-1] for info in listing}
        try:
            drops = find_drops(fs, landing_uri, client.datasets)
        except DropNameError as exc:
            context.log.error(str(exc))
            return dg.SensorResult(skip_reason=str(exc), cursor=context.cursor)
        requests: list[dg.RunRequest] = []
        new_pending: dict[str, list[Any]] = {}
        rule = client.completeness
        for drop in drops:
            if rule.mode == "marker":
                complete = f"{drop.name}{rule.marker_suffix}" in names
            else:
                identity = [drop.size, drop.token]
                previous = pending.get(drop.uri)
                if previous is None or previous[:2] != identity:
                    new_pending[drop.uri] = [*identity, now]
                    continue
                complete = now - float(previous[2]) >= rule.quiet_seconds
                if not complete:
                    new_pending[drop.uri] = previous
            if not complete:
                continue
            content = _sha256(fs, drop.uri)
            key = f"{drop.dataset}:{drop.as_of_date}:{content}"
            if key in seen_set:
                continue
            seen.append(key)
            seen_set.add(key)
            context.log.info(
                f"new drop {drop.name} -> {drop.dataset} [{drop.as_of_date}] sha256={content[:12]}"
            )
            requests.append(
                dg.RunRequest(
                    run_key=key,
                    partition_key=drop.as_of_date,
                    asset_selection=dataset_asset_keys(client, drop.dataset),
                    tags={"retina/client": client.client, "retina/drop": drop.name, "retina/sha256": content},
                )
            )
        cursor = json.dumps({"seen": seen[-MAX_SEEN:], "pending": new_pending}, separators=(",", ":"))
        if not requests:
            return dg.SensorResult(skip_reason="no new complete drops", cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
