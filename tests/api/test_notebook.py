"""docs/examples/quickstart.ipynb runs, top to bottom, in a real Jupyter kernel (nbclient + ipykernel): the
example never rots. Its own cells assert the numbers; here the displayed outputs are checked too."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require, run_cli

NOTEBOOK = Path(__file__).parents[2] / "docs" / "examples" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nbformat = require("nbformat")
    nbclient = require("nbclient")
    require("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    cwd = tmp_path_factory.mktemp("notebook")
    nbclient.NotebookClient(nb, timeout=180, kernel_name="python3",
                            resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def outputs(cell, kind):
    return [o for o in cell.get("outputs", []) if kind in o.get("data", {})] if kind != "stream" else \
        [o["text"] for o in cell.get("outputs", []) if o.get("output_type") == "stream"]


def test_the_notebook_runs_and_shows_the_plan(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    html = outputs(code[0], "text/html")[0]["data"]["text/html"]
    assert html.startswith("<iframe srcdoc=") and "Key points" in html
    at_step = run_cli("at-step", "53210", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--json")
    import json

    assert outputs(code[1], "stream")[0].splitlines()[0] == repr(json.loads(at_step.stdout)["lr"])
    assert "step 60: lr" in "".join(outputs(code[-1], "stream"))
    assert outputs(code[-1], "image/png")  # the matplotlib figure, drawn inline
