"""``backtest``: a trained run or a baseline over a period, written as a run folder."""

from __future__ import annotations

from pathlib import Path

from stockbot.backtest import BacktestResult, run_backtest, write_backtest
from stockbot.config import BacktestConfig, dump_config


def run_backtest_job(config: BacktestConfig, out_dir: str | Path) -> BacktestResult:
    """Write ``config.yaml``, ``equity.csv``, ``trades.csv``, ``summary.json`` and ``plots/``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(dump_config(config))
    result = run_backtest(config)
    write_backtest(result, out)
    return result
