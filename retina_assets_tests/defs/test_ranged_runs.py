"""Ranged runs (a backfill run over several days): the same versions, metadata and per-day check results as
one run per day; a blocked day gets no feature while the other days do; a failing day fails the range
naming it; the run queue keeps a ranged run and a single-day run of the same client apart; the backfill
policy follows the client spec."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.event_api import PartitionKeyFilter
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._utils.tags import TagConcurrencyLimitsCounter

from retina_assets.definitions import build_definitions
from retina_assets.defs.partitions import CLIENT_LOCK_TAG
from retina_assets.defs.run_queue import ClientLaneRunCoordinator
from retina_assets.demo import SAMPLE, load_source, write_drops
from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv
from retina_assets_tests.support.quality import edit_spec, spec_env, write_drop

DAYS = ["2010-12-01", "2010-12-02", "2010-12-03"]
ASSETS = ["raw_orders", "validated_orders", "rejected_orders", "order_summary", "customer_rfm"]
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
ORIGIN = RemoteJobOrigin(
    repository_origin=RemoteRepositoryOrigin(
        code_location_origin=InProcessCodeLocationOrigin(
            LoadableTargetOrigin(module_name="retina_assets.definitions")
        ),
        repository_name="__repository__",
    ),
    job_name="__ASSET_JOB",
)
# values that differ between any two runs (times, run ids), not between a ranged and a single-day run
RUN_DEPENDENT = {"created_at", "conversion_seconds", "run_id"}


def _ranged(env: LakeEnv, instance: dg.DagsterInstance, start: str, end: str) -> dg.ExecuteInProcessResult:
    """One ranged run of the demo ingest job over ``start..end``, as a backfill run is tagged."""
    job = build_definitions(env.settings).resolve_job_def("demo_ingest")
    return job.execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START: start, RANGE_END: end}
    )


def _plain(value: Any, lake: Path) -> Any:
    """A metadata value as plain JSON with the lake's root replaced and run-dependent keys removed."""
    raw = getattr(value, "value", value)
    if isinstance(raw, dg.TableSchema):
        raw = [(c.name, c.type) for c in raw.columns]
    text = json.dumps(raw, default=str, sort_keys=True).replace(str(lake), "<lake>")

    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items() if k not in RUN_DEPENDENT}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip(json.loads(text))


def _recorded(instance: dg.DagsterInstance, lake: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(asset, day) -> the latest materialization's metadata (plain) and data-version tags."""
    out = {}
    for asset in ASSETS:
        key = dg.AssetKey(["demo", asset])
        for day in DAYS:
            [record] = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), limit=1
            ).records
            meta = record.asset_materialization.metadata  # type: ignore[union-attr]
            tags = record.event_log_entry.tags
            out[(asset, day)] = {
                "metadata": {k: _plain(v, lake) for k, v in meta.items() if k not in RUN_DEPENDENT},
                "data_version": tags.get("dagster/data_version"),
                "input_tags": sorted(k for k in tags if k.startswith("dagster/input_")),
            }
    return out


def _checks(instance: dg.DagsterInstance, lake: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(check, day) -> the latest evaluation: passed, severity, blocking, metadata, and whether it points at
    that day's latest validated materialization."""
    valid = dg.AssetKey(["demo", "validated_orders"])
    out = {}
    for check in (
        "reconciliation",
        "schema",
        "reject_fraction",
        "key_unique",
        "null_rate",
        "volume",
        "freshness",
    ):
        for day in DAYS:
            [record] = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(valid, check), limit=1, partition_filter=PartitionKeyFilter(key=day)
            )
            evaluation = record.event.dagster_event.event_specific_data  # type: ignore[union-attr]
            [mat] = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=valid, asset_partitions=[day]), limit=1
            ).records
            target = evaluation.target_materialization_data
            out[(check, day)] = {
                "partition": evaluation.partition,
                "passed": evaluation.passed,
                "severity": evaluation.severity,
                "blocking": evaluation.blocking,
                "metadata": {k: _plain(v, lake) for k, v in evaluation.metadata.items()},
                "targets_the_day": target is not None and target.storage_id == mat.storage_id,
            }
    return out


def test_a_ranged_run_records_each_day_as_single_day_runs_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single = LakeEnv(tmp_path / "single_lake", tmp_path / "landing", REPO_ROOT / "clients")
    ranged = LakeEnv(tmp_path / "ranged_lake", tmp_path / "landing", REPO_ROOT / "clients")
    for folder in (single.lake, ranged.lake, single.landing):
        folder.mkdir()
    monkeypatch.setenv("RETINA_LANDING_URI", str(single.landing))
    write_drops(single.landing, source=SAMPLE, days=3)  # the same drop files for both lakes
    with dg.instance_for_test() as one_by_one, dg.instance_for_test() as in_range:
        job = build_definitions(single.settings).resolve_job_def("demo_ingest")
        for day in DAYS:
            assert job.execute_in_process(partition_key=day, instance=one_by_one).success
        result = _ranged(ranged, in_range, DAYS[0], DAYS[-1])
        assert result.success
        # one run, every day of every asset recorded once
        runs = in_range.get_runs()
        assert len(runs) == 1 and runs[0].tags[RANGE_START] == DAYS[0]
        expected, got = _recorded(one_by_one, single.lake), _recorded(in_range, ranged.lake)
        for where, record in expected.items():
            assert set(got[where]["metadata"]) == set(record["metadata"]), where
            assert got[where]["metadata"] == record["metadata"], where  # paths, hashes, rows, drift, ...
        assert {w: r["metadata"]["content_hash"] for w, r in got.items()} == {
            w: r["metadata"]["content_hash"] for w, r in expected.items()
        }
        assert len({r["metadata"]["content_hash"] for r in got.values()}) == len(ASSETS) * len(DAYS)
        for day in DAYS:  # features: the day's content hash is its data version, inputs recorded
            for feature in ("order_summary", "customer_rfm"):
                record = got[(feature, day)]
                assert record["data_version"] == record["metadata"]["content_hash"]
                assert record["input_tags"] == expected[(feature, day)]["input_tags"] != []
        assert _checks(in_range, ranged.lake) == _checks(one_by_one, single.lake)
        assert all(c["targets_the_day"] for c in _checks(in_range, ranged.lake).values())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeEnv:
    return spec_env(tmp_path, monkeypatch)


def test_a_blocked_day_gets_no_feature_while_the_other_days_do(
    env: LakeEnv, instance: dg.DagsterInstance
) -> None:
    write_drops(env.landing, source=SAMPLE, days=3)
    # 2010-12-02 replaced by a drop where 40% of the lines have a zero price: quarantined, over the
    # demo client's blocking 10% reject fraction
    lines = load_source(SAMPLE).head(500).to_dict("records")
    for line in lines[:200]:
        line["UnitPrice"] = 0.0
    (env.landing / "demo" / "orders_20101202.csv").unlink()
    write_drop(env, "2010-12-02", lines)
    result = _ranged(env, instance, DAYS[0], DAYS[-1])
    assert not result.success
    built = {
        (e.asset_key.path[-1], e.partition)  # type: ignore[union-attr]
        for e in (ev.event_specific_data.materialization for ev in result.get_asset_materialization_events())
    }
    assert {("validated_orders", day) for day in DAYS} <= built  # nothing lost: every day validated
    assert {("order_summary", d) for d in DAYS if d != "2010-12-02"} <= built
    assert ("order_summary", "2010-12-02") not in built and ("customer_rfm", "2010-12-02") not in built
    checks = [e for e in result.get_asset_check_evaluations() if e.check_name == "reject_fraction"]
    assert {(e.partition, e.passed) for e in checks} == {
        ("2010-12-01", True),
        ("2010-12-02", False),
        ("2010-12-03", True),
    }
    failures = {e.step_key: e for e in result.all_events if e.event_type_value == "STEP_FAILURE"}
    assert set(failures) == {"demo__order_summary", "demo__customer_rfm"}  # both features, nothing else
    for failure in failures.values():
        message = failure.event_specific_data.error.to_string()  # type: ignore[union-attr]
        assert "1 of 3 day(s)" in message and "not built" in message
        assert "[2010-12-02]" in message and "reject_fraction" in message
    features = env.lake / "features" / "demo" / "order_summary"
    assert sorted(p.name for p in features.iterdir()) == ["as_of_date=2010-12-01", "as_of_date=2010-12-03"]
    # the history feature of 12-03 leaves the blocked day out, and says so
    [rfm] = [
        ev.event_specific_data.materialization
        for ev in result.get_asset_materialization_events()
        if ev.event_specific_data.materialization.asset_key.path[-1] == "customer_rfm"
        and ev.event_specific_data.materialization.partition == "2010-12-03"
    ]
    assert list(rfm.metadata["excluded_partitions"].value) == ["2010-12-02"]  # type: ignore[arg-type]


def test_a_day_without_a_drop_fails_the_range_naming_it(env: LakeEnv, instance: dg.DagsterInstance) -> None:
    write_drops(env.landing, source=SAMPLE, days=3)
    (env.landing / "demo" / "orders_20101202.csv").unlink()
    result = _ranged(env, instance, DAYS[0], DAYS[-1])
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.to_string()  # type: ignore[union-attr]
    assert failure.step_key == "demo__raw_orders"
    assert "demo/raw_orders [2010-12-02]" in message and "no `orders` drop" in message
    assert "2010-12-01..2010-12-03" in message
    # all or nothing per asset: no day of the range is recorded, the later steps did not run
    assert result.get_asset_materialization_events() == []
    # the day before it was written and is reused by the next run of that day
    job = build_definitions(env.settings).resolve_job_def("demo_ingest")
    again = job.execute_in_process(partition_key="2010-12-01", instance=instance)
    [raw] = [
        e.event_specific_data.materialization
        for e in again.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key.path[-1] == "raw_orders"
    ]
    assert raw.metadata["deduplicated"].value is True


def test_a_ranged_run_and_a_single_day_run_of_one_client_share_one_queue_lane(env: LakeEnv) -> None:
    limits = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["concurrency"]["runs"]
    config = yaml.safe_load((REPO_ROOT / "dagster.yaml").read_text())["run_coordinator"]
    assert (config["module"], config["class"]) == (
        ClientLaneRunCoordinator.__module__,
        "ClientLaneRunCoordinator",
    )
    overrides = {"run_coordinator": config, "concurrency": {"runs": limits}}
    with dg.instance_for_test(overrides=overrides) as instance:
        assert isinstance(instance.run_coordinator, ClientLaneRunCoordinator)
        demo = frozenset(dg.AssetKey(["demo", a]) for a in ASSETS)

        def submit(run_id: str, tags: dict[str, str], keys: frozenset[dg.AssetKey]) -> dg.DagsterRun:
            # what the backfill daemon and the UI create: an implicit asset job run with no tags of ours
            run = dg.DagsterRun(
                job_name="__ASSET_JOB", run_id=run_id, tags=tags, asset_selection=keys,
                status=dg.DagsterRunStatus.NOT_STARTED, remote_job_origin=ORIGIN,
            )  # fmt: skip
            instance.add_run(run)
            return instance.run_coordinator.submit_run(SubmitRunContext(run, workspace=None))  # type: ignore[arg-type]

        backfill_run = submit("a" * 32, {RANGE_START: "2010-12-01", RANGE_END: "2010-12-31"}, demo)
        ui_run = submit("b" * 32, {"dagster/partition": "2010-12-15"}, demo)
        other = submit(
            "c" * 32, {"dagster/partition": "2010-12-15"}, frozenset({dg.AssetKey(["shop", "raw_orders"])})
        )
        both = submit("d" * 32, {}, demo | {dg.AssetKey(["shop", "raw_orders"])})
        assert backfill_run.status == dg.DagsterRunStatus.QUEUED
        assert backfill_run.tags[CLIENT_LOCK_TAG] == ui_run.tags[CLIENT_LOCK_TAG] == "demo"
        assert other.tags[CLIENT_LOCK_TAG] == "shop"
        assert CLIENT_LOCK_TAG not in both.tags  # a run over two clients cannot hold two lanes
        # the queue (the daemon's counter): while the ranged run runs, the single-day run of a day in its
        # range waits; another client's run does not
        counter = TagConcurrencyLimitsCounter(limits["tag_concurrency_limits"], [backfill_run])
        assert counter.is_blocked(ui_run) and not counter.is_blocked(other)
        counter = TagConcurrencyLimitsCounter(limits["tag_concurrency_limits"], [ui_run])
        assert counter.is_blocked(backfill_run)


def test_the_backfill_policy_follows_the_client_spec(env: LakeEnv) -> None:
    def policies() -> dict[str, int | None]:
        graph = build_definitions(env.settings).resolve_asset_graph()
        found = {key.path[-1]: graph.get(key).backfill_policy for key in graph.materializable_asset_keys}
        # the CLV notebook fits a model per day: it keeps one run per day (no policy)
        assert found.pop("clv") is None
        return {name: policy.max_partitions_per_run for name, policy in found.items()}  # type: ignore[union-attr]

    assert set(policies().values()) == {31}  # the in-process default
    edit_spec(env, lambda d: d.update(engine="spark"))
    assert set(policies().values()) == {92}  # a Spark run pays a JVM start: longer ranges
    edit_spec(env, lambda d: d.update(backfill={"partitions_per_run": 7}))
    assert set(policies().values()) == {7}
    edit_spec(env, lambda d: d.update(backfill={"partitions_per_run": 0}))
    with pytest.warns(UserWarning, match="partitions_per_run"):
        build_definitions(env.settings)


def test_the_backfill_command_selects_the_days_with_drops(
    env: LakeEnv, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from retina_assets.defs.backfill import BackfillError, launch_backfill, main, plan_backfill

    write_drops(env.landing, source=SAMPLE, days=5)  # 2010-12-01 .. 03, 05, 06: no drop on Saturday 12-04
    plan = plan_backfill("demo", dt.date(2010, 12, 1), dt.date(2010, 12, 7), env.settings)
    assert plan.days == ["2010-12-01", "2010-12-02", "2010-12-03", "2010-12-05", "2010-12-06"]
    assert plan.left_out == ["2010-12-04", "2010-12-07"]
    assert {k.to_user_string() for k in plan.assets} == {f"demo/{a}" for a in ASSETS}  # no notebook
    every = plan_backfill("demo", dt.date(2010, 12, 1), dt.date(2010, 12, 7), env.settings, all_days=True)
    assert len(every.days) == 7 and every.left_out == []
    with pytest.raises(BackfillError, match="unknown client 'nobody'"):
        plan_backfill("nobody", dt.date(2010, 12, 1), dt.date(2010, 12, 7), env.settings)
    with pytest.raises(BackfillError, match="no day with a drop"):
        plan_backfill("demo", dt.date(2010, 12, 4), dt.date(2010, 12, 4), env.settings)
    # recorded as the UI records a backfill: the daemon cuts it per the assets' backfill policy
    backfill_id = launch_backfill(instance, plan, env.settings)
    backfill = instance.get_backfill(backfill_id)
    assert backfill is not None and backfill.is_asset_backfill
    target = backfill.asset_backfill_data.target_subset  # type: ignore[union-attr]
    raw = dg.AssetKey(["demo", "raw_orders"])
    assert sorted(target.get_partitions_subset(raw).get_partition_keys()) == plan.days
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert main(["--client", "demo", "--from", "2010-12-01", "--to", "2010-12-02"]) == 2  # no instance


def test_dagster_records_a_check_result_yielded_in_a_ranged_run_without_its_day() -> None:
    """Pins the Dagster 1.13 behaviour that makes ranged runs log per-day evaluations instead of yielding
    ``AssetCheckResult``s: a yielded result gets no partition, and a failed blocking one fails the step."""
    days = dg.DailyPartitionsDefinition(start_date="2024-01-01")

    @dg.asset(
        partitions_def=days,
        check_specs=[dg.AssetCheckSpec("rows", asset="probe", blocking=True, partitions_def=days)],
        backfill_policy=dg.BackfillPolicy.multi_run(5),
    )
    def probe():  # noqa: ANN202 - a probe of Dagster itself
        yield dg.MaterializeResult()  # no value: no IO manager
        yield dg.AssetCheckResult(check_name="rows", passed=False)

    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [probe], instance=instance, raise_on_error=False,
            tags={RANGE_START: "2024-01-01", RANGE_END: "2024-01-03"},
        )  # fmt: skip
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.partition is None  # not one of the three days
    assert not result.success  # the failed blocking result fails the step for the whole range
