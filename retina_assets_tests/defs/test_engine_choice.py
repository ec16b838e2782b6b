"""Choosing the engine (spec or run config) and where Spark runs, without starting Spark."""

from __future__ import annotations

import dagster as dg
import pytest

from retina_assets.definitions import build_definitions
from retina_assets.defs.jobs import engine_run_config
from retina_assets.defs.resources import EngineConfig, SparkResource
from retina_assets.engines.spark import SPARK_REMOTE_ENV, check_remote, local_spark_config
from retina_assets.model.spec import load_client_spec
from retina_assets.settings import REPO_ROOT
from retina_assets_tests.support.lake_env import LakeEnv

DEMO = load_client_spec(REPO_ROOT / "clients" / "demo.yaml")


def test_run_config_overrides_the_spec_and_rejects_unknown_engines() -> None:
    assert EngineConfig().resolve(DEMO) == DEMO.engine == "pandas"
    assert EngineConfig(engine="spark").resolve(DEMO) == "spark"
    spark_client = DEMO.model_copy(update={"engine": "spark"})
    assert EngineConfig().resolve(spark_client) == "spark"
    assert EngineConfig(engine="pandas").resolve(spark_client) == "pandas"
    with pytest.raises(dg.Failure, match="unknown engine 'sprak'.*client 'demo'"):
        EngineConfig(engine="sprak").resolve(DEMO)


def test_engine_run_config_names_real_steps_of_the_job(lake_env: LakeEnv) -> None:
    config = engine_run_config(DEMO, "spark")
    assert config == {
        "ops": {
            "demo__validate_orders": {"config": {"engine": "spark"}},
            "demo__order_summary": {"config": {"engine": "spark"}},
        }
    }
    job = build_definitions(lake_env.settings).resolve_job_def("demo_ingest")
    step_names = {node.name for node in job.graph.node_defs}
    assert set(config["ops"]) <= step_names
    with pytest.raises(ValueError, match="unknown engine"):
        engine_run_config(DEMO, "dask")


def test_spark_resource_is_local_unless_a_remote_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPARK_REMOTE_ENV, raising=False)
    resource = SparkResource(spark_config=local_spark_config())
    assert resource.remote_url() is None
    assert resource.describe() == "spark local[2]"
    assert resource.spark_config["spark.ui.enabled"] == "false"
    monkeypatch.setenv(SPARK_REMOTE_ENV, "sc://127.0.0.1:15002")
    assert resource.describe() == "spark connect sc://127.0.0.1:15002"
    explicit = SparkResource(spark_config=resource.spark_config, remote="sc://spark.internal:443")
    assert explicit.remote_url() == "sc://spark.internal:443"
    with pytest.raises(ValueError, match="sc://host:port"):
        check_remote("http://127.0.0.1:15002")


def test_definitions_provide_the_spark_resource(lake_env: LakeEnv) -> None:
    defs = build_definitions(lake_env.settings)
    assert isinstance(defs.resources["spark"], SparkResource)
