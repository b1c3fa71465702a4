"""Each job notebook end to end through the job path: submit -> executor -> Papermill -> store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from stockbot.config import BacktestConfig, validate_config
from stockbot.jobs import run_dir, submit, wait_for
from stockbot.store import RunStore
from stockbot.tasks import run_backtest_job

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

DATA = {
    "provider": "sample",
    "dataset": "dow29",
    "symbols": ["AAPL", "KO", "XOM"],
    "start": "2013-03-01",
    "end": "2017-12-06",
}
TRAIN = {
    "data": DATA,
    "env": {"window": 8, "episode_bars": 64},
    "ppo": {
        "total_timesteps": 2048,
        "n_envs": 2,
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 1,
        "net_arch": [16, 16],
    },
    "eval": {"every_steps": 512, "patience": None},
}


def executed_outputs(path: Path) -> int:
    book = nbformat.read(path, as_version=4)
    return sum(1 for c in book.cells if c.cell_type == "code" and c.get("outputs"))


def run_job(
    kind: str, config: dict[str, Any], store: RunStore
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    run_id = submit(kind, config, owner="tester", store=store)
    doc = wait_for(run_id, store, timeout=300, poll=0.2, on_update=seen.append)
    assert doc["status"] == "succeeded", (doc.get("error"), (run_dir(run_id) / "job.log").read_text()[-3000:])
    return doc, seen


def test_train_then_backtest_jobs(executor: dict, store: RunStore, tmp_path: Path) -> None:
    train, seen = run_job("train", TRAIN, store)
    folder = run_dir(train["_id"])
    running_progress = [
        d["progress"] for d in seen if d["status"] == "running" and d["progress"].get("total")
    ]
    assert running_progress and running_progress[-1]["total"] == 2048, (
        "progress never reached the run document"
    )
    assert any(p["step"] > 0 for p in running_progress)
    for name in (
        "notebook.ipynb",
        "job.log",
        "policy.zip",
        "last.zip",
        "obsnorm.json",
        "equity.csv",
        "summary.json",
        "eval.csv",
        "config.yaml",
    ):
        assert (folder / name).is_file(), name
    assert executed_outputs(folder / "notebook.ipynb") >= 5
    assert train["metrics"] == json.loads((folder / "summary.json").read_text())["policy"]
    assert train["executor"]["name"] == "local" and train["config_hash"] and train["code_version"]

    bt_config = {"data": {**DATA, "start": "2017-04-03"}, "policy": {"type": "run", "run_id": train["_id"]}}
    bt, _ = run_job("backtest", bt_config, store)
    assert bt["parent"] == train["_id"]
    bt_dir = run_dir(bt["_id"])
    # the job's artifacts equal a direct backtest of the same config, byte for byte
    direct = tmp_path / "direct"
    run_backtest_job(validate_config(BacktestConfig, bt["config"]), direct)
    for name in ("equity.csv", "trades.csv"):
        assert (bt_dir / name).read_bytes() == (direct / name).read_bytes(), name
    # the stored metrics equal those recomputed here from equity.csv
    eq = pd.read_csv(bt_dir / "equity.csv")["equity"].to_numpy()
    r = eq[1:] / eq[:-1] - 1
    assert bt["metrics"]["total_return"] == pytest.approx(eq[-1] / eq[0] - 1, rel=1e-12)
    assert bt["metrics"]["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252), rel=1e-9)
    peak = np.maximum.accumulate(eq)
    assert bt["metrics"]["max_drawdown"] == pytest.approx((eq / peak - 1).min(), rel=1e-12)
    assert executed_outputs(bt_dir / "notebook.ipynb") >= 4


def test_hmm_fit_then_infer_jobs(executor: dict, store: RunStore) -> None:
    fit, _ = run_job(
        "hmm_fit", {"data": {**DATA, "symbols": ["AAPL", "KO"]}, "regimes": {"n_states": 2}}, store
    )
    assert (run_dir(fit["_id"]) / "hmm.json").is_file()
    infer, _ = run_job(
        "hmm_infer", {"data": {**DATA, "start": "2017-01-03"}, "model": {"run_id": fit["_id"]}}, store
    )
    folder = run_dir(infer["_id"])
    proba = pd.read_csv(folder / "regimes.csv")
    assert {"regime_p0", "regime_p1"} <= set(proba.columns)
    np.testing.assert_allclose(proba[["regime_p0", "regime_p1"]].sum(axis=1), 1.0)
    assert executed_outputs(folder / "notebook.ipynb") >= 4
    assert infer["parent"] == fit["_id"]
