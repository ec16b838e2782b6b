"""What made a version: the code, the locked environment, the libraries that shape the bytes, the client spec.

Every stored version carries a *provenance* record (see :func:`version_provenance`) so it can be rebuilt and
checked later (``python -m retina_assets.verify``), and every Dagster asset gets a ``code_version``
(:func:`stage_code_version`) from the same facts, so the UI marks a partition stale exactly when what
shapes its bytes changed.

* **Code identity** (:func:`code_identity`): the package version, the git commit and whether the tree had
  uncommitted changes (when the code runs from a git checkout; a Docker image gets them as build arguments,
  ``RETINA_GIT_COMMIT``/``RETINA_GIT_DIRTY``), and the SHA-256 of the package's own source files, which
  identifies the code even without git.
* **Locked environment**: the SHA-256 of ``uv.lock``.
* **Libraries**: Python and the libraries whose versions can change a version's bytes (:data:`LIBRARIES`).
* **The spec**: a client spec as one canonical JSON document (:func:`spec_document`) and its hash, so the
  exact spec can be stored once, content-addressed, and used again.

Everything here is a plain fact about this process; nothing is written anywhere.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from retina_assets.model.naming import FEATURES, RAW, REJECTED, VALIDATED
from retina_assets.model.spec import ClientSpec

PACKAGE = "retina_assets"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent
# Libraries whose version can change the bytes of a version (readers, typing, validation, Parquet writing).
LIBRARIES = ("pyarrow", "pandas", "polars", "pandera", "pyspark")
# A fingerprint file baked into the Docker image (see the Dockerfile); read when there is no git checkout.
IMAGE_FINGERPRINT = Path(os.environ.get("RETINA_FINGERPRINT_FILE", "/app/retina-fingerprint.json"))

# The source packages each stage's output depends on (a change to any file in them may change the bytes).
STAGE_SOURCES: dict[str, tuple[str, ...]] = {
    RAW: ("ingestion", "model", "storage"),
    VALIDATED: ("quality", "engines", "model", "storage"),
    REJECTED: ("quality", "engines", "model", "storage"),
    FEATURES: ("features", "engines", "model", "storage"),
}


def canonical_json(value: Any) -> bytes:
    """``value`` as compact JSON, keys in their order (a spec's column order is part of its meaning, and
    pydantic dumps fields in a fixed order): the same value always gives the same bytes."""
    return json.dumps(value, separators=(",", ":"), default=str).encode()


def sha256_of(value: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


@functools.lru_cache(maxsize=8)
def source_sha256(packages: tuple[str, ...] | None = None) -> str:
    """SHA-256 over the ``.py`` files (relative path and bytes) of the package, or of some of its
    sub-packages, in a fixed order."""
    roots = [PACKAGE_DIR / p for p in packages] if packages else [PACKAGE_DIR]
    digest = hashlib.sha256()
    files = sorted({f for root in roots for f in root.rglob("*.py") if "__pycache__" not in f.parts})
    for path in files:
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    if not (REPO_ROOT / ".git").exists():
        return None
    try:
        out = subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@functools.lru_cache(maxsize=1)
def _image_fingerprint() -> dict[str, Any]:
    try:
        return dict(json.loads(IMAGE_FINGERPRINT.read_text()))
    except (OSError, ValueError):
        return {}


@functools.lru_cache(maxsize=1)
def code_identity() -> dict[str, Any]:
    """``package``, ``version``, ``git_commit`` and ``git_dirty`` (``None`` when unknown) and
    ``source_sha256`` of the code running in this process."""
    commit = _git("rev-parse", "HEAD")
    dirty: bool | None = None
    if commit:
        status = _git("status", "--porcelain", "--untracked-files=no")
        dirty = bool(status) if status is not None else None
    else:
        image = _image_fingerprint().get("code", {})
        commit = os.environ.get("RETINA_GIT_COMMIT") or image.get("git_commit") or None
        flag = os.environ.get("RETINA_GIT_DIRTY", "")
        dirty = flag.lower() in ("1", "true", "yes") if flag else image.get("git_dirty")
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = None
    return {
        "package": PACKAGE,
        "version": version,
        "git_commit": commit,
        "git_dirty": dirty,
        "source_sha256": source_sha256(),
    }


@functools.lru_cache(maxsize=1)
def lock_sha256() -> str | None:
    """SHA-256 of ``uv.lock`` beside the package (``None`` if it is not there, e.g. an installed wheel)."""
    for candidate in (REPO_ROOT / "uv.lock", Path.cwd() / "uv.lock"):
        if candidate.is_file():
            return hashlib.sha256(candidate.read_bytes()).hexdigest()
    return _image_fingerprint().get("uv_lock_sha256")


def library_versions() -> dict[str, str | None]:
    """Python's version and those of :data:`LIBRARIES` (``None`` for one that is not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict[str, Any]:
    """The fingerprint of this process: ``code``, ``uv_lock_sha256`` and ``libraries``. The Docker image
    carries the same document (``/app/retina-fingerprint.json``)."""
    return {"code": code_identity(), "uv_lock_sha256": lock_sha256(), "libraries": library_versions()}


def spec_document(spec: ClientSpec) -> dict[str, Any]:
    """The client spec as plain JSON data (field aliases as in the YAML), loadable again with
    :func:`spec_from_document`."""
    return spec.model_dump(mode="json", by_alias=True)


def spec_from_document(document: Mapping[str, Any]) -> ClientSpec:
    """The :class:`ClientSpec` a :func:`spec_document` describes."""
    return ClientSpec.model_validate(dict(document))


def spec_sha256(spec: ClientSpec) -> str:
    """The content address of a client spec: SHA-256 of its canonical JSON document."""
    return sha256_of(spec_document(spec))


def spec_part(spec: ClientSpec, zone: str, dataset: str) -> dict[str, Any]:
    """The part of a client's spec that shapes the versions of one asset.

    Raw: the dataset's reading and typing (everything but ``quality``). Validated and rejected: the whole
    dataset spec, the client's engine and the client's other datasets (referential checks). Features: the
    engine and which dataset provides each canonical kind.
    """
    document = spec_document(spec)
    if zone == RAW:
        part = dict(document["datasets"][dataset])
        part.pop("quality", None)
        return {"dataset": dataset, "spec": part}
    if zone in (VALIDATED, REJECTED):
        return {"dataset": dataset, "engine": spec.engine, "datasets": document["datasets"]}
    if zone == FEATURES:
        kinds = {d.canonical for d in spec.datasets.values()}
        return {
            "feature": dataset,
            "engine": spec.engine,
            "inputs": {kind: spec.datasets_for(kind)[0] for kind in sorted(kinds)},
        }
    raise ValueError(f"unknown zone {zone!r}")


def stage_code_version(spec: ClientSpec, zone: str, dataset: str) -> str:
    """The code version of one asset: a hash of its stage's source files and of :func:`spec_part`.

    It changes when the stage code or the part of the client spec the asset uses changes, and only then
    (a rule change in one client's YAML changes that client's validated and rejected assets, nothing else).
    """
    return sha256_of(
        {"stage": zone, "source": source_sha256(STAGE_SOURCES[zone]), "spec": spec_part(spec, zone, dataset)}
    )[:24]


def provenance_basis(
    spec: ClientSpec, zone: str, dataset: str, engine: str, spec_uri: str | None
) -> dict[str, Any]:
    """What a stage knows about a version it makes: stage, dataset, engine, its code version and the spec
    (client, hash and where the document is stored). :func:`complete_provenance` adds the rest."""
    return {
        "stage": zone,
        "dataset": dataset,
        "engine": engine,
        "code_version": stage_code_version(spec, zone, dataset),
        "spec": {"client": spec.client, "sha256": spec_sha256(spec), "uri": spec_uri},
    }


def complete_provenance(
    basis: Mapping[str, Any],
    inputs: Iterable[Mapping[str, Any]],
    run_id: str | None,
    partition: str | None,
) -> dict[str, Any]:
    """The provenance record of one version: ``basis`` (:func:`provenance_basis`), this process's
    :func:`environment`, the ``inputs`` (``{"path", "sha256"}``; an archived drop adds ``source``, the
    landing file it was taken from, ``name`` and ``bytes``), run id and partition."""
    return {
        **basis,
        "environment": environment(),
        "inputs": [dict(i) for i in inputs],
        "run_id": run_id,
        "partition": partition,
    }


def differences(recorded: Any, current: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted paths where two JSON-like values differ -> (recorded, current)."""
    if isinstance(recorded, Mapping) and isinstance(current, Mapping):
        out: dict[str, tuple[Any, Any]] = {}
        for key in sorted(set(recorded) | set(current), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            out.update(differences(recorded.get(key), current.get(key), path))
        return out
    return {} if recorded == current else {prefix or "<value>": (recorded, current)}


if __name__ == "__main__":  # the Docker build writes the image's fingerprint with this
    print(json.dumps(environment(), indent=1, sort_keys=True))
