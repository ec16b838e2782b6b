"""Finding a client's drops in its landing location and deriving their ``as_of_date`` partition."""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from dataclasses import dataclass

from retina_assets.clients.spec import DatasetSpec
from retina_assets.storage.filesystem import FileInfo, LakeFileSystem
from retina_assets.storage.paths import check_partition_key


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


def _arrival(info: FileInfo) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(info.token), dt.UTC)
    except ValueError:
        return None


def find_drops(fs: LakeFileSystem, landing_uri: str, datasets: dict[str, DatasetSpec]) -> list[Drop]:
    """All files in ``landing_uri`` (not recursive) that match one of the datasets, sorted by name.

    Hidden files (``.x``, ``_x``) and marker files are ignored; names that match no pattern are skipped.
    """
    drops: list[Drop] = []
    for info in fs.list_files(landing_uri):
        name = posixpath.basename(info.uri)
        for dataset, spec in datasets.items():
            key = as_of_date_for(name, spec, _arrival(info))
            if key is not None:
                drops.append(Drop(info.uri, name, info.size, info.token, dataset, key))
                break
    return sorted(drops, key=lambda d: d.name)


def drops_for_partition(
    fs: LakeFileSystem, landing_uri: str, dataset: str, spec: DatasetSpec, partition: str
) -> list[Drop]:
    """The drops of one dataset whose ``as_of_date`` is ``partition``."""
    return [d for d in find_drops(fs, landing_uri, {dataset: spec}) if d.as_of_date == partition]
