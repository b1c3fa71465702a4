"""The one execution path of envs, backtests and paper trading: decide at bar t's close, fill at
bar t+1's open (or, optimistically, at t's close), mark at t+1's close.

``Simulator.step(t, target_weights)`` applies the risk limits and the per-asset rebalance threshold
to the target, sizes it with equity and prices at t's close, executes it (:mod:`.ledger`) and marks
the result. Once the drawdown kill switch has fired every later target is cash (flatten, stay
flat). The per-step arithmetic is one compiled kernel: envs call it hundreds of thousands of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from stockbot.execution.costs import CostModel
from stockbot.execution.ledger import FILL_COLUMNS, Fill, execute_kernel, fills_from_buffer
from stockbot.execution.risk import RiskLimits, limit_weights_kernel

# state vector: cash, equity (at the last close), peak equity, killed (0/1)
CASH, EQUITY, PEAK, KILLED = 0, 1, 2, 3


@njit(cache=True, nogil=True)
def step_kernel(
    t: int,
    target: np.ndarray,
    open_: np.ndarray,
    close: np.ndarray,
    qty: np.ndarray,
    avg_cost: np.ndarray,
    state: np.ndarray,
    limits: np.ndarray,
    costs: np.ndarray,
    fill_at_close: bool,
    threshold: float,
    fractional: bool,
    fills: np.ndarray,
) -> tuple[float, float, int]:
    n = qty.shape[0]
    equity = state[EQUITY]
    current = np.empty(n)
    for i in range(n):
        current[i] = qty[i] * close[t, i] / equity if equity > 0.0 else 0.0
    killed = state[KILLED] != 0.0 or equity <= 0.0
    hold = np.isnan(target)  # NaN: no opinion, keep the position
    w = np.zeros(n) if killed else limit_weights_kernel(target, current, limits)
    target_qty = np.empty(n)
    for i in range(n):
        if not killed and (hold[i] or (threshold > 0.0 and abs(w[i] - current[i]) < threshold)):
            target_qty[i] = qty[i]  # held, or too small a change to trade
        else:
            q = w[i] * equity / close[t, i] if equity > 0.0 else 0.0
            target_qty[i] = q if fractional else np.trunc(q)
    ref = close[t] if fill_at_close else open_[t + 1]
    floor = 0.0
    if limits[0] > 1.0:
        floor = -(limits[0] - 1.0) * (state[CASH] + np.dot(qty, ref))
    cash, notional, fees, nf = execute_kernel(
        qty, avg_cost, state[CASH], target_qty, ref, costs, floor, fractional, fills
    )
    state[CASH] = cash
    new_equity = cash + np.dot(qty, close[t + 1])
    state[EQUITY] = new_equity
    state[PEAK] = max(state[PEAK], new_equity)
    max_dd = limits[3]
    if max_dd > 0.0 and state[PEAK] > 0.0 and new_equity / state[PEAK] - 1.0 <= -max_dd:
        state[KILLED] = 1.0
    return notional, fees, nf


@njit(cache=True, nogil=True)
def account_kernel(
    t: int, close: np.ndarray, qty: np.ndarray, avg_cost: np.ndarray, state: np.ndarray, out: np.ndarray
) -> None:
    """Fill ``out`` (N+3) with each asset's weight, the cash weight, unrealised PnL / equity and the
    drawdown, at bar t's close."""
    n = qty.shape[0]
    equity = state[EQUITY]
    if equity > 0.0:
        upnl = 0.0
        for i in range(n):
            px = close[t, i]
            out[i] = qty[i] * px / equity
            upnl += qty[i] * (px - avg_cost[i])
        out[n] = state[CASH] / equity
        out[n + 1] = upnl / equity
    else:
        out[: n + 2] = 0.0
    out[n + 2] = equity / state[PEAK] - 1.0 if state[PEAK] > 0.0 else -1.0


@dataclass(slots=True)
class StepResult:
    equity: float  # at the close of bar t+1
    notional: float
    fees: float
    killed: bool


@dataclass
class TradeLog:
    """Fills with their bar indices: (fill bar, decision bar, fill)."""

    rows: list[tuple[int, int, Fill]] = field(default_factory=list)


class Simulator:
    """Execution over fixed price arrays ``open_`` and ``close`` of shape (T, N)."""

    def __init__(
        self,
        open_: np.ndarray,
        close: np.ndarray,
        *,
        initial_cash: float,
        costs: CostModel,
        limits: RiskLimits,
        fractional: bool = True,
        fill_at_close: bool = False,
        rebalance_threshold: float = 0.0,
        log: TradeLog | None = None,
    ) -> None:
        if open_.shape != close.shape or open_.ndim != 2:
            raise ValueError(f"open and close must both be (T, N), got {open_.shape} and {close.shape}")
        self.open = np.ascontiguousarray(open_, dtype=np.float64)
        self.close = np.ascontiguousarray(close, dtype=np.float64)
        self.n_assets = self.close.shape[1]
        self.initial_cash = float(initial_cash)
        self.limits = limits
        self._limits = limits.as_array()
        self._costs = costs.as_array()
        self.fractional = fractional
        self.fill_at_close = fill_at_close
        self.threshold = float(rebalance_threshold)
        self.log = log
        self.qty = np.zeros(self.n_assets)
        self.avg_cost = np.zeros(self.n_assets)
        self.state = np.array([self.initial_cash, self.initial_cash, self.initial_cash, 0.0])
        self._fills = np.zeros((2 * self.n_assets, FILL_COLUMNS))
        self._last_decision = self.close.shape[0] - 1
        self._shape = (self.n_assets,)

    def reset(self) -> None:
        self.qty[:] = 0.0
        self.avg_cost[:] = 0.0
        self.state[:] = (self.initial_cash, self.initial_cash, self.initial_cash, 0.0)

    @property
    def cash(self) -> float:
        return float(self.state[CASH])

    @property
    def equity(self) -> float:
        return float(self.state[EQUITY])

    @property
    def killed(self) -> bool:
        return bool(self.state[KILLED])

    @property
    def drawdown(self) -> float:
        peak = self.state[PEAK]
        return float(self.state[EQUITY] / peak - 1.0) if peak > 0 else -1.0

    def account(self, t: int, out: np.ndarray) -> np.ndarray:
        """Weights, cash weight, unrealised PnL / equity and drawdown at bar t's close, into ``out``."""
        account_kernel(t, self.close, self.qty, self.avg_cost, self.state, out)
        return out

    def weights(self, t: int) -> np.ndarray:
        """Position values / equity at bar t's close."""
        equity = self.state[EQUITY]
        return self.qty * self.close[t] / equity if equity > 0 else np.zeros(self.n_assets)

    def step(self, t: int, target: np.ndarray) -> StepResult:
        """Decide at bar t (target weights; NaN = keep that position), fill, and mark at bar t+1's
        close."""
        if not 0 <= t < self._last_decision:
            raise IndexError(f"decision bar {t} outside 0..{self._last_decision - 1} (fills need bar t+1)")
        if target.shape != self._shape:
            raise ValueError(
                f"target has shape {target.shape}; want ({self.n_assets},), one weight per asset"
            )
        notional, fees, nf = step_kernel(
            t,
            target,
            self.open,
            self.close,
            self.qty,
            self.avg_cost,
            self.state,
            self._limits,
            self._costs,
            self.fill_at_close,
            self.threshold,
            self.fractional,
            self._fills,
        )
        if self.log is not None and nf:
            fill_bar = t if self.fill_at_close else t + 1
            self.log.rows.extend((fill_bar, t, f) for f in fills_from_buffer(self._fills, nf))
        return StepResult(float(self.state[EQUITY]), notional, fees, bool(self.state[KILLED]))
