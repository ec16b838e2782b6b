"""The lake's layout, and the validation of every name that becomes part of a path.

Layout (``<lake>`` is ``RETINA_LAKE_URI``)::

    <lake>/<zone>/<client>/<dataset>/as_of_date=YYYY-MM-DD/part-0.parquet       current view (hive), per zone
                                                       [part-1.parquet, ...: one per part of a version]
    <lake>/_versions/<zone>/<client>/<dataset>/as_of_date=.../<sha256>.parquet  immutable versions
    <lake>/_versions/<zone>/<client>/<dataset>/as_of_date=.../<hash>/part-NNNNN-<sha256>.parquet
                                                                 multi-part versions (storage.parts)
    <lake>/_commits/<zone>/<client>/<dataset>/as_of_date=.../<seq>.json         commit log (source of truth)
    <lake>/_artifacts/<kind>/<client>/<name>/as_of_date=.../<sha256>.<ext>      immutable artifacts
                                                                   (executed notebooks: .ipynb, .html)
    <lake>/.tmp/                                                                staging (local disk only)
    <lake>/_staging/<id>/                                      parts of a multi-part write before its commit

``<zone>`` is raw, validated, rejected or features. Hive readers skip ``_``/``.`` folders, so reading
``<lake>/<zone>/<client>/<dataset>/`` gives exactly the current version of each partition.

Client, dataset and partition names are checked (:mod:`retina_assets.model.naming`) before they reach a path,
so a hostile name such as ``../etc`` or ``a|b`` is refused with a clear error instead of escaping the lake.
"""

from __future__ import annotations

from retina_assets.model.naming import PARTITION_COLUMN, ZONES, check_name, check_partition_key


def join(base: str, *parts: str) -> str:
    """Join URI or path segments with ``/`` (object stores and local paths alike)."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


def dataset_root(lake_uri: str, zone: str, client: str, dataset: str) -> str:
    """The hive root of one dataset in one zone, e.g. ``<lake>/features/demo/order_summary``."""
    if zone not in ZONES:
        raise ValueError(f"unknown zone {zone!r}; expected one of {ZONES}")
    return join(lake_uri, zone, check_name("client", client), check_name("dataset", dataset))


def partition_dir(lake_uri: str, zone: str, client: str, dataset: str, partition: str) -> str:
    """The folder of one partition: ``<root>/as_of_date=YYYY-MM-DD``."""
    return join(
        dataset_root(lake_uri, zone, client, dataset), f"{PARTITION_COLUMN}={check_partition_key(partition)}"
    )


def version_dir(lake_uri: str, zone: str, client: str, dataset: str, partition: str) -> str:
    """Where the immutable versions of a partition live: ``<lake>/_versions/<zone>/...``, outside the zone's
    hive root, so a reader of the current view never sees (and never double counts) older versions."""
    return _hidden_partition_dir(lake_uri, "_versions", zone, client, dataset, partition)


def commit_log_dir(lake_uri: str, zone: str, client: str, dataset: str, partition: str) -> str:
    """Where the commit log of a partition lives: ``<lake>/_commits/<zone>/.../<seq>.json`` (see
    :mod:`retina_assets.storage.commit_log`)."""
    return _hidden_partition_dir(lake_uri, COMMITS_DIR, zone, client, dataset, partition)


VERSIONS_DIR = "_versions"
COMMITS_DIR = "_commits"
STAGING_DIR = ".tmp"  # one writer's files being written (local disk)
PART_STAGING_DIR = "_staging"  # parts written in parallel (Spark executors), reachable on every backend


def _hidden_partition_dir(
    lake_uri: str, top: str, zone: str, client: str, dataset: str, partition: str
) -> str:
    if zone not in ZONES:
        raise ValueError(f"unknown zone {zone!r}; expected one of {ZONES}")
    return join(
        lake_uri,
        top,
        zone,
        check_name("client", client),
        check_name("dataset", dataset),
        f"{PARTITION_COLUMN}={check_partition_key(partition)}",
    )


def artifact_dir(lake_uri: str, kind: str, client: str, name: str, partition: str) -> str:
    """``<lake>/_artifacts/<kind>/<client>/<name>/as_of_date=<partition>``: immutable files that are not
    datasets (e.g. executed notebooks), named by the SHA-256 of their bytes."""
    check_name("artifact kind", kind)
    check_name("client", client)
    check_name("artifact", name)
    check_partition_key(partition)
    return join(lake_uri, "_artifacts", kind, client, name, f"{PARTITION_COLUMN}={partition}")
