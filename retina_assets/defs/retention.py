"""The ``retention`` job and its daily schedule: the Dagster wrapper of :mod:`retina_assets.retention`.

The job plans and (unless ``dry_run``) applies every client's retention policy to the lake of the ``lake``
resource, with the client specs the code location loaded; its log says what went (files, bytes). The same thing runs without Dagster: ``python -m retina_assets.retention [--apply]``.
"""

import dagster as dg

from retina_assets.defs.resources import LakeResource
from retina_assets.model.spec import ClientSpec
from retina_assets.retention import DEFAULT_GRACE_HOURS, apply_retention, plan_retention

RETENTION_CRON = "30 3 * * *"  # daily, at a quiet hour


class RetentionConfig(dg.Config):
    dry_run: bool = False
    grace_hours: float = DEFAULT_GRACE_HOURS


def retention_definitions(clients: list[ClientSpec]) -> dg.Definitions:
    """The ``retention`` job over ``clients``' policies and its schedule (running by default: without a
    ``keep_last`` in a spec nothing but staging leftovers is ever deleted)."""

    @dg.op(name="apply_retention")
    def apply_retention_op(
        context: dg.OpExecutionContext, config: RetentionConfig, lake: LakeResource
    ) -> None:
        store = lake.store()
        plan = plan_retention(store, clients, grace_hours=config.grace_hours)
        if not config.dry_run:
            plan = apply_retention(store, plan)
        for line in plan.summary().splitlines():
            context.log.info(line)

    @dg.job(
        name="retention",
        description="Delete old versions by each client's retention policy, and staging leftovers.",
    )
    def retention_job() -> None:
        apply_retention_op()

    schedule = dg.ScheduleDefinition(
        name="retention_schedule",
        job=retention_job,
        cron_schedule=RETENTION_CRON,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    return dg.Definitions(jobs=[retention_job], schedules=[schedule])
