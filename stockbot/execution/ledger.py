"""Cash and positions, and how an order becomes a fill (DESIGN.md §2 sizing rule).

A target decided at bar t is sized with equity and prices at t's close. At the fill, sells go
first, then buys at the fill price plus slippage, clipped so that cash after price * qty + fees stays
>= 0 (or >= -(max_gross_leverage - 1) * equity when leverage above 1 allows borrowing). Shorts are
negative quantities; their proceeds are cash. Fees: commission on notional plus a per-share fee,
at least the minimum fee per order.

The arithmetic is compiled with numba (it runs every env step); :class:`Ledger` is the Python face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from stockbot.execution.costs import CostModel

# columns of the fills buffer the kernels fill in: asset, signed qty, price, fee, slippage cost
FILL_COLUMNS = 5


@dataclass(slots=True)
class Fill:
    """One executed order (per asset) of a rebalance."""

    asset: int
    qty: float  # signed: > 0 bought, < 0 sold
    price: float  # after slippage
    fee: float
    slippage_cost: float  # |qty| * |price - reference price|


@njit(cache=True, nogil=True, inline="always")
def _fee(value: float, shares: float, costs: np.ndarray) -> float:
    if shares <= 0.0:
        return 0.0
    fee = value * costs[0] + shares * costs[2]
    return max(fee, costs[3])


@njit(cache=True, nogil=True, inline="always")
def _book(i: int, d: float, price: float, qty: np.ndarray, avg_cost: np.ndarray) -> None:
    old = qty[i]
    new = old + d
    if old * d > 0.0:
        avg_cost[i] = (old * avg_cost[i] + d * price) / new
    elif old * new <= 0.0:  # opened, closed or crossed zero
        avg_cost[i] = price if new != 0.0 else 0.0
    qty[i] = new


@njit(cache=True, nogil=True, inline="always")
def _scaled(q: float, s: float, fractional: bool) -> float:
    x = q * s
    return x if fractional else np.floor(x)


@njit(cache=True, nogil=True)
def _buy_cost(
    buy: np.ndarray, s: float, ref: np.ndarray, slip: float, costs: np.ndarray, fractional: bool
) -> float:
    total = 0.0
    for i in range(buy.shape[0]):
        q = _scaled(buy[i], s, fractional)
        if q > 0.0:
            v = q * ref[i] * (1.0 + slip)
            total += v + _fee(v, q, costs)
    return total


@njit(cache=True, nogil=True)
def execute_kernel(
    qty: np.ndarray,
    avg_cost: np.ndarray,
    cash: float,
    target_qty: np.ndarray,
    ref: np.ndarray,
    costs: np.ndarray,
    floor: float,
    fractional: bool,
    fills: np.ndarray,
) -> tuple[float, float, float, int]:
    """Trade ``qty`` towards ``target_qty``; ``costs`` = [commission, slippage, per_share, min_fee]
    as fractions/currency. Returns (cash, notional, fees, number of fills written to ``fills``)."""
    n = qty.shape[0]
    slip = costs[1]
    notional = 0.0
    fees = 0.0
    nf = 0
    for i in range(n):  # sells first: their proceeds pay for the buys
        d = target_qty[i] - qty[i]
        if d < 0.0:
            p = ref[i] * (1.0 - slip)
            value = -d * p
            fee = _fee(value, -d, costs)
            cash += value - fee
            notional += value
            fees += fee
            _book(i, d, p, qty, avg_cost)
            fills[nf, 0], fills[nf, 1], fills[nf, 2], fills[nf, 3] = i, d, p, fee
            fills[nf, 4] = -d * (ref[i] - p)
            nf += 1
    buy = np.zeros(n)
    any_buy = False
    for i in range(n):
        d = target_qty[i] - qty[i]
        if d > 0.0:
            buy[i] = d
            any_buy = True
    if not any_buy:
        return cash, notional, fees, nf
    available = cash - floor
    if _buy_cost(buy, 1.0, ref, slip, costs, fractional) > available:
        # the cost grows with the scale s of all buys (fees too: commission, per-share and the
        # minimum fee are non-decreasing), so bisect for the largest affordable s
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if _buy_cost(buy, mid, ref, slip, costs, fractional) <= available:
                lo = mid
            else:
                hi = mid
        for i in range(n):
            buy[i] = _scaled(buy[i], lo, fractional)
    for i in range(n):
        d = buy[i]
        if d > 0.0:
            p = ref[i] * (1.0 + slip)
            value = d * p
            fee = _fee(value, d, costs)
            cash -= value + fee
            notional += value
            fees += fee
            _book(i, d, p, qty, avg_cost)
            fills[nf, 0], fills[nf, 1], fills[nf, 2], fills[nf, 3] = i, d, p, fee
            fills[nf, 4] = d * (p - ref[i])
            nf += 1
    return cash, notional, fees, nf


def fills_from_buffer(buf: np.ndarray, n: int) -> list[Fill]:
    return [Fill(int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4])) for r in buf[:n]]


class Ledger:
    """A portfolio of ``n`` assets plus cash (used by the simulator and the paper broker)."""

    def __init__(
        self,
        n: int,
        initial_cash: float,
        costs: CostModel,
        *,
        fractional: bool = True,
        max_gross_leverage: float = 1.0,
    ) -> None:
        self.initial_cash = float(initial_cash)
        self.costs = costs
        self.cost_array = costs.as_array()
        self.fractional = fractional
        self.max_gross_leverage = max_gross_leverage
        self.cash = self.initial_cash
        self.qty = np.zeros(n)
        self.avg_cost = np.zeros(n)
        self._fills = np.zeros((2 * n, FILL_COLUMNS))

    def reset(self) -> None:
        self.cash = self.initial_cash
        self.qty[:] = 0.0
        self.avg_cost[:] = 0.0

    def equity(self, prices: np.ndarray) -> float:
        return self.cash + float(self.qty @ prices)

    def cash_floor(self, prices: np.ndarray) -> float:
        if self.max_gross_leverage > 1.0:
            return -(self.max_gross_leverage - 1.0) * self.equity(prices)
        return 0.0

    def execute(self, target_qty: np.ndarray, ref_price: np.ndarray) -> list[Fill]:
        """Trade towards ``target_qty`` at ``ref_price`` (+/- slippage); return the fills."""
        ref = np.asarray(ref_price, dtype=np.float64)
        self.cash, _, _, nf = execute_kernel(
            self.qty,
            self.avg_cost,
            self.cash,
            np.asarray(target_qty, dtype=np.float64),
            ref,
            self.cost_array,
            self.cash_floor(ref),
            self.fractional,
            self._fills,
        )
        return fills_from_buffer(self._fills, nf)
