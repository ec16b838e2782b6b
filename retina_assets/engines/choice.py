"""Choosing the engine of a step: the client's spec (``engine: pandas|spark``) or this run's config."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import Field

from retina_assets.clients.spec import ClientSpec

ENGINES = ("pandas", "spark")


class EngineConfig(dg.Config):
    """Run config of every step that can run on either engine (validation, features).

    ``engine`` overrides the client's spec ``engine`` for this run; empty means "use the spec".
    """

    engine: str = Field(default="", description="pandas | spark; empty = the client's spec `engine`")

    def resolve(self, client: ClientSpec) -> str:
        """The engine in effect: this run's choice, else the client's; a clear error for anything else."""
        engine = self.engine or client.engine
        if engine not in ENGINES:
            raise dg.Failure(
                f"unknown engine {engine!r} in the run config of client {client.client!r}; "
                f"expected one of {list(ENGINES)}"
            )
        return engine


def engine_op_names(client: ClientSpec) -> list[str]:
    """Names of the client's steps that take an :class:`EngineConfig` (validation per dataset, features)."""
    names = [f"{client.client}__validate_{dataset}" for dataset in client.datasets]
    names += [f"{client.client}__{feature}" for feature in client.features]
    return names


def engine_run_config(client: ClientSpec, engine: str) -> dict[str, Any]:
    """Run config that puts every engine-aware step of ``client`` on ``engine`` for one run."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}")
    return {"ops": {name: {"config": {"engine": engine}} for name in engine_op_names(client)}}
