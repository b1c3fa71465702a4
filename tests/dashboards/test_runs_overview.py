"""The Voila dashboard notebook: committed without outputs, and it runs top to bottom."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from stockbot.store import RunStore
from tests.dashboards.conftest import add_run, equity_frame, metrics, write_results

NOTEBOOK = Path(__file__).parents[2] / "dashboards" / "runs_overview.ipynb"


def test_the_notebook_is_committed_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_notebook_lists_the_users_runs_and_plots_one(
    store: RunStore, stockbot_home: Path, tmp_path: Path
) -> None:
    mine, theirs = "20261101-120000-backtest-0d0d", "20261101-120100-backtest-0e0e"
    add_run(store, mine, "alice", metrics=metrics(1.4, 0.1, -0.02))
    write_results(mine, equity_frame(4), metrics(1.4, 0.1, -0.02), metrics(1.0, 0.08, -0.03))
    add_run(store, theirs, "bob", minutes=1)
    out = tmp_path / "executed.ipynb"
    env = {**os.environ, "STOCKBOT_HOME": str(stockbot_home), "JUPYTERHUB_USER": "alice"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=240",
            f"--output={out}",
            str(NOTEBOOK),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "1 run of alice" in text
    assert mine in text and theirs not in text
    widget_views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_views) == 2  # the run chooser and the chart's output area
    # the chart is drawn inside an Output widget, whose outputs (and errors) live in the widget state
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    drawn = [o for m in state.values() if m["model_name"] == "OutputModel" for o in m["state"]["outputs"]]
    assert not [o for o in drawn if o["output_type"] == "error"]
    assert any("application/vnd.holoviews_exec.v0+json" in o.get("data", {}) for o in drawn)
    # BokehJS and Panel load inline, once: no loader names a file to fetch (hvplot's own load,
    # without `inline`, would ask Panel's CDN for its ES-module polyfill)
    loaded = [
        re.findall(r"const js_urls = \[(.*?)\];", o["data"]["application/javascript"])
        for o in outputs
        if "application/vnd.holoviews_load.v0+json" in o.get("data", {})
    ]
    assert [urls for urls in loaded if urls] == [[""]], [urls for urls in loaded if urls]
