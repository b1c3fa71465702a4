"""Writing a backtest: equity.csv, trades.csv, summary.json and plots/ (DESIGN.md §4)."""

from __future__ import annotations

import json
from pathlib import Path

from stockbot.backtest.engine import EQUITY_COLUMNS, TRADE_COLUMNS
from stockbot.backtest.runner import BacktestResult
from stockbot.plots import plot_drawdown, plot_equity


def write_backtest(result: BacktestResult, out_dir: str | Path) -> Path:
    out = Path(out_dir)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    equity = result.policy.equity[EQUITY_COLUMNS].copy()
    equity["benchmark_equity"] = result.benchmark.equity["equity"].to_numpy()
    equity.to_csv(out / "equity.csv", index=False)
    result.policy.trades[TRADE_COLUMNS].to_csv(out / "trades.csv", index=False)
    (out / "summary.json").write_text(json.dumps(result.summary, indent=1, allow_nan=False))
    label = result.summary.get("label", "policy")
    plot_equity(equity, out / "plots" / "equity.png", label=label)
    plot_drawdown(equity, result.benchmark.equity["drawdown"], out / "plots" / "drawdown.png", label=label)
    return out
