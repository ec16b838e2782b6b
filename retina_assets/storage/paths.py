"""The lake's layout, and the validation of every name that becomes part of a path.

Layout (``<lake>`` is ``RETINA_LAKE_URI``)::

    <lake>/raw/<client>/<dataset>/as_of_date=YYYY-MM-DD/<sha256>.parquet        immutable versions
    <lake>/validated/<client>/<dataset>/as_of_date=YYYY-MM-DD/<sha256>.parquet  immutable versions
    <lake>/rejected/<client>/<dataset>/as_of_date=YYYY-MM-DD/<sha256>.parquet   immutable versions
    <lake>/features/<client>/<feature>/as_of_date=YYYY-MM-DD/part-0.parquet     current partition (hive)
    <lake>/_versions/features/<client>/<feature>/as_of_date=.../<sha256>.parquet immutable feature versions
    <lake>/_manifests/<zone>/<client>/<dataset>/as_of_date=.../<ts>-<sha256>.json version records
    <lake>/_artifacts/<kind>/<client>/<name>/as_of_date=.../<sha256>.<ext>        immutable artifacts
                                                                   (executed notebooks: .ipynb, .html)

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
    """Where the immutable versions of a partition live.

    Raw, validated and rejected versions sit in the partition folder itself. Feature versions live under
    ``<lake>/_versions/`` so that the feature hive root only ever holds the one current file per partition.
    """
    if zone == "features":
        return join(
            lake_uri,
            "_versions",
            "features",
            check_name("client", client),
            check_name("dataset", dataset),
            f"{PARTITION_COLUMN}={check_partition_key(partition)}",
        )
    return partition_dir(lake_uri, zone, client, dataset, partition)


def manifest_dir(lake_uri: str, zone: str, client: str, dataset: str, partition: str) -> str:
    """Where the version records (JSON) of a partition live (see :class:`~retina_assets.storage.versioned_store.VersionedStore`)."""
    if zone not in ZONES:
        raise ValueError(f"unknown zone {zone!r}; expected one of {ZONES}")
    return join(
        lake_uri,
        "_manifests",
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
