"""Deterministic backtests of trained runs and baselines through the shared execution code."""

from stockbot.backtest.engine import Trace, run_loop
from stockbot.backtest.metrics import Conventions, compute_metrics
from stockbot.backtest.report import write_backtest
from stockbot.backtest.runner import BacktestResult, backtest_trained, run_backtest

__all__ = [
    "BacktestResult",
    "Conventions",
    "Trace",
    "backtest_trained",
    "compute_metrics",
    "run_backtest",
    "run_loop",
    "write_backtest",
]
