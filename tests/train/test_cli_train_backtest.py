"""The README's flow: `stockbot train` then `stockbot backtest` of that run, then a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stockbot.cli import main

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

TINY = [
    "--set",
    "ppo.total_timesteps=1024",
    "--set",
    "ppo.n_envs=2",
    "--set",
    "ppo.n_steps=128",
    "--set",
    "ppo.batch_size=64",
    "--set",
    "ppo.n_epochs=1",
    "--set",
    "eval.every_steps=512",
    "--set",
    "ppo.vec_env=subproc",
]


def test_train_then_backtest_from_the_examples(tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = CliRunner().invoke(
        main, ["train", "-c", str(ROOT / "examples" / "train.yaml"), "--out", str(run), *TINY]
    )
    assert res.exit_code == 0, res.output
    assert "STOCKBOT_PROGRESS" in res.output and "vs buy-and-hold" in res.output
    summary = json.loads((run / "summary.json").read_text())
    assert summary["training"]["evaluations"] == 2
    assert summary["conventions"] == {"periods_per_year": 252, "rf": 0.0, "ddof": 1}

    bt = tmp_path / "bt"
    res = CliRunner().invoke(
        main,
        [
            "backtest",
            "-c",
            str(ROOT / "examples" / "backtest.yaml"),
            "--set",
            f"policy.path={run}",
            "--out",
            str(bt),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (bt / "equity.csv").read_bytes() == (run / "equity.csv").read_bytes()
    assert (bt / "config.yaml").is_file()

    base = tmp_path / "base"
    res = CliRunner().invoke(
        main, ["backtest", "-c", str(ROOT / "examples" / "baseline.yaml"), "--out", str(base)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads((base / "summary.json").read_text())["label"] == "equal_weight"


def test_bad_train_config_names_the_field(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["train", "--out", str(tmp_path), "--set", "ppo.policy=transformer"])
    assert res.exit_code == 2
    assert "ppo.policy: Input should be 'mlp', 'cnn' or 'lstm'" in res.output
    res = CliRunner().invoke(main, ["backtest", "--out", str(tmp_path), "--set", "policy.type=run"])
    assert res.exit_code == 2 and "needs run_id or path" in res.output
