"""Client onboarding: declarative YAML specs that the asset graph is built from.

:func:`spec_errors` lists every problem found in the spec files of a clients folder (the same check the code
location runs at load time), so a user can see why a client is missing from the graph without opening the
Dagster UI: ``python -c "import retina_assets.clients as c; print(*c.spec_errors(), sep='\\n')"``.
"""

from __future__ import annotations

from pathlib import Path

from retina_assets.clients.spec import ClientSpec, SpecError, load_client_specs

__all__ = ["ClientSpec", "SpecError", "load_clients", "spec_errors"]


def _clients_dir(clients_dir: str | Path | None) -> str | Path:
    if clients_dir is not None:
        return clients_dir
    from retina_assets.settings import LakeSettings

    return LakeSettings.from_env().clients_dir


def load_clients(clients_dir: str | Path | None = None) -> list[ClientSpec]:
    """The client specs that load cleanly from ``clients_dir`` (default: ``RETINA_CLIENTS_DIR``)."""
    return load_client_specs(_clients_dir(clients_dir))[0]


def spec_errors(clients_dir: str | Path | None = None) -> list[SpecError]:
    """Every problem in the spec files of ``clients_dir`` (default: ``RETINA_CLIENTS_DIR``).

    Each :class:`SpecError` names the file, the dotted field path and the problem. An empty list means
    every client spec loads.
    """
    return load_client_specs(_clients_dir(clients_dir))[1]
