"""The partitions of a client's assets (one per ``as_of_date`` day), how a backfill cuts them into runs, and
the run-queue lane that keeps two runs of one client from writing at the same time."""

from __future__ import annotations

import warnings

import dagster as dg

from retina_assets.model.spec import ClientSpec


def partitions_for(spec: ClientSpec) -> dg.DailyPartitionsDefinition:
    """Daily ``as_of_date`` partitions (``YYYY-MM-DD``) from the client's start date; the same days as
    :meth:`ClientSpec.has_partition <retina_assets.model.spec.ClientSpec.has_partition>`."""
    return dg.DailyPartitionsDefinition(
        start_date=spec.start_date.isoformat(),
        end_date=spec.end_date.isoformat() if spec.end_date else None,
        fmt="%Y-%m-%d",
    )


def backfill_policy_for(spec: ClientSpec) -> dg.BackfillPolicy:
    """A backfill over many days launches runs of at most the spec's ``backfill.partitions_per_run`` days
    (default per engine: see :class:`~retina_assets.model.spec.BackfillSettings`)."""
    return dg.BackfillPolicy.multi_run(spec.backfill.resolved(spec.engine))


def run_partitions(context: dg.AssetExecutionContext) -> list[str]:
    """The days a step computes: one for a single-partition run, every day of the range for a ranged run
    (a backfill run, or ``--partition-range``), in order."""
    return list(context.partition_keys)


# Every run that writes a client's partitions carries this tag with the client's name; dagster.yaml's
# `tag_concurrency_limits` lets the run queue start at most one such run per client at a time. It is per
# client, not per day, because a backfill run covers a range of days and a run holds one value per tag:
# only a per-client lane keeps a ranged run and a single-day run of a day in its range apart. The
# storage commit check still guards writers outside the queue.
CLIENT_LOCK_TAG = "retina/client_lock"


def client_lock_tags(client: str) -> dict[str, str]:
    """The run tags that put a run of ``client`` in its one-at-a-time queue lane."""
    return {CLIENT_LOCK_TAG: client}


# `backfill_policy` is marked beta in dagster 1.13 (pinned; the ranged-run tests cover it): say it once here,
# not on every asset of every client at every load
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
