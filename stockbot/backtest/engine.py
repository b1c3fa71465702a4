"""The deterministic backtest loop: one decision per bar through the shared :class:`Simulator`.

A decider maps a bar index t to target weights (NaN = keep that position). The loop records, per
bar, equity, cash and exposures marked at the close (the first row is the starting cash at the first
decision bar), and every fill with its decision and fill bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockbot.backtest.metrics import TRADE_COLUMNS as _TRADE_COLUMNS
from stockbot.envs.market import MarketData
from stockbot.execution import Simulator, TradeLog

Decider = Callable[[int], np.ndarray]

EQUITY_COLUMNS = ["timestamp", "equity", "cash", "gross_exposure", "net_exposure", "drawdown"]
TRADE_COLUMNS = list(_TRADE_COLUMNS)  # trades.csv, as the metrics read it


@dataclass
class Trace:
    """What one run through the loop produced."""

    equity: pd.DataFrame  # EQUITY_COLUMNS
    trades: pd.DataFrame  # TRADE_COLUMNS


def run_loop(market: MarketData, sim: Simulator, decide: Decider, start: int, end: int) -> Trace:
    """Decide at every bar t in [start, end) (fills at t+1 <= end); mark bars start..end."""
    if not 0 <= start < end < market.n_bars:
        raise ValueError(f"backtest bars [{start}, {end}] are outside the data (0..{market.n_bars - 1})")
    log = TradeLog()
    sim.log = log
    sim.reset()
    n = end - start + 1
    equity, cash = np.empty(n), np.empty(n)
    gross, net = np.zeros(n), np.zeros(n)
    equity[0] = cash[0] = sim.equity
    for k, t in enumerate(range(start, end), start=1):
        sim.step(t, decide(t))
        equity[k], cash[k] = sim.equity, sim.cash
        if sim.equity > 0:
            value = sim.qty * market.close[t + 1]
            gross[k] = np.abs(value).sum() / sim.equity
            net[k] = value.sum() / sim.equity
    peak = np.maximum.accumulate(equity)
    eq = pd.DataFrame(
        {
            "timestamp": market.timestamps[start : end + 1],
            "equity": equity,
            "cash": cash,
            "gross_exposure": gross,
            "net_exposure": net,
            "drawdown": equity / peak - 1.0,
        }
    )
    return Trace(eq, _trades(market, log))


def _trades(market: MarketData, log: TradeLog) -> pd.DataFrame:
    rows = [
        (
            market.timestamps[fill_bar],
            market.timestamps[decision_bar],
            market.symbols[f.asset],
            "buy" if f.qty > 0 else "sell",
            abs(f.qty),
            f.price,
            abs(f.qty) * f.price,
            f.fee,
            f.slippage_cost,
        )
        for fill_bar, decision_bar, f in log.rows
    ]
    return pd.DataFrame(rows, columns=TRADE_COLUMNS)
