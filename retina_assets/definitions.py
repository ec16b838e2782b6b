"""The code location: ``retina_assets.definitions:defs``.

The asset graph is built from the client specs in ``RETINA_CLIENTS_DIR`` (one YAML file per client, see
:mod:`retina_assets.clients.spec`). Per client, in its own asset group:

    <client>/raw_<dataset> -> <client>/validated_<dataset> (+ <client>/rejected_<dataset>) -> <client>/<feature>

plus an ingestion job and a drop sensor. A spec file that fails to load is reported (file, field, problem)
as a Python warning, in the log and in the ``retina_spec_errors`` sensor (its description lists the errors
and every tick reports them as its skip reason); the other clients load normally.
:func:`retina_assets.clients.spec_errors` lists the same errors from Python.
"""

from __future__ import annotations

import logging
import warnings

import dagster as dg

from retina_assets.clients.graph import build_client_definitions
from retina_assets.clients.spec import SpecError, load_client_specs
from retina_assets.engines.spark import spark_resource
from retina_assets.ingestion.raw_assets import LandingResource
from retina_assets.settings import LakeSettings
from retina_assets.storage.credentials import StorageCredentials
from retina_assets.storage.io_managers import LakeIOManager
from retina_assets.storage.lake_resource import LakeResource

log = logging.getLogger("retina_assets")


class SpecErrorWarning(UserWarning):
    """A client spec could not be loaded; the client is left out of the code location."""


def spec_errors_sensor(errors: list[SpecError]) -> dg.SensorDefinition:
    """A sensor that only exists to make spec errors visible in the UI (it never starts runs)."""
    text = "\n".join(f"- {e}" for e in errors)

    @dg.sensor(
        name="retina_spec_errors",
        description=f"{len(errors)} client spec problem(s); these clients are not loaded:\n{text}",
        minimum_interval_seconds=3600,
    )
    def _spec_errors(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        return dg.SkipReason(f"client spec problems:\n{text}")

    return _spec_errors


def build_definitions(
    settings: LakeSettings | None = None, credentials: StorageCredentials | None = None
) -> dg.Definitions:
    """Build the Definitions for the clients in ``settings.clients_dir``.

    ``credentials`` for object stores default to :meth:`StorageCredentials.from_env` (``EnvVar`` fields for
    the standard ``AWS_*``/``AZURE_STORAGE_*`` variables that are set); pass your own to read other variables.

    Guarantee: a client whose spec (or whose generated assets) fails is reported and left out; it never
    prevents the other clients from loading.
    """
    settings = settings or LakeSettings.from_env()
    specs, errors = load_client_specs(settings.clients_dir)
    # object-store credentials as EnvVar fields: resolved at run time, shown by name only (never the value)
    credentials = credentials or StorageCredentials.from_env()
    resources = dg.Definitions(
        resources={
            "lake_io_manager": LakeIOManager(lake_uri=settings.lake_uri, credentials=credentials),
            "lake": LakeResource(lake_uri=settings.lake_uri, credentials=credentials),
            "landing": LandingResource(landing_uri=settings.landing_uri, credentials=credentials),
            "spark": spark_resource(),
        }
    )
    parts: list[dg.Definitions] = []
    for spec in specs:
        try:
            part = build_client_definitions(spec)
            dg.Definitions.validate_loadable(dg.Definitions.merge(part, resources))
        except Exception as exc:  # noqa: BLE001 - any failure of one client must not stop the others
            errors.append(SpecError(f"{settings.clients_dir}/{spec.client}.yaml", "<definitions>", str(exc)))
            continue
        parts.append(part)
    for error in errors:
        log.error("client spec not loaded: %s", error)
        warnings.warn(f"client spec not loaded: {error}", SpecErrorWarning, stacklevel=2)
    extra = [spec_errors_sensor(errors)] if errors else []
    return dg.Definitions.merge(*parts, resources, dg.Definitions(sensors=extra))


defs = build_definitions()
