"""One sensor per client: notices complete new drops in its landing location and starts ingestion runs.

The landing location is a local folder, ``s3://bucket/prefix`` or ``abfs://container/prefix``
(:class:`~retina_assets.defs.resources.LandingResource`); every tick lists it afresh, and which files are drops
(of which dataset and day) is decided by the same discovery the raw step uses
(:func:`~retina_assets.ingestion.landing.discover_drops`).

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
* **Landing observations.** With the run requests, the sensor reports an observation of each requested
  landing partition (``<client>/landing_<dataset>``: drops and hashes, see :mod:`retina_assets.defs.landing`).
* **One run per drop** materializes ``raw_<dataset>`` -> ``validated_<dataset>``/``rejected_<dataset>`` ->
  the features that read that dataset (as each feature's registration declares), for the drop's
  ``as_of_date`` partition.

A second sensor, ``retina_spec_errors``, exists only when a client spec failed to load: it shows the problems
in the UI (never starts runs).
"""

import json
import os
import time
from typing import Any

import dagster as dg

from retina_assets.defs.landing import landing_key, landing_observation, sha256_of_file
from retina_assets.defs.partitions import partition_lock_tags
from retina_assets.defs.resources import LandingResource
from retina_assets.features import FEATURES
from retina_assets.ingestion.landing import discover_drops
from retina_assets.model.naming import FEATURES as FEATURES_ZONE
from retina_assets.model.naming import PREFIXED_ZONES, DatasetName
from retina_assets.model.spec import ClientSpec, SpecError

MAX_SEEN = 50_000
CURSOR_VERSION = 2
DEFAULT_INTERVAL_SECONDS = 15


def _now() -> float:
    """The sensor's clock (a function so tests can move time without sleeping)."""
    return time.time()


def dataset_asset_keys(client: ClientSpec, dataset: str) -> list[dg.AssetKey]:
    """The assets one drop of ``dataset`` rebuilds: its raw, validated and rejected assets, and the client's
    features that read its canonical dataset (so a client sending several datasets on different days never
    runs an asset whose drop did not arrive)."""
    names = [DatasetName(zone, client.client, dataset) for zone in PREFIXED_ZONES]
    canonical = client.datasets[dataset].canonical
    for feature in client.features:
        reads = FEATURES[feature].reads
        # a feature reads the client's first dataset of each canonical kind (see defs.features)
        if canonical in reads and client.datasets_for(canonical)[0] == dataset:
            names.append(DatasetName(FEATURES_ZONE, client.client, feature))
    return [dg.AssetKey(name.path) for name in names]


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
        discovery = discover_drops(fs.list_files(landing_uri), client)
        drops, not_partitions = discovery.ready(client)
        bad_names = {**discovery.bad_names, **not_partitions}
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
            previous = pending.get(drop.uri)
            unchanged_since = (
                float(previous[2]) if previous is not None and previous[:2] == identity else None
            )
            complete = discovery.incomplete_reason(drop, rule, now, unchanged_since) is None
            if not complete and rule.mode == "quiet_period":
                new_pending[drop.uri] = previous if unchanged_since is not None else [*identity, now]
            if not complete:
                waiting += 1
                continue
            cached = hashed.get(drop.uri)
            content = cached[2] if cached and cached[:2] == identity else sha256_of_file(fs, drop.uri)
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
                        **partition_lock_tags(client.client, drop.as_of_date),
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
        # observe the landing partitions the runs read, so their raw materializations record these drops
        observations = []
        for dataset, partition in dict.fromkeys(
            (r.tags["retina/dataset"], r.partition_key) for r in requests
        ):
            seen_drops = [
                (d, new_hashed[d.uri][2])
                for d in drops
                if d.dataset == dataset and d.as_of_date == partition and d.uri in new_hashed
            ]
            observations.append(landing_observation(landing_key(client, dataset), str(partition), seen_drops))
        return dg.SensorResult(run_requests=requests, cursor=cursor, asset_events=observations)

    return _sensor


def spec_errors_sensor(errors: list[SpecError]) -> dg.SensorDefinition:
    """A sensor that only exists to make spec errors visible in the UI (it never starts runs)."""
    text = "\n".join(f"- {e}" for e in errors)

    @dg.sensor(
        name="retina_spec_errors",
        description=f"{len(errors)} client spec problem(s); these clients are not loaded:\n{text}",
        minimum_interval_seconds=3600,
    )
    def _spec_errors(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        return dg.SkipReason(f"client spec problems:\n{text}")

    return _spec_errors
