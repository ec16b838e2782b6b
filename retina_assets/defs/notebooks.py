"""Production notebooks as assets: ``<client>/<notebook>`` for each of
:data:`retina_assets.notebooks.PRODUCTION_NOTEBOOKS` whose features the client builds.

The asset runs the notebook (:func:`retina_assets.notebooks.run_notebook`, papermill on the project's
kernel) with the client, the ``as_of_date``, the lake and the **exact** input versions as parameters
(``<feature>_path``: the version the feature's materialization of that day recorded; earlier days a
notebook asks for come from the same event log). Its data output goes through the lake IO manager like any
feature (immutable, content-addressed, deduplicated, with a version record), and the executed notebook is
kept as immutable artifacts in the lake (``.ipynb`` and rendered ``.html`` under ``<lake>/_artifacts/``),
linked from the materialization: ``notebook`` opens it rendered in the UI ("View notebook", local lakes),
``notebook_html`` is the standalone page. A failing cell fails the run with that cell's error; the
notebook as executed up to the failure is stored the same way and named in the failure.
"""

import datetime as dt
from typing import Any

import dagster as dg
import pyarrow as pa

from retina_assets.defs.gate import require_passed_checks
from retina_assets.defs.instance import latest_metadata
from retina_assets.defs.metadata import to_metadata
from retina_assets.defs.resources import LakeResource
from retina_assets.model.naming import FEATURES, DatasetName
from retina_assets.model.spec import ClientSpec
from retina_assets.notebooks import NotebookCellError, ProductionNotebook, run_notebook
from retina_assets.settings import REPO_ROOT
from retina_assets.storage.artifacts import write_artifact
from retina_assets.storage.dataset_ref import DatasetRef

ARTIFACT_KIND = "notebooks"


def notebooks_for(client: ClientSpec, notebooks: dict[str, ProductionNotebook]) -> list[ProductionNotebook]:
    """The production notebooks a client gets: those whose every read feature the client builds."""
    return [nb for nb in notebooks.values() if set(nb.reads) <= set(client.features)]


def _store_notebook(
    lake: LakeResource, client: str, name: str, partition: str, executed: bytes, html: bytes
) -> dict[str, Any]:
    options = lake.storage_options()
    ipynb = write_artifact(lake.lake_uri, ARTIFACT_KIND, client, name, partition, executed, "ipynb", options)
    page = write_artifact(lake.lake_uri, ARTIFACT_KIND, client, name, partition, html, "html", options)
    meta: dict[str, Any] = {"notebook_html": dg.MetadataValue.path(page)}
    if "://" not in ipynb:  # the UI renders a notebook the code location can read from local disk
        meta["notebook"] = dg.MetadataValue.notebook(ipynb)
    else:
        meta["notebook_ipynb"] = dg.MetadataValue.path(ipynb)
    return meta


def build_notebook_asset(
    client: ClientSpec,
    notebook: ProductionNotebook,
    partitions_def: dg.PartitionsDefinition,
    automation: dg.AutomationCondition | None = None,
) -> dg.AssetsDefinition:
    """The asset of one production notebook for one client."""
    name = DatasetName(FEATURES, client.client, notebook.name)
    inputs = {
        feature: dg.AssetKey(DatasetName(FEATURES, client.client, feature).path) for feature in notebook.reads
    }
    try:
        script = str(notebook.script.relative_to(REPO_ROOT))
    except ValueError:
        script = str(notebook.script)

    @dg.asset(
        key=name.path,
        group_name=client.client,
        partitions_def=partitions_def,
        ins={feature: dg.AssetIn(key=key) for feature, key in inputs.items()},
        io_manager_key="lake_io_manager",
        kinds={"jupyter", "parquet"},
        automation_condition=automation,
        description=f"{notebook.description} Notebook: `{script}`.",
        metadata={"retina/zone": FEATURES, "retina/dataset": notebook.name, "retina/notebook": script},
    )
    def _notebook(
        context: dg.AssetExecutionContext, lake: LakeResource, **refs: DatasetRef
    ) -> dg.Output[pa.Table]:
        partition = context.partition_key
        for key in inputs.values():
            require_passed_checks(context, key)
        parameters: dict[str, Any] = {
            "client": client.client,
            "as_of_date": partition,
            "lake_uri": lake.lake_uri,
            **notebook.parameters,
            **{f"{feature}_path": ref.uri for feature, ref in refs.items()},
        }
        for parameter, (feature, days) in notebook.earlier_inputs.items():
            earlier = (dt.date.fromisoformat(partition) - dt.timedelta(days=days)).isoformat()
            recorded = latest_metadata(context.instance, inputs[feature], earlier).get("path")
            parameters[parameter] = str(recorded) if recorded else None
        context.log.info(f"running {script} for {client.client} [{partition}] with {parameters}")
        try:
            run = run_notebook(notebook.script, parameters)
        except NotebookCellError as exc:
            stored = _store_notebook(lake, client.client, notebook.name, partition, exc.executed, exc.html)
            raise dg.Failure(
                description=f"{exc}. Executed notebook: {stored['notebook_html'].value}",
                metadata=stored,
                allow_retries=False,
            ) from None
        if run.output is None:
            raise dg.Failure(f"notebook {script} finished without calling notebooks.save_output(...)")
        stored = _store_notebook(lake, client.client, notebook.name, partition, run.executed, run.html)
        context.log.info(
            f"{client.client}/{notebook.name} [{partition}]: notebook at {stored['notebook_html'].value}"
        )
        return dg.Output(
            run.output,
            metadata={
                **to_metadata(run.metadata),
                **stored,
                "notebook_parameters": dg.MetadataValue.json(parameters),
            },
        )

    return _notebook
