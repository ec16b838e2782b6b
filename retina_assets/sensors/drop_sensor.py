"""One sensor per client: notices complete new drops in its landing location and starts ingestion runs.

The landing location is a local folder, ``s3://bucket/prefix`` or ``abfs://container/prefix``
(:class:`~retina_assets.ingestion.raw_assets.LandingResource`); every tick lists it afresh.

Behaviour:

* **Complete files only.** A file counts once it is complete by the client's rule (``completeness`` in its
  spec): a marker file ``<name><marker_suffix>`` beside it (``mode: marker``), or no change for
  ``quiet_seconds`` (``mode: quiet_period``): its last-modified time is at least ``quiet_seconds`` old, or
  its size and change token (mtime/ETag) stayed the same across ticks for that long. Hidden files (``.x``,
  ``_x``) are never read, which is how well-behaved uploaders stage partial files.
* **Content identity.** A complete file is hashed (SHA-256). Content already requested for the dataset is
  skipped whatever its name, so the same bytes dropped twice are ingested once. The run key is
  ``<dataset>:<as_of_date>:<sha256>``: a corrected drop (new content) for an already-built date runs
  again and makes a new version; Dagster also refuses to start a second run with the same key.
* **Durable cursor.** The cursor is kept by the Dagster instance, so it survives daemon restarts. It holds
  the content hashes already requested (``seen``), files waiting out their quiet period (``pending``) and
  the hash of each listed file by size and change token (``hashed``), so an unchanged file is not read
  again on every tick.
* **One run per drop** materializes ``raw_<dataset>`` -> ``validated_<dataset>``/``rejected_<dataset>`` ->
  the features built from that dataset, for the drop's ``as_of_date`` partition.
"""

import datetime as dt
import hashlib
import json
import os
import posixpath
import time
from collections.abc import Iterable
from typing import Any

import dagster as dg

from retina_assets.clients.spec import ClientSpec
from retina_assets.ingestion.landing import Drop, DropNameError, as_of_date_for
from retina_assets.ingestion.raw_assets import LandingResource
from retina_assets.storage.filesystem import FileInfo
from retina_assets.storage.paths import UnsafeNameError

MAX_SEEN = 50_000
CURSOR_VERSION = 2
DEFAULT_INTERVAL_SECONDS = 15


def _now() -> float:
    """The sensor's clock (a function so tests can move time without sleeping)."""
    return time.time()


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


def load_cursor(cursor: str | None) -> dict[str, Any]:
    """Parse a cursor (current or the earlier ``<dataset>:<date>:<sha>`` format) into its parts."""
    state = json.loads(cursor) if cursor else {}
    seen = []
    for key in state.get("seen", []):
        parts = key.split(":")
        seen.append(f"{parts[0]}:{parts[-1]}")  # dataset:sha256
    return {
        "seen": list(dict.fromkeys(seen)),
        "pending": dict(state.get("pending", {})),
        "hashed": dict(state.get("hashed", {})),
        "bad": set(state.get("bad", [])),
    }


def classify(listing: Iterable[FileInfo], client: ClientSpec) -> tuple[list[Drop], dict[str, str]]:
    """The listed files that are drops of one of the client's datasets (sorted by name), and the files
    whose name matches a pattern but carries no valid date, or a date outside the client's partitions
    (URI -> problem). One badly named file never holds up the others; files matching no pattern are
    ignored."""
    from retina_assets.clients.graph import partitions_for  # the graph module imports this one

    partitions_def = partitions_for(client)
    drops: list[Drop] = []
    bad: dict[str, str] = {}
    for info in listing:
        name = posixpath.basename(info.uri)
        arrival = dt.datetime.fromtimestamp(info.modified, dt.UTC) if info.modified is not None else None
        for dataset, spec in client.datasets.items():
            try:
                key = as_of_date_for(name, spec, arrival)
            except (DropNameError, UnsafeNameError) as exc:
                problem = str(exc).removeprefix(f"{name}: ")
                bad[info.uri] = f"{info.uri}: {problem}"
                break
            if key is not None and not partitions_def.has_partition_key(key):
                bad[info.uri] = (
                    f"{info.uri}: as_of_date {key} is not a partition of client {client.client} "
                    f"(dates from {client.start_date} to before {client.end_date or 'today'})"
                )
                break
            if key is not None:
                drops.append(Drop(info.uri, name, info.size, info.token, dataset, key))
                break
    return sorted(drops, key=lambda d: d.name), bad


def default_interval_seconds() -> int:
    """Seconds between sensor ticks: ``RETINA_SENSOR_INTERVAL_SECONDS`` (default 15)."""
    raw = os.environ.get("RETINA_SENSOR_INTERVAL_SECONDS", "").strip()
    if not raw:
        return DEFAULT_INTERVAL_SECONDS
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"RETINA_SENSOR_INTERVAL_SECONDS must be a whole number of seconds, got {raw!r}"
        ) from None
    if value < 1:
        raise ValueError(f"RETINA_SENSOR_INTERVAL_SECONDS must be at least 1, got {value}")
    return value


def build_drop_sensor(
    client: ClientSpec, job: Any, interval_seconds: int | None = None
) -> dg.SensorDefinition:
    """The drop sensor of one client (see the module docstring for its guarantees)."""

    @dg.sensor(
        name=f"{client.client}_drop_sensor",
        job=job,
        minimum_interval_seconds=interval_seconds or default_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Starts ingestion runs for complete new drops of client {client.client}.",
    )
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingResource) -> dg.SensorResult:
        state = load_cursor(context.cursor)
        seen: list[str] = state["seen"]
        seen_set = set(seen)
        pending: dict[str, list[Any]] = state["pending"]
        hashed: dict[str, list[Any]] = state["hashed"]
        now = _now()
        fs = landing.filesystem(client)
        landing_uri = landing.client_uri(client)
        listing = {info.uri: info for info in fs.list_files(landing_uri)}
        names = {uri.rsplit("/", 1)[-1] for uri in listing}
        drops, bad_names = classify(listing.values(), client)
        for uri, problem in bad_names.items():
            if uri not in state["bad"]:
                context.log.error(f"not ingested: {problem}")
        requests: list[dg.RunRequest] = []
        new_pending: dict[str, list[Any]] = {}
        new_hashed: dict[str, list[Any]] = {}
        rule = client.completeness
        waiting = 0
        for drop in drops:
            identity = [drop.size, drop.token]
            if rule.mode == "marker":
                complete = f"{drop.name}{rule.marker_suffix}" in names
            else:
                info = listing.get(drop.uri)
                modified = info.modified if info is not None else None
                previous = pending.get(drop.uri)
                if modified is not None and now - modified >= rule.quiet_seconds:
                    complete = True
                elif previous is None or previous[:2] != identity:
                    new_pending[drop.uri] = [*identity, now]
                    complete = False
                else:
                    complete = now - float(previous[2]) >= rule.quiet_seconds
                    if not complete:
                        new_pending[drop.uri] = previous
            if not complete:
                waiting += 1
                continue
            cached = hashed.get(drop.uri)
            content = cached[2] if cached and cached[:2] == identity else _sha256(fs, drop.uri)
            new_hashed[drop.uri] = [*identity, content]
            content_key = f"{drop.dataset}:{content}"
            if content_key in seen_set:
                if cached is None or cached[:2] != identity:
                    context.log.info(
                        f"{drop.name}: same content as an earlier drop (sha256={content[:12]}), not ingested again"
                    )
                continue
            seen.append(content_key)
            seen_set.add(content_key)
            context.log.info(
                f"new drop {drop.name} -> {client.client}/{drop.dataset} [{drop.as_of_date}] "
                f"sha256={content[:12]}"
            )
            requests.append(
                dg.RunRequest(
                    run_key=f"{drop.dataset}:{drop.as_of_date}:{content}",
                    partition_key=drop.as_of_date,
                    asset_selection=dataset_asset_keys(client, drop.dataset),
                    tags={
                        "retina/client": client.client,
                        "retina/dataset": drop.dataset,
                        "retina/drop": drop.name,
                        "retina/sha256": content,
                    },
                )
            )
        cursor = json.dumps(
            {
                "v": CURSOR_VERSION,
                "seen": seen[-MAX_SEEN:],
                "pending": new_pending,
                "hashed": new_hashed,
                "bad": sorted(bad_names),
            },
            separators=(",", ":"),
        )
        if not requests:
            reason = f"no new complete drops ({waiting} waiting to complete)" if waiting else "no new drops"
            return dg.SensorResult(skip_reason=reason, cursor=cursor)
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return _sensor
