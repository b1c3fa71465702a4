"""The runs/store/executor commands as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stockbot.cli import main

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]
ROOT = Path(__file__).parents[2]


def test_runs_commands(job_home: Path) -> None:
    cli = CliRunner()
    res = cli.invoke(main, ["store", "start"])
    assert res.exit_code == 0 and res.output.startswith("mongodb://127.0.0.1:")
    res = cli.invoke(
        main,
        [
            "runs",
            "submit",
            "backtest",
            "-c",
            str(ROOT / "examples" / "baseline.yaml"),
            "--set",
            "data.symbols=[KO,PG]",
            "--wait",
        ],
    )
    assert res.exit_code == 0, res.output
    run_id = res.stdout.split()[0]  # stdout: the result; progress goes to stderr
    assert f"{run_id} succeeded" in res.output and "notebook.ipynb" in res.output
    assert run_id in cli.invoke(main, ["runs", "list", "--kind", "backtest"]).output
    shown = json.loads(cli.invoke(main, ["runs", "show", run_id]).output)
    assert shown["status"] == "succeeded" and shown["metrics"]["n_trades"] > 0
    assert "Executing Cell" in cli.invoke(main, ["runs", "logs", run_id]).output
    assert "Executing Cell" in cli.invoke(main, ["runs", "logs", run_id, "--follow"]).output
    listing = cli.invoke(main, ["runs", "artifacts", run_id]).output
    assert "equity.csv" in listing and "notebook.ipynb" in listing
    csv = cli.invoke(main, ["runs", "artifacts", run_id, "--get", "equity.csv"]).output
    assert csv.startswith("timestamp,equity,cash")
    bad = cli.invoke(main, ["runs", "artifacts", run_id, "--get", "../store.json"])
    assert bad.exit_code == 2 and "without '..'" in bad.output
    assert "succeeded" in cli.invoke(main, ["runs", "cancel", run_id]).output  # already over: unchanged
    assert json.loads(cli.invoke(main, ["executor", "status"]).output)["running"] is True
    assert cli.invoke(main, ["executor", "stop"]).output.strip() == "stopped"
    bad = cli.invoke(main, ["runs", "submit", "train", "--set", "ppo.policy=gpt"])
    assert bad.exit_code == 2 and "ppo.policy" in bad.output


def test_notebooks_run_interactively_with_their_defaults(job_home: Path, tmp_path: Path) -> None:
    """As a person runs them in JupyterLab: no run_id, outputs go to a scratch folder."""
    import papermill as pm

    for name, params in (
        ("hmm_fit", {}),
        ("hmm_infer", {}),
        ("backtest", {}),
        ("train", {"total_timesteps": 1024}),
    ):
        out = tmp_path / f"{name}.ipynb"
        pm.execute_notebook(
            str(ROOT / "notebooks" / f"{name}.ipynb"),
            str(out),
            parameters=params,
            progress_bar=False,
            cwd=str(tmp_path),
        )
        assert out.is_file()
    scratch = sorted(p.name for p in (job_home / "scratch").iterdir())
    assert any(s.endswith("-train") for s in scratch) and "default-hmm-fit" in scratch
