"""Cash and positions: fills applied one at a time (so partial fills just work), marked at a price
vector. The one account state of the env, the backtest and a live session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockbot.execution.kernels import account_kernel, book, mark_kernel
from stockbot.execution.records import Fill


@dataclass(frozen=True, slots=True)
class Mark:
    equity: float
    peak: float
    drawdown: float  # equity / peak - 1 (<= 0)
    gross: float  # sum |position value| / equity
    net: float  # sum position value / equity


class Portfolio:
    """Positions (``qty``, signed; ``avg_cost``) of ``symbols`` plus ``cash``; ``equity`` and
    ``peak`` as of the last :meth:`mark`."""

    def __init__(self, symbols: Sequence[str], cash: float) -> None:
        self.symbols = [str(s) for s in symbols]
        self.index = {s: i for i, s in enumerate(self.symbols)}
        if len(self.index) != len(self.symbols):
            raise ValueError(f"symbols repeat: {self.symbols}")
        self.initial_cash = float(cash)
        self.qty = np.zeros(len(self.symbols))
        self.avg_cost = np.zeros(len(self.symbols))
        self.reset()

    def reset(self) -> None:
        self.qty[:] = 0.0
        self.avg_cost[:] = 0.0
        self.cash = self.initial_cash
        self.equity = self.initial_cash
        self.peak = self.initial_cash

    @property
    def n_assets(self) -> int:
        return len(self.symbols)

    @property
    def drawdown(self) -> float:
        return self.equity / self.peak - 1.0 if self.peak > 0 else -1.0

    def apply(self, fill: Fill) -> None:
        """Book one fill: its quantity at its price, its fee out of cash."""
        i = self.index.get(fill.symbol)
        if i is None:
            raise ValueError(f"fill {fill.client_order_id} is for {fill.symbol!r}, not one of {self.symbols}")
        value = fill.quantity * fill.price
        if fill.side == "buy":
            self.cash -= value + fill.fee
            book(i, fill.quantity, fill.price, self.qty, self.avg_cost)
        else:
            self.cash += value - fill.fee
            book(i, -fill.quantity, fill.price, self.qty, self.avg_cost)

    def mark(self, price: np.ndarray) -> Mark:
        """Value the positions at ``price`` (a close): equity, peak, drawdown, gross and net."""
        self.equity = float(mark_kernel(self.qty, self.cash, price))
        self.peak = max(self.peak, self.equity)
        value = self.qty * price
        gross = float(np.abs(value).sum() / self.equity) if self.equity > 0 else 0.0
        net = float(value.sum() / self.equity) if self.equity > 0 else 0.0
        return Mark(self.equity, self.peak, self.drawdown, gross, net)

    def weights(self, price: np.ndarray) -> np.ndarray:
        """Position values / equity at ``price`` (with the equity of the last mark)."""
        return self.qty * price / self.equity if self.equity > 0 else np.zeros(self.n_assets)

    def account(self, price: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Weights, cash weight, unrealised PnL / equity and drawdown at ``price``, into ``out``
        (N+3): the account part of an observation."""
        account_kernel(price, self.qty, self.avg_cost, self.cash, self.equity, self.peak, out)
        return out

    def snapshot(self) -> dict[str, Any]:
        """The state as plain data (for the store); :meth:`restore` reads it back exactly."""
        return {
            "symbols": self.symbols,
            "qty": self.qty.tolist(),
            "avg_cost": self.avg_cost.tolist(),
            "cash": self.cash,
            "equity": self.equity,
            "peak": self.peak,
            "initial_cash": self.initial_cash,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Portfolio:
        p = cls(data["symbols"], data["initial_cash"])
        p.qty[:] = data["qty"]
        p.avg_cost[:] = data["avg_cost"]
        p.cash, p.equity, p.peak = float(data["cash"]), float(data["equity"]), float(data["peak"])
        return p
