"""The deterministic backtest loop: one decision per bar through the shared :class:`OrderPath`.

A decider maps a bar index t to target weights (NaN = keep that position); the path plans and
builds orders at t's close, the paper venue fills them at t+1's open (or t's close with ``fill:
close``), the portfolio applies the fills and is marked at t+1's close, and the risk state takes the
mark. The loop records, per bar, equity, cash and exposures marked at the close (the first row is
the starting cash at the first decision bar), and every fill with its decision and fill time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from stockbot.backtest.metrics import TRADE_COLUMNS as _TRADE_COLUMNS
from stockbot.envs.market import MarketData
from stockbot.execution import Fill, Order, OrderPath

Decider = Callable[[int], np.ndarray]

EQUITY_COLUMNS = ["timestamp", "equity", "cash", "gross_exposure", "net_exposure", "drawdown"]
TRADE_COLUMNS = list(_TRADE_COLUMNS)  # trades.csv, as the metrics read it


@dataclass
class Trace:
    """What one run through the loop produced."""

    equity: pd.DataFrame  # EQUITY_COLUMNS
    trades: pd.DataFrame  # TRADE_COLUMNS
    fills: list[Fill] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)  # every order sent, filled or not
    events: list[tuple[pd.Timestamp, str]] = field(default_factory=list)  # risk state changes


def run_loop(market: MarketData, path: OrderPath, decide: Decider, start: int, end: int) -> Trace:
    """Decide at every bar t in [start, end) (fills at t+1 <= end); mark bars start..end."""
    if not 0 <= start < end < market.n_bars:
        raise ValueError(f"backtest bars [{start}, {end}] are outside the data (0..{market.n_bars - 1})")
    path.reset(market.session(start))
    n = end - start + 1
    equity, cash = np.empty(n), np.empty(n)
    gross, net = np.zeros(n), np.zeros(n)
    equity[0] = cash[0] = path.portfolio.equity
    fills: list[Fill] = []
    orders: list[Order] = []
    events: list[tuple[pd.Timestamp, str]] = []
    bar = market.bar(start)
    first_fill = 0 if path.fill_at_close else 1
    for k, t in enumerate(range(start, end), start=1):
        following = market.bar(t + 1)
        # the bars this decision's orders (TWAP children) fill at, within the backtest
        first = t + first_fill
        times = list(market.timestamps[first : min(first + path.slices, end + 1)])
        step = path.step(decide(t), bar, following, times, market.session(t + 1))
        orders += step.orders
        fills += step.fills
        if step.event:
            events.append((following.time, step.event))
        equity[k], cash[k] = step.mark.equity, path.portfolio.cash
        gross[k], net[k] = step.mark.gross, step.mark.net
        bar = following
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
    return Trace(eq, trades_frame(fills), fills, orders, events)


def trade_row(f: Fill) -> list[object]:
    """One fill as a row of ``trades.csv`` (TRADE_COLUMNS), in backtests and live sessions alike."""
    return [
        f.fill_time,
        f.decision_time,
        f.symbol,
        f.side,
        f.quantity,
        f.price,
        f.notional,
        f.fee,
        f.slippage_cost,
    ]


def trades_frame(fills: list[Fill]) -> pd.DataFrame:
    """``trades.csv``: one row per fill."""
    return pd.DataFrame([trade_row(f) for f in fills], columns=TRADE_COLUMNS)
