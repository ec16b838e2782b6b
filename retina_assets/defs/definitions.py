"""The Definitions of the code location (``retina_assets.definitions:defs`` re-exports :data:`defs`).

The asset graph is built from the client specs in ``RETINA_CLIENTS_DIR`` (one YAML file per client, see
:mod:`retina_assets.model.spec`, loaded by :mod:`retina_assets.catalog`). Per client, in its own asset group:

    <client>/raw_<dataset> -> <client>/validated_<dataset> (+ <client>/rejected_<dataset>) -> <client>/<feature>

plus an ingestion job and a drop sensor. A spec file that fails to load is reported (file, field, problem)
as a Python warning, in the log and in the ``retina_spec_errors`` sensor (its description lists the errors
and every tick reports them as its skip reason); the other clients load normally.
:func:`retina_assets.catalog.spec_errors` lists the same errors from Python.
"""

from __future__ import annotations

import logging
import warnings

import dagster as dg

from retina_assets.catalog import load_clients_and_errors
from retina_assets.defs.alerts import AlertWebhook, run_failure_alert
from retina_assets.defs.client import build_client_definitions
from retina_assets.defs.io_manager import LakeIOManager
from retina_assets.defs.rebuild import retina_rebuild_version
from retina_assets.defs.resources import LakeResource, LandingResource, SparkResource, StorageCredentials
from retina_assets.defs.retention import retention_definitions
from retina_assets.defs.sensors import spec_errors_sensor
from retina_assets.engines.spark import local_spark_config
from retina_assets.model.spec import SpecError
from retina_assets.settings import LakeSettings

log = logging.getLogger("retina_assets")


class SpecErrorWarning(UserWarning):
    """A client spec could not be loaded; the client is left out of the code location."""


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
    specs, errors = load_clients_and_errors(settings.clients_dir)
    # object-store credentials as EnvVar fields: resolved at run time, shown by name only (never the value)
    credentials = credentials or StorageCredentials.from_env()
    lake = LakeResource(lake_uri=settings.lake_uri, credentials=credentials)
    resources = dg.Definitions(
        # One process per run, for every job of the location, the implicit asset job of UI materializations
        # and backfill runs included: a client's steps run one after the other anyway, and a process per
        # step costs seconds of start-up each (a small drop's run took 11-17 s with a process per step,
        # 2-3 s in one; on Spark every step process would start its own JVM).
        executor=dg.in_process_executor,
        resources={
            "lake_io_manager": LakeIOManager(lake=lake),
            "lake": lake,
            "landing": LandingResource(landing_uri=settings.landing_uri, credentials=credentials),
            "spark": SparkResource(spark_config=local_spark_config()),
            "alert_webhook": AlertWebhook.from_env(),
        },
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
    automation = [automation_sensor()] if parts else []
    # retention applies every spec that loaded (its policy holds even if its assets failed to build)
    return dg.Definitions.merge(
        *parts,
        resources,
        retention_definitions(specs),
        dg.Definitions(sensors=[*extra, *automation, run_failure_alert], jobs=[retina_rebuild_version]),
    )


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Dagster's automation-condition sensor, but running from the start (Dagster's default one is
    stopped): it evaluates the features' automation conditions, e.g. rebuilding ``order_summary`` once its
    validated input has passed its blocking checks."""
    return dg.AutomationConditionSensorDefinition(
        "default_automation_condition_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Evaluates the assets' automation conditions (on by default).",
    )


defs = build_definitions()
