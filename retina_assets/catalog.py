"""The client catalog: every client spec of a clients folder, checked against the registered features.

The asset graph grows from these specs, and notebooks, the lake API and command-line tools read them the
same way, without Dagster. :func:`spec_errors` lists every problem found in the spec files (the same check
the code location runs at load time), so a user can see why a client is missing from the graph without
opening the Dagster UI: ``python -c "import retina_assets.catalog as c; print(*c.spec_errors(), sep='\\n')"``.
"""

from __future__ import annotations

from pathlib import Path

from retina_assets.features import feature_catalog
from retina_assets.model.spec import ClientSpec, SpecError, load_client_spec, load_client_specs
from retina_assets.settings import LakeSettings

__all__ = ["ClientSpec", "SpecError", "load_client", "load_clients", "load_clients_and_errors", "spec_errors"]


def _clients_dir(clients_dir: str | Path | None) -> str | Path:
    return clients_dir if clients_dir is not None else LakeSettings.from_env().clients_dir


def load_clients_and_errors(
    clients_dir: str | Path | None = None,
) -> tuple[list[ClientSpec], list[SpecError]]:
    """The specs that load cleanly from ``clients_dir`` (default: ``RETINA_CLIENTS_DIR``) and the problems
    of those that do not (one bad file never stops the others)."""
    return load_client_specs(_clients_dir(clients_dir), features=feature_catalog())


def load_client(path: str | Path) -> ClientSpec:
    """One spec file, checked like the catalog checks it (raises ``SpecLoadError`` naming every problem)."""
    return load_client_spec(Path(path), features=feature_catalog())


def load_clients(clients_dir: str | Path | None = None) -> list[ClientSpec]:
    """The client specs that load cleanly from ``clients_dir`` (default: ``RETINA_CLIENTS_DIR``)."""
    return load_clients_and_errors(clients_dir)[0]


def spec_errors(clients_dir: str | Path | None = None) -> list[SpecError]:
    """Every problem in the spec files of ``clients_dir`` (default: ``RETINA_CLIENTS_DIR``).

    Each :class:`SpecError` names the file, the dotted field path and the problem. An empty list means
    every client spec loads.
    """
    return load_clients_and_errors(clients_dir)[1]
