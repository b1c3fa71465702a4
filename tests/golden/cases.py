"""The backtests whose outputs are pinned in ``tests/golden/cases/<name>/`` (equity.csv and trades.csv
as the code of commit f88a785 wrote them, before the execution refactor of issue 10).

They cover what the one order path must keep doing: the bundled examples (``examples/baseline.yaml``
and ``examples/backtest.yaml`` on a trained run), each baseline, the cost model's parts (per-share and
minimum fees, ``fill: close``), each risk limit (position weight, gross leverage above 1 with
borrowing, turnover, the drawdown kill switch), whole shares and the rebalance threshold, and three
trained policies whose actions vary (a portfolio MLP with HMM regimes, a single-stock discrete MLP
with whole shares and a rebalance threshold, a portfolio LSTM). The trained runs are committed in
``tests/golden/runs/`` (only what a backtest loads), so a test never trains.

Configs are written in the format of that commit; they must keep loading (migrated) as it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent
RUNS = GOLDEN / "runs"
CASES_DIR = GOLDEN / "cases"
REPO = GOLDEN.parents[1]

FIVE = ["AAPL", "JPM", "KO", "MSFT", "XOM"]
PERIOD = {"start": "2017-04-03", "end": "2017-12-06"}


def _dow(symbols: list[str] = FIVE, **period: str) -> dict[str, Any]:
    """The bundled dow29 sample's ``symbols`` over ``period`` (default: the golden period)."""
    return {"provider": "sample", "dataset": "dow29", "symbols": symbols, **(period or PERIOD)}


TRAIN_PERIOD = {"start": "2013-03-01", "end": "2017-12-06"}


def _mlp(seed: int) -> dict[str, Any]:
    """The tiny MLP budget both MLP fixtures trained with."""
    return {
        "policy": "mlp",
        "total_timesteps": 2048,
        "n_envs": 2,
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 2,
        "net_arch": [16, 16],
        "seed": seed,
    }


# the trained runs' configs (train jobs of a tiny budget; `make_golden.py --train` trains them)
TRAINED: dict[str, dict[str, Any]] = {
    "mlp_regimes": {
        "data": _dow(FIVE, **TRAIN_PERIOD),
        "regimes": {"enabled": True, "n_states": 2, "n_iter": 50},
        "env": {"window": 8, "episode_bars": 64},
        "ppo": _mlp(seed=3),
        "eval": {"every_steps": 512, "patience": None},
    },
    "single_whole_shares": {
        "data": _dow(["KO"], **TRAIN_PERIOD),
        "env": {
            "kind": "single",
            "action": "discrete",
            "observation": "flat",
            "episode_bars": 64,
            "fractional_shares": False,
            "rebalance_threshold": 0.02,
        },
        "costs": {"commission_bps": 2, "slippage_bps": 5, "per_share": 0.005, "min_fee": 1.0},
        "risk": {"max_position_weight": 0.9},
        "ppo": _mlp(seed=2),
        "eval": {"every_steps": 512, "patience": None},
        "initial_cash": 25000,
    },
    "lstm": {
        "data": _dow(["AAPL", "KO", "XOM"], **TRAIN_PERIOD),
        "env": {"window": 8, "episode_bars": 64},
        "risk": {"max_position_weight": 0.6, "max_turnover": 0.5},
        "ppo": {
            "policy": "lstm",
            "total_timesteps": 512,
            "n_envs": 2,
            "n_steps": 64,
            "batch_size": 64,
            "n_epochs": 1,
            "lstm_hidden_size": 16,
            "net_arch": [16],
            "seed": 7,
        },
        "eval": {"every_steps": 256, "patience": None},
    },
}


# name -> backtest config (paths relative to the repository; "{runs}" is tests/golden/runs)
CASES: dict[str, dict[str, Any]] = {
    "example_baseline": {"example": "examples/baseline.yaml"},
    "example_backtest": {"example": "examples/backtest.yaml", "policy.path": "{runs}/mlp_regimes"},
    "buy_and_hold": {"data": _dow(), "policy": {"type": "buy_and_hold"}},
    "cash": {"data": _dow(["KO", "PG"]), "policy": {"type": "cash"}},
    "equal_weight_fees": {
        "data": _dow(),
        "policy": {"type": "equal_weight", "rebalance": 5},
        "costs": {"commission_bps": 5, "slippage_bps": 10, "per_share": 0.01, "min_fee": 2.5},
        "initial_cash": 20000,
    },
    "equal_weight_fill_close": {
        "data": _dow(),
        "policy": {"type": "equal_weight", "rebalance": 10},
        "costs": {"fill": "close"},
    },
    "weights_leverage_turnover": {
        "data": _dow(["AAPL", "KO", "XOM"]),
        "policy": {"type": "weights_csv", "path": "{golden}/weights.csv"},
        "risk": {"max_gross_leverage": 1.5, "max_position_weight": 0.7, "max_turnover": 0.8},
    },
    "kill_switch": {
        "data": _dow(["AAPL", "MSFT"], start="2015-06-01", end="2016-06-30"),
        "policy": {"type": "equal_weight", "rebalance": 21},
        "risk": {"max_drawdown": 0.08},
    },
    "trained_mlp_regimes_fees": {
        "data": _dow(),
        "policy": {"type": "run", "path": "{runs}/mlp_regimes"},
        "costs": {"commission_bps": 3, "slippage_bps": 4, "per_share": 0.002, "min_fee": 0.5},
        "risk": {"max_position_weight": 0.4, "max_drawdown": 0.05},
    },
    "trained_single_whole_shares": {
        "data": _dow(["KO"]),
        "policy": {"type": "run", "path": "{runs}/single_whole_shares"},
    },
    "trained_lstm": {
        "data": _dow(["AAPL", "KO", "XOM"]),
        "policy": {"type": "run", "path": "{runs}/lstm"},
    },
}


def backtest_config(name: str) -> Any:
    """The validated :class:`BacktestConfig` of case ``name``, paths resolved."""
    import json

    import yaml

    from stockbot.config import BacktestConfig, apply_overrides

    case = dict(CASES[name])
    fill = {"{runs}": str(RUNS), "{golden}": str(GOLDEN)}

    def resolve(value: Any) -> Any:
        if isinstance(value, str):
            for k, v in fill.items():
                value = value.replace(k, v)
            return value
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    if "example" in case:
        raw = yaml.safe_load((REPO / case.pop("example")).read_text())
        overrides = [f"{k}={json.dumps(resolve(v))}" for k, v in case.items()]
        raw = apply_overrides(raw, overrides)
    else:
        raw = resolve(case)
    return BacktestConfig.model_validate(raw)
