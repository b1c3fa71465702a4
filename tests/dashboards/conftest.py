"""Dashboard tests share one STOCKBOT_HOME per module with the real embedded store (started by the
first test that needs it); each test starts from an empty ``runs`` collection and folder."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stockbot.jobs import run_dir
from stockbot.jobs.kinds import runs_dir
from stockbot.store import RunStore, stop_store
from stockbot.store.db import close_all, ensure_indexes
from tests.conftest import environ

# bokeh 3.9's ColumnDataSource.from_df calls reset_index(inplace=True), deprecated by pandas 3.1;
# every Tabulator goes through it (a vendor warning, not ours)
BOKEH_INPLACE = "ignore:The inplace keyword in DataFrame.reset_index:pandas.errors.Pandas4Warning"


@pytest.fixture(scope="module")
def dash_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("dash-home")
    with environ(STOCKBOT_HOME=str(home), STOCKBOT_MONGO_URI=None, JUPYTERHUB_SERVICE_PREFIX=None):
        try:
            yield home
        finally:
            close_all()
            stop_store(home)


@pytest.fixture
def stockbot_home(dash_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Overrides the suite's per-test home: dashboard tests share the module's (and its store)."""
    monkeypatch.setenv("STOCKBOT_HOME", str(dash_home))
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    return dash_home


@pytest.fixture
def store(stockbot_home: Path) -> RunStore:
    runs = RunStore()
    # the whole database: the store keeps more than the runs (their counts, say)
    db = runs.col.database
    db.client.drop_database(db.name)
    ensure_indexes(db)
    shutil.rmtree(runs_dir(), ignore_errors=True)
    return runs


T0 = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)


def add_run(
    store: RunStore,
    run_id: str,
    owner: str,
    *,
    status: str = "succeeded",
    metrics: dict[str, Any] | None = None,
    minutes: int = 0,
    config: dict[str, Any] | None = None,
    progress: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run document as the executor leaves it (``minutes`` after T0 orders them)."""
    doc = {
        "_id": run_id,
        "kind": run_id.split("-")[2],
        "owner": owner,
        "status": status,
        "created_at": T0 + dt.timedelta(minutes=minutes),
        "started_at": None,
        "finished_at": None,
        "heartbeat_at": None,
        "config": config or {},
        "parent": None,
        "progress": progress or {"step": 0, "total": None, "message": status},
        "metrics": metrics,
        "error": None,
        "cancel_requested_at": None,
        "executor": None,
    }
    store.create(doc)
    run_dir(run_id).mkdir(parents=True, exist_ok=True)
    return doc


def equity_frame(seed: int, bars: int = 60, cash: float = 100_000.0) -> pd.DataFrame:
    """An equity.csv as the backtest writes it: a random walk and a different benchmark walk."""
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2017-04-03", periods=bars, freq="B", tz="UTC")
    equity = cash * np.cumprod(np.r_[1.0, 1 + rng.normal(0.0005, 0.01, bars - 1)])
    bench = cash * np.cumprod(np.r_[1.0, 1 + rng.normal(0.0003, 0.012, bars - 1)])
    peak = np.maximum.accumulate(equity)
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "equity": equity,
            "cash": cash * 0.1,
            "gross_exposure": 0.9,
            "net_exposure": 0.9,
            "drawdown": equity / peak - 1,
            "benchmark_equity": bench,
        }
    )


def trades_frame() -> pd.DataFrame:
    stamps = pd.date_range("2017-04-04", periods=3, freq="B", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "decision_timestamp": stamps - pd.Timedelta(days=1),
            "symbol": ["AAPL", "MSFT", "AAPL"],
            "side": ["buy", "buy", "sell"],
            "qty": [10.0, 5.0, 4.0],
            "price": [140.0, 65.0, 141.5],
            "notional": [1400.0, 325.0, 566.0],
            "fee": [0.14, 0.0325, 0.0566],
            "slippage_cost": [0.28, 0.065, 0.1132],
        }
    )


def metrics(sharpe: float | None, total_return: float, max_drawdown: float) -> dict[str, Any]:
    return {
        "sharpe": sharpe,
        "total_return": total_return,
        "max_drawdown": max_drawdown,
        "cagr": total_return,
    }


def write_results(
    run_id: str, equity: pd.DataFrame, policy: dict[str, Any], benchmark: dict[str, Any]
) -> None:
    """equity.csv, trades.csv and summary.json in the run folder, in the backtest's formats."""
    folder = run_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    equity.to_csv(folder / "equity.csv", index=False)
    trades_frame().to_csv(folder / "trades.csv", index=False)
    summary = {"policy": policy, "benchmark": benchmark, "conventions": {"periods_per_year": 252, "rf": 0.0}}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
