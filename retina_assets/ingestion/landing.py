"""Finding a client's drops in its landing location and deriving their ``as_of_date`` partition.

:func:`discover_drops` is the one discovery of drops: the drop sensor uses it to decide what to ingest and
the raw stage (:func:`drops_for_partition`) to decide what to convert, so both agree on which files are
drops, of which dataset and which day. A drop's arrival time (for ``as_of_date: {from: arrival}``) is its
last-modified time as the backend lists it (local ``mtime``, S3 ``LastModified``, Azure ``last_modified``).

:func:`incomplete_reason` is the one completeness rule (a marker file, or a quiet period judged from the
listed modification time): the sensor applies it before starting a run and the raw stage again before
converting, so a run started by hand never ingests a file that is still being written.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from retina_assets.model.naming import UnsafeNameError, check_partition_key
from retina_assets.model.spec import ClientSpec, CompletenessRule, DatasetSpec, client_regex
from retina_assets.storage.filesystem import FileInfo, LakeFileSystem


@dataclass(frozen=True)
class Drop:
    """One landed file that matches a dataset's pattern."""

    uri: str
    name: str
    size: int
    token: str
    dataset: str
    as_of_date: str
    modified: float | None = None  # last-modified time as listed (seconds since the epoch)


class DropNameError(ValueError):
    """A landed file whose name matches the pattern but yields no valid ``as_of_date``."""


def as_of_date_for(name: str, spec: DatasetSpec, arrival: dt.datetime | None = None) -> str | None:
    """The partition key for a file name, or ``None`` if the name does not match the dataset pattern.

    Raises :class:`DropNameError` when the name matches but its date group does not parse.
    """
    match = client_regex(spec.pattern).fullmatch(name)
    if not match:
        return None
    if spec.as_of_date.source == "arrival":
        return (arrival or dt.datetime.now(dt.UTC)).date().isoformat()
    raw = match.group("as_of_date")
    try:
        key = dt.datetime.strptime(raw, spec.as_of_date.format).date().isoformat()
    except ValueError as exc:
        raise DropNameError(
            f"{name}: date {raw!r} does not match {spec.as_of_date.format!r}: {exc}"
        ) from None
    return check_partition_key(key)


def arrival_time(info: FileInfo) -> dt.datetime | None:
    """When a listed file arrived: its last-modified time (UTC), or ``None`` if the backend does not say."""
    return dt.datetime.fromtimestamp(info.modified, dt.UTC) if info.modified is not None else None


@dataclass
class Discovery:
    """What one listing holds: the drops (sorted by name), each with its dataset and ``as_of_date``, and
    the files whose name matches a pattern but carries no valid date (URI -> problem). Files matching no
    pattern are neither."""

    drops: list[Drop] = field(default_factory=list)
    bad_names: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # every listed file name (for completeness markers)

    def incomplete_reason(
        self, drop: Drop, rule: CompletenessRule, now: float, unchanged_since: float | None = None
    ) -> str | None:
        """Why ``drop`` is not complete yet by the client's rule, or ``None`` once it is.

        ``mode: marker``: complete once ``<name><marker_suffix>`` is listed beside it. ``mode:
        quiet_period``: complete once its listed modification time is at least ``quiet_seconds`` before
        ``now``, or (for a caller that watches the file across listings, like the sensor) once it has been
        unchanged in size and change token since ``unchanged_since`` for that long.
        """
        if rule.mode == "marker":
            marker = f"{drop.name}{rule.marker_suffix}"
            return None if marker in self.names else f"{drop.uri}: not complete: no marker file {marker}"
        if drop.modified is not None and now - drop.modified >= rule.quiet_seconds:
            return None
        if unchanged_since is not None and now - unchanged_since >= rule.quiet_seconds:
            return None
        age = (
            "no modification time listed"
            if drop.modified is None
            else f"modified {now - drop.modified:.0f}s ago"
        )
        return (
            f"{drop.uri}: not complete: it may still be uploading ({age}; the client's quiet period is "
            f"{rule.quiet_seconds:g}s)"
        )

    def ready(self, client: ClientSpec, today: dt.date | None = None) -> tuple[list[Drop], dict[str, str]]:
        """The drops whose ``as_of_date`` is already one of the client's partitions, and the others (URI
        -> problem): a day that is not over yet waits for its partition, a day outside the client's dates
        never gets one."""
        ready, waiting = [], {}
        for drop in self.drops:
            if client.has_partition(dt.date.fromisoformat(drop.as_of_date), today):
                ready.append(drop)
            else:
                waiting[drop.uri] = (
                    f"{drop.uri}: as_of_date {drop.as_of_date} is not a partition of client {client.client} "
                    f"(dates from {client.start_date} to before {client.end_date or 'today'})"
                )
        return ready, waiting


def discover_drops(listing: Iterable[FileInfo], client: ClientSpec) -> Discovery:
    """Classify every listed file as a drop of one of the client's datasets (the first whose pattern
    matches), a badly named file, or not a drop. One badly named file never holds up the others."""
    found = Discovery()
    for info in listing:
        name = posixpath.basename(info.uri)
        found.names.add(name)
        for dataset, spec in client.datasets.items():
            try:
                key = as_of_date_for(name, spec, arrival_time(info))
            except (DropNameError, UnsafeNameError) as exc:
                found.bad_names[info.uri] = f"{info.uri}: {str(exc).removeprefix(f'{name}: ')}"
                break
            if key is not None:
                found.drops.append(Drop(info.uri, name, info.size, info.token, dataset, key, info.modified))
                break
    found.drops.sort(key=lambda d: d.name)
    return found


def _partition_drops(
    fs: LakeFileSystem, landing_uri: str, client: ClientSpec, dataset: str, partition: str
) -> tuple[list[Drop], Discovery]:
    check_partition_key(partition)
    discovery = discover_drops(fs.list_files(landing_uri), client)
    return [d for d in discovery.drops if d.dataset == dataset and d.as_of_date == partition], discovery


def drops_for_partition(
    fs: LakeFileSystem, landing_uri: str, client: ClientSpec, dataset: str, partition: str
) -> list[Drop]:
    """The drops of one dataset whose ``as_of_date`` is ``partition`` (files of other days, other datasets
    or with bad names are not this partition's business)."""
    return _partition_drops(fs, landing_uri, client, dataset, partition)[0]


class IncompleteDropError(ValueError):
    """A drop that is not complete by the client's completeness rule (it may still be uploading)."""


def complete_drops_for_partition(
    fs: LakeFileSystem,
    landing_uri: str,
    client: ClientSpec,
    dataset: str,
    partition: str,
    now: float | None = None,
) -> list[Drop]:
    """:func:`drops_for_partition`, refusing the partition with :class:`IncompleteDropError` (naming the
    file) while any of its drops is incomplete by the client's rule (see :meth:`Discovery.incomplete_reason`),
    however the run was started."""
    drops, discovery = _partition_drops(fs, landing_uri, client, dataset, partition)
    moment = time.time() if now is None else now
    for drop in drops:
        reason = discovery.incomplete_reason(drop, client.completeness, moment)
        if reason is not None:
            raise IncompleteDropError(f"{reason}; nothing was converted, re-run once it is complete")
    return drops
