"""The code location: ``retina_assets.definitions:defs``.

The asset graph is built from the client specs in ``RETINA_CLIENTS_DIR`` (one YAML file per client, see
:mod:`retina_assets.clients.spec`). Per client, in its own asset group:

    <client>/raw_<dataset> -> <client>/validated_<dataset> (+ <client>/rejected_<dataset>) -> <client>/<feature>

plus an ingestion job and a drop sensor. A spec file that fails to load is reported (file, field, problem)
in the log and in the ``retina_spec_errors`` sensor's description; the other clients load normally.
"""

from __future__ import annotations

import logging

import dagster as dg

from retina_assets.clients.graph import build_client_definitions
from retina_assets.clients.spec import load_client_specs
from retina_assets.engines.spark import spark_resource
from retina_assets.ingestion.raw_assets import LandingResource
from retina_assets.settings import LakeSettings
from retina_assets.storage.io_managers import LakeIOManager
from retina_assets.storage.lake_resource import LakeResource

log = logging.getLogger("retina_assets")


def build_definitions(settings: LakeSettings | None = None) -> dg.Definitions:
    """Build the Definitions for the clients in ``settings.clients_dir``."""
    settings = settings or LakeSettings.from_env()
    specs, errors = load_client_specs(settings.clients_dir)
    for error in errors:
        log.error("client spec not loaded: %s", error)
    parts = [build_client_definitions(spec) for spec in specs]
    return dg.Definitions.merge(
        *parts,
        dg.Definitions(
            resources={
                "lake_io_manager": LakeIOManager(lake_uri=settings.lake_uri),
                "lake": LakeResource(lake_uri=settings.lake_uri),
                "landing": LandingResource(landing_uri=settings.landing_uri),
                "spark": spark_resource(),
            }
        ),
    )


defs = build_definitions()
