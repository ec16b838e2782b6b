"""Production notebooks: parameterized notebooks in ``notebooks/production/`` run as pipeline steps.

A production notebook is a jupytext "percent" script (``<name>.py``, the file reviewed in diffs) paired
with a ``<name>.ipynb`` of the same cells (for JupyterLab); :func:`run_notebook` executes the ``.py``
with papermill on the project's Python kernel, after injecting the run's parameters below the cell tagged
``parameters``. The notebook writes its data output with :func:`save_output` into the ``output_dir`` it
was given, and the caller stores it (the Dagster asset writes it through the versioned store). Inputs are
always exact version paths handed in as parameters, never "the newest file".

:data:`PRODUCTION_NOTEBOOKS` lists them; the Dagster layer grows one partitioned asset per client from each
(``<client>/<name>``) for the clients that build every feature the notebook reads.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from retina_assets.settings import REPO_ROOT
from retina_assets.storage.versioned_store import table_from_any

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
OUTPUT_FILE = "output.parquet"
METADATA_FILE = "metadata.json"
KERNEL = "python3"


@dataclass(frozen=True)
class ProductionNotebook:
    """One production notebook: its script, the features it reads (one input parameter ``<feature>_path``
    each) and what its output is."""

    name: str
    script: Path
    reads: tuple[str, ...]
    description: str
    parameters: Mapping[str, Any] = field(default_factory=dict)  # defaults of its other parameters
    # parameter -> (feature, days before as_of_date): the exact version of that earlier day, or None
    earlier_inputs: Mapping[str, tuple[str, int]] = field(default_factory=dict)


PRODUCTION_NOTEBOOKS: dict[str, ProductionNotebook] = {
    "clv": ProductionNotebook(
        name="clv",
        script=NOTEBOOKS_DIR / "production" / "clv.py",
        reads=("customer_rfm",),
        description=(
            "Customer lifetime value per customer: BG/NBD + Gamma-Gamma (pymc-marketing, maximum likelihood) "
            "fitted on customer_rfm; expected purchases in the next horizon_days, probability alive, expected "
            "spend and CLV. The executed notebook (fit, parameters, plots) is linked from each materialization."
        ),
        parameters={"horizon_days": 90, "clv_months": 12, "holdout_days": 90},
        earlier_inputs={"calibration_rfm_path": ("customer_rfm", 90)},
    ),
}


class NotebookCellError(RuntimeError):
    """A cell of a notebook raised: the message names the notebook, the cell and the error; ``executed`` is
    the notebook as run up to the failure (``.ipynb`` bytes) and ``html`` its rendering."""

    def __init__(self, message: str, executed: bytes, html: bytes):
        super().__init__(message)
        self.executed = executed
        self.html = html


@dataclass
class NotebookRun:
    """A notebook run that succeeded: its data output (or ``None``), its metadata, and the executed
    notebook as ``.ipynb`` and rendered HTML bytes."""

    output: pa.Table | None
    metadata: dict[str, Any]
    executed: bytes
    html: bytes


def save_output(output_dir: str, data: Any, metadata: Mapping[str, Any] | None = None) -> None:
    """Called from a production notebook: hand ``data`` (a pandas/polars frame or Arrow table) and JSON-able
    ``metadata`` to the step that runs it."""
    folder = Path(output_dir)
    pq.write_table(table_from_any(data), folder / OUTPUT_FILE)
    (folder / METADATA_FILE).write_text(json.dumps(dict(metadata or {}), default=_plain, sort_keys=True))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _first_line(source: str) -> str:
    lines = [line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return lines[0].strip()[:120] if lines else ""


def render_html(notebook: Any) -> bytes:
    """The executed notebook as a standalone HTML page (plots inlined)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(notebook)
    return body.encode()


def run_notebook(script: Path, parameters: Mapping[str, Any], timeout_seconds: int = 1800) -> NotebookRun:
    """Execute the notebook ``script`` (jupytext percent format) with ``parameters`` injected, in a fresh
    kernel of this Python environment; ``output_dir`` is added to the parameters.

    Raises :class:`NotebookCellError` naming the failing cell and its error (with the executed notebook up
    to that cell), or ``FileNotFoundError`` for a missing script.
    """
    import jupytext
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"notebook {script} does not exist")
    source = jupytext.read(script)
    with tempfile.TemporaryDirectory(prefix="retina-notebook-") as work:
        executed_path = Path(work) / f"{script.stem}.ipynb"
        try:
            papermill.execute_notebook(
                source,
                str(executed_path),
                parameters={**parameters, "output_dir": work},
                kernel_name=KERNEL,
                language="python",
                progress_bar=False,
                cwd=str(script.parent),
                execution_timeout=timeout_seconds,
            )
        except PapermillExecutionError as exc:
            executed = nbformat.read(executed_path, as_version=4)
            raise NotebookCellError(
                f"notebook {script.name}: cell {exc.cell_index} of the executed notebook "
                f"({_first_line(exc.source)!r}) raised {exc.ename}: {exc.evalue}",
                executed_path.read_bytes(),
                render_html(executed),
            ) from None
        executed = nbformat.read(executed_path, as_version=4)
        output_file = Path(work) / OUTPUT_FILE
        metadata_file = Path(work) / METADATA_FILE
        return NotebookRun(
            output=pq.read_table(output_file) if output_file.exists() else None,
            metadata=json.loads(metadata_file.read_text()) if metadata_file.exists() else {},
            executed=executed_path.read_bytes(),
            html=render_html(executed),
        )
