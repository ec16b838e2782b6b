"""Finding a client's drops in its landing location and deriving their ``as_of_date`` partition.

:func:`discover_drops` is the one discovery of drops: the drop sensor uses it to decide what to ingest and
the raw stage (:func:`drops_for_partition`) to decide what to convert, so both agree on which files are
drops, of which dataset and which day. A drop's arrival time (for ``as_of_date: {from: arrival}``) is its
last-modified time as the backend lists it (local ``mtime``, S3 ``LastModified``, Azure ``last_modified``).
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from retina_assets.model.naming import UnsafeNameError, check_partition_key
from retina_assets.model.spec import ClientSpec, DatasetSpec
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


class DropNameError(ValueError):
    """A landed file whose name matches the pattern but yields no valid ``as_of_date``."""


def as_of_date_for(name: str, spec: DatasetSpec, arrival: dt.datetime | None = None) -> str | None:
    """The partition key for a file name, or ``None`` if the name does not match the dataset pattern.

    Raises :class:`DropNameError` when the name matches but its date group does not parse.
    """
    match = re.fullmatch(spec.pattern, name)
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
        for dataset, spec in client.datasets.items():
            try:
                key = as_of_date_for(name, spec, arrival_time(info))
            except (DropNameError, UnsafeNameError) as exc:
                found.bad_names[info.uri] = f"{info.uri}: {str(exc).removeprefix(f'{name}: ')}"
                break
            if key is not None:
                found.drops.append(Drop(info.uri, name, info.size, info.token, dataset, key))
                break
    found.drops.sort(key=lambda d: d.name)
    return found


def drops_for_partition(
    fs: LakeFileSystem, landing_uri: str, client: ClientSpec, dataset: str, partition: str
) -> list[Drop]:
    """The drops of one dataset whose ``as_of_date`` is ``partition`` (files of other days, other datasets
    or with bad names are not this partition's business)."""
    check_partition_key(partition)
    discovery = discover_drops(fs.list_files(landing_uri), client)
    return [d for d in discovery.drops if d.dataset == dataset and d.as_of_date == partition]
