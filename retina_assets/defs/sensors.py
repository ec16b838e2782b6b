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
* **State that does not grow with history.** What the sensor knows about each listed drop (size, change
  token, dataset, SHA-256) and which bad names it already reported is one immutable, content-addressed file
  in the lake, ``<lake>/_sensor_state/<client>/<sha256>.json.gz``, rewritten only when the listing changed.
  The cursor, kept by the Dagster instance (so it survives daemon restarts), holds only that file's name, a
  fingerprint of the last listing and the files waiting out their quiet period: a few hundred bytes however
  many files the landing holds. A tick whose listing matches the fingerprint (and with nothing waiting)
  reads no file and no state: it costs one listing. Content already requested is recognised from the state
  or, for files no longer listed, from the runs' ``retina/sha256`` tags in the instance.
* **One run per drop** materializes ``raw_<dataset>`` -> ``validated_<dataset>``/``rejected_<dataset>`` ->
  the features that read that dataset (as each feature's registration declares), for the drop's
  ``as_of_date`` partition.

* **Landing observations.** With the run requests, the sensor reports an observation of each requested
  landing partition (``<client>/landing_<dataset>``: drops and hashes, see :mod:`retina_assets.defs.landing`).

A second sensor, ``retina_spec_errors``, exists only when a client spec failed to load: it shows the problems
in the UI (never starts runs).
"""

import datetime as dt
import gzip
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg

from retina_assets.defs.landing import landing_key, landing_observation, sha256_of_file
from retina_assets.defs.partitions import client_lock_tags
from retina_assets.defs.resources import LakeResource, LandingResource
from retina_assets.features import FEATURES
from retina_assets.ingestion.landing import Drop, discover_drops
from retina_assets.model.naming import FEATURES as FEATURES_ZONE
from retina_assets.model.naming import PREFIXED_ZONES, DatasetName
from retina_assets.model.spec import ClientSpec, SpecError
from retina_assets.storage.filesystem import FileInfo, LakeFileSystem

CURSOR_VERSION = 3
DEFAULT_INTERVAL_SECONDS = 15
STATE_FOLDER = "_sensor_state"  # <lake>/_sensor_state/<client>/<sha256>.json.gz
RUN_TAG_CLIENT, RUN_TAG_DATASET, RUN_TAG_SHA256 = "retina/client", "retina/dataset", "retina/sha256"
BULK_LOOKUP_THRESHOLD = 16
# a run still NOT_STARTED was created by a tick that failed before submitting it: requesting it again with
# the same run key makes the daemon launch that run (so it does not count as requested)
SUBMITTED = [s for s in dg.DagsterRunStatus if s != dg.DagsterRunStatus.NOT_STARTED]
MAX_LOGGED_DROPS = 20  # per tick: a first tick over a full landing logs a count, not every file
# New drops on an object store are hashed this many at a time (each hash is a GET: waiting, not CPU).
HASH_WORKERS = 8
# A tick stops hashing new drops after this long and leaves the rest to the next tick, so a tick over a
# landing full of unknown files stays well inside the daemon's sensor evaluation timeout (60 s by default).
HASH_BUDGET_SECONDS = 30.0


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
    """Parse a cursor into ``listing`` (fingerprint of the last listing), ``state`` (name of the state file
    in the lake), ``pending`` (files waiting out their quiet period), ``waiting`` (how many listed drops were
    not complete yet: waiting for their marker or their quiet period) and, from a cursor of the earlier format
    that held every file, ``legacy_files``/``legacy_bad`` to seed the state once."""
    state = json.loads(cursor) if cursor else {}
    parsed: dict[str, Any] = {
        "listing": state.get("listing", ""),
        "state": state.get("state", ""),
        "pending": dict(state.get("pending", {})),
        "waiting": int(state.get("waiting", 0)),
        "legacy_files": {},
        "legacy_bad": [],
    }
    if state and state.get("v", 0) < CURSOR_VERSION:
        # the earlier cursor kept [size, token, sha256] by URI; the dataset is re-derived by discovery
        parsed["legacy_files"] = dict(state.get("hashed", {}))
        parsed["legacy_bad"] = list(state.get("bad", []))
    return parsed


def listing_fingerprint(client: ClientSpec, listing: list[FileInfo], today: dt.date) -> str:
    """SHA-256 over what decides a tick's outcome: every listed file's name, size and change token, the
    client's spec and the day (a drop for a day not over yet becomes ready when the day changes)."""
    digest = hashlib.sha256()
    digest.update(client.model_dump_json().encode())
    digest.update(today.isoformat().encode())
    for info in listing:
        digest.update(f"\n{info.uri}\0{info.size}\0{info.token}".encode())
    return digest.hexdigest()


class DropState:
    """What a client's sensor knows about the files of its landing location, kept in the lake as one
    immutable, content-addressed file ``<lake>/_sensor_state/<client>/<sha256>.json.gz`` per change.

    ``files``: name -> ``[size, change token, dataset, sha256]`` of each complete drop already dealt with;
    ``bad``: names already reported as not ingestible. The cursor only names the current file, so it stays
    the same small size however many files the landing holds."""

    def __init__(self, fs: LakeFileSystem, client: str):
        self.fs = fs
        self.folder = f"{fs.root_uri}/{STATE_FOLDER}/{client}"

    def load(self, name: str) -> dict[str, Any]:
        if not name:
            return {"files": {}, "bad": []}
        try:
            data = self.fs.read_bytes(f"{self.folder}/{name}.json.gz")
        except FileNotFoundError:
            # only if someone deleted it: start afresh; content already requested is still found via the
            # runs' tags, so nothing is ingested twice (unchanged files are hashed once more)
            return {"files": {}, "bad": []}
        return json.loads(gzip.decompress(data))

    def save(self, state: dict[str, Any], previous: str) -> str:
        """Write ``state`` (unless the same content is already there) and return its name; removes state
        files older than ``previous`` (which stays until a later tick, in case this cursor is not stored)."""
        raw = json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
        data = gzip.compress(raw, compresslevel=6, mtime=0)
        name = hashlib.sha256(data).hexdigest()
        if name != previous:
            self.fs.write_bytes(f"{self.folder}/{name}.json.gz", data)
            for info in self.fs.list_files(self.folder):
                if info.uri.rsplit("/", 1)[-1] not in (f"{name}.json.gz", f"{previous}.json.gz"):
                    self.fs.delete(info.uri)
        return name


def already_requested(
    instance: dg.DagsterInstance, client: str, candidates: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which ``(dataset, sha256)`` of ``client`` ever had a run requested (runs carry the content's SHA-256
    as a tag, so this needs no state of the sensor's own). Many candidates (a first tick over a full
    landing) are narrowed with one query for all SHA-256 tag values before the exact per-content checks."""
    if len(candidates) > BULK_LOOKUP_THRESHOLD:
        tagged = instance.get_run_tags(tag_keys=[RUN_TAG_SHA256])
        known = set().union(*(values for _, values in tagged)) if tagged else set()
        candidates = {c for c in candidates if c[1] in known}
    found = set()
    for dataset, content in candidates:
        tags = {RUN_TAG_CLIENT: client, RUN_TAG_DATASET: dataset, RUN_TAG_SHA256: content}
        if instance.get_run_ids(dg.RunsFilter(tags=tags, statuses=SUBMITTED), limit=1):
            found.add((dataset, content))
    return found


def skip_reason(client: ClientSpec, waiting: int) -> str:
    """Why a tick requested no run, with how many drops wait to complete and for what."""
    if not waiting:
        return "no new drops"
    rule = client.completeness
    if rule.mode == "marker":
        what = f"for their {rule.marker_suffix} marker"
    else:
        what = f"out the {rule.quiet_seconds:g} s quiet period"
    return f"no new complete drops ({waiting} waiting {what})"


def hash_new_drops(
    fs: LakeFileSystem, drops: list[Drop], started: float
) -> tuple[list[tuple[Drop, str]], int]:
    """``(drop, sha256)`` of ``drops`` in their order, and how many were left unhashed because the tick
    has used its :data:`HASH_BUDGET_SECONDS` (counted from ``started``, a ``time.monotonic()``). At least
    one batch is hashed per tick, so every drop is reached. On an object store :data:`HASH_WORKERS` are
    hashed at a time; on local disk one after another (reading a small local file is CPU, not waiting)."""
    workers = 1 if fs.is_local else HASH_WORKERS
    batch = workers * 16
    hashed: list[tuple[Drop, str]] = []
    with ThreadPoolExecutor(workers) as pool:
        run = map if workers == 1 else pool.map  # no thread hand-off for one worker
        for begin in range(0, len(drops), batch):
            if hashed and time.monotonic() - started > HASH_BUDGET_SECONDS:
                break
            chunk = drops[begin : begin + batch]
            hashed.extend(zip(chunk, run(lambda d: sha256_of_file(fs, d.uri, d.size), chunk), strict=True))
    return hashed, len(drops) - len(hashed)


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
    def _sensor(
        context: dg.SensorEvaluationContext, landing: LandingResource, lake: LakeResource
    ) -> dg.SensorResult:
        cursor = load_cursor(context.cursor)
        now = _now()
        started = time.monotonic()
        fs = landing.filesystem(client)
        listed = fs.list_files(landing.client_uri(client))
        fingerprint = listing_fingerprint(client, listed, dt.datetime.now(dt.UTC).date())
        if fingerprint == cursor["listing"] and not cursor["pending"]:
            # nothing listed changed since a tick that left nothing waiting out a quiet period: that
            # tick's answer stands (files waiting for their marker wait until the listing changes)
            reason = skip_reason(client, cursor["waiting"])
            return dg.SensorResult(skip_reason=reason, cursor=context.cursor)

        store = DropState(lake.filesystem(), client.client)
        state = store.load(cursor["state"])
        known: dict[str, list[Any]] = state["files"]
        reported_bad = set(state["bad"]) | {u.rsplit("/", 1)[-1] for u in cursor["legacy_bad"]}
        pending: dict[str, list[Any]] = cursor["pending"]
        discovery = discover_drops(listed, client)
        drops, not_partitions = discovery.ready(client)
        bad_names = {**discovery.bad_names, **not_partitions}
        for uri, problem in bad_names.items():
            if uri.rsplit("/", 1)[-1] not in reported_bad:
                context.log.error(f"not ingested: {problem}")
        drops_by_uri = {d.uri: d for d in drops}
        for uri, (size, token, content) in cursor["legacy_files"].items():
            drop = drops_by_uri.get(uri)
            if drop is not None:
                known.setdefault(drop.name, [size, token, drop.dataset, content])
        requests: list[dg.RunRequest] = []
        new_pending: dict[str, list[Any]] = {}
        new_known: dict[str, list[Any]] = {}
        contents = {(entry[2], entry[3]) for entry in known.values()}
        unknown: list[Drop] = []
        rule = client.completeness
        waiting = 0
        for drop in drops:
            identity = [drop.size, drop.token]
            previous = pending.get(drop.uri)
            unchanged_since = (
                float(previous[2]) if previous is not None and previous[:2] == identity else None
            )
            # the same completeness rule the raw stage applies to every run, however started
            complete = discovery.incomplete_reason(drop, rule, now, unchanged_since) is None
            if not complete and rule.mode == "quiet_period":
                new_pending[drop.uri] = previous if unchanged_since is not None else [*identity, now]
            if not complete:
                waiting += 1
                continue
            cached = known.get(drop.name)
            if cached and cached[:2] == identity and cached[2] == drop.dataset:
                new_known[drop.name] = cached  # dealt with on an earlier tick
                continue
            unknown.append(drop)
        fresh, deferred = hash_new_drops(fs, unknown, started)
        for drop, content in fresh:
            new_known[drop.name] = [drop.size, drop.token, drop.dataset, content]
        if deferred:
            context.log.info(
                f"hashed {len(fresh)} of {len(unknown)} new complete files within this tick's "
                f"{HASH_BUDGET_SECONDS:.0f} s budget; the other {deferred} on the next tick"
            )
        requested = already_requested(
            context.instance, client.client, {(d.dataset, c) for d, c in fresh} - contents
        )
        repeated: list[str] = []
        for drop, content in fresh:
            if (drop.dataset, content) in contents or (drop.dataset, content) in requested:
                repeated.append(f"{drop.name} (sha256={content[:12]})")
                continue
            contents.add((drop.dataset, content))
            if len(requests) < MAX_LOGGED_DROPS:
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
                        RUN_TAG_CLIENT: client.client,
                        RUN_TAG_DATASET: drop.dataset,
                        "retina/drop": drop.name,
                        RUN_TAG_SHA256: content,
                        **client_lock_tags(client.client),
                    },
                )
            )
        if len(requests) > MAX_LOGGED_DROPS:
            context.log.info(f"... and {len(requests) - MAX_LOGGED_DROPS} more new drops")
        if repeated:
            shown = ", ".join(repeated[:MAX_LOGGED_DROPS]) + (
                " ..." if len(repeated) > MAX_LOGGED_DROPS else ""
            )
            context.log.info(
                f"{len(repeated)} file(s) with the same content as an earlier drop, not ingested again: {shown}"
            )
        # files no longer listed are forgotten; their content still counts through the runs' tags
        new_state = {
            "files": new_known,
            "bad": sorted(uri.rsplit("/", 1)[-1] for uri in bad_names),
        }
        name = store.save(new_state, cursor["state"])
        next_cursor = json.dumps(
            {
                "v": CURSOR_VERSION,
                # files left unhashed: the next tick must not take this listing as dealt with
                "listing": "" if deferred else fingerprint,
                "state": name,
                "pending": new_pending,
                "waiting": waiting,
            },
            separators=(",", ":"),
        )
        if not requests:
            return dg.SensorResult(skip_reason=skip_reason(client, waiting), cursor=next_cursor)
        # observe the landing partitions the runs read, so their raw materializations record these drops
        # (drops grouped once: a first tick over a full landing requests a run per drop)
        hashed_by_partition: dict[tuple[str, str], list[tuple[Drop, str]]] = {}
        for d in drops:
            if d.name in new_known:
                hashed_by_partition.setdefault((d.dataset, d.as_of_date), []).append(
                    (d, new_known[d.name][3])
                )
        observations = []
        for dataset, partition in dict.fromkeys((r.tags[RUN_TAG_DATASET], r.partition_key) for r in requests):
            seen_drops = hashed_by_partition.get((dataset, str(partition)), [])
            observations.append(landing_observation(landing_key(client, dataset), str(partition), seen_drops))
        return dg.SensorResult(run_requests=requests, cursor=next_cursor, asset_events=observations)

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
