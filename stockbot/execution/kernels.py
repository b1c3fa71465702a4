"""The compiled arithmetic of the one order path (numba), shared by every mode.

The planner sizes with :func:`size_kernel`, the paper venue fills with :func:`fill_kernel`, the
portfolio books each fill with :func:`book` and marks with :func:`mark_kernel`; the env's fused step
(:func:`fused_step`) is these same kernels called in that order, followed by the same risk state,
so an env step and planner -> venue -> portfolio -> risk give the same numbers bit for bit.

Sizing rule (DESIGN.md §2): a target decided at bar t is sized with equity and prices at t's close.
At the fill, sells go first, then buys at the fill price plus slippage, clipped so that cash after
price * qty + fees stays >= 0 (or >= -(max_gross_leverage - 1) * equity at the fill prices when
leverage above 1 allows borrowing). Shorts are negative quantities; their proceeds are cash. Fees:
commission on notional plus a per-share fee, at least the minimum fee per order.

``costs`` travels as [commission, slippage, per_share, min_fee] (fractions and currency; fills
take the slippage per asset, so limit fills can have none) and the
limits as :meth:`RiskLimits.as_array`; a fills buffer row is (asset, signed qty, price, fee,
slippage cost).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from stockbot.execution.risk import limit_weights_kernel

FILL_COLUMNS = 5  # asset, signed qty, price, fee, slippage cost


@njit(cache=True, nogil=True, inline="always")
def fee(value: float, shares: float, costs: np.ndarray) -> float:
    if shares <= 0.0:
        return 0.0
    f = value * costs[0] + shares * costs[2]
    return max(f, costs[3])


@njit(cache=True, nogil=True)
def book(i: int, d: float, price: float, qty: np.ndarray, avg_cost: np.ndarray) -> None:
    """Book a signed quantity ``d`` of asset ``i`` at ``price``: the average cost moves on adds,
    stays on reductions, and restarts at ``price`` when a position opens or crosses zero."""
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
    buy: np.ndarray, s: float, px: np.ndarray, slip: np.ndarray, costs: np.ndarray, fractional: bool
) -> float:
    total = 0.0
    for i in range(buy.shape[0]):
        q = _scaled(buy[i], s, fractional)
        if q > 0.0:
            v = q * px[i] * (1.0 + slip[i])
            total += v + fee(v, q, costs)
    return total


@njit(cache=True, nogil=True)
def mark_kernel(qty: np.ndarray, cash: float, price: np.ndarray) -> float:
    """Equity: cash plus the positions at ``price``."""
    return cash + np.dot(qty, price)


@njit(cache=True, nogil=True)
def cash_floor(qty: np.ndarray, cash: float, ref: np.ndarray, max_gross: float) -> float:
    """The lowest cash buys may leave: 0, or -(max_gross - 1) * equity at ``ref`` when leverage
    above 1 allows borrowing."""
    if max_gross > 1.0:
        return -(max_gross - 1.0) * (cash + np.dot(qty, ref))
    return 0.0


@njit(cache=True, nogil=True)
def size_kernel(
    target: np.ndarray,
    qty: np.ndarray,
    price: np.ndarray,
    equity: float,
    limits: np.ndarray,
    threshold: float,
    fractional: bool,
    flat: bool,
    invest: float,
    weights: np.ndarray,
) -> np.ndarray:
    """Target quantities for target weights decided at a close (``price``, ``equity`` there).

    NaN in ``target`` keeps that position; a change of weight below ``threshold`` keeps it too;
    ``flat`` (halted, or no equity left) targets zero everywhere. ``invest`` (1 - the cash buffer)
    of the equity is sized. The weights after the risk limits are written to ``weights``."""
    n = qty.shape[0]
    current = np.empty(n)
    for i in range(n):
        current[i] = qty[i] * price[i] / equity if equity > 0.0 else 0.0
    flat = flat or equity <= 0.0
    w = np.zeros(n) if flat else limit_weights_kernel(target, current, limits)
    weights[:] = w
    sized = equity * invest
    target_qty = np.empty(n)
    for i in range(n):
        if not flat and (np.isnan(target[i]) or (threshold > 0.0 and abs(w[i] - current[i]) < threshold)):
            target_qty[i] = qty[i]  # held, or too small a change to trade
        else:
            q = w[i] * sized / price[i] if equity > 0.0 else 0.0
            target_qty[i] = q if fractional else np.trunc(q)
    return target_qty


@njit(cache=True, nogil=True)
def fill_kernel(
    qty: np.ndarray,
    avg_cost: np.ndarray,
    cash: float,
    delta: np.ndarray,
    px: np.ndarray,
    slip: np.ndarray,
    costs: np.ndarray,
    floor: float,
    fractional: bool,
    fills: np.ndarray,
) -> tuple[float, float, float, int]:
    """Fill signed orders ``delta`` (one per asset, 0 = none) at ``px`` moved against the trader by
    ``slip`` (a fraction per asset: the cost model's slippage for market orders, 0 for limit fills)
    into ``qty``/``avg_cost``: sells first (their proceeds pay for the buys), then the buys, all
    scaled by the largest factor that keeps cash >= ``floor``. Returns (cash, notional, fees,
    number of fills written to ``fills``)."""
    n = qty.shape[0]
    notional = 0.0
    fees = 0.0
    nf = 0
    for i in range(n):
        d = delta[i]
        if d < 0.0:
            p = px[i] * (1.0 - slip[i])
            value = -d * p
            f = fee(value, -d, costs)
            cash += value - f
            notional += value
            fees += f
            book(i, d, p, qty, avg_cost)
            fills[nf, 0], fills[nf, 1], fills[nf, 2], fills[nf, 3] = i, d, p, f
            fills[nf, 4] = -d * (px[i] - p)
            nf += 1
    buy = np.zeros(n)
    any_buy = False
    for i in range(n):
        if delta[i] > 0.0:
            buy[i] = delta[i]
            any_buy = True
    if not any_buy:
        return cash, notional, fees, nf
    available = cash - floor
    if _buy_cost(buy, 1.0, px, slip, costs, fractional) > available:
        # the cost grows with the scale s of all buys (fees too: commission, per-share and the
        # minimum fee are non-decreasing), so bisect for the largest affordable s
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if _buy_cost(buy, mid, px, slip, costs, fractional) <= available:
                lo = mid
            else:
                hi = mid
        for i in range(n):
            buy[i] = _scaled(buy[i], lo, fractional)
    for i in range(n):
        d = buy[i]
        if d > 0.0:
            p = px[i] * (1.0 + slip[i])
            value = d * p
            f = fee(value, d, costs)
            cash -= value + f
            notional += value
            fees += f
            book(i, d, p, qty, avg_cost)
            fills[nf, 0], fills[nf, 1], fills[nf, 2], fills[nf, 3] = i, d, p, f
            fills[nf, 4] = d * (p - px[i])
            nf += 1
    return cash, notional, fees, nf


@njit(cache=True, nogil=True)
def account_kernel(
    price: np.ndarray,
    qty: np.ndarray,
    avg_cost: np.ndarray,
    cash: float,
    equity: float,
    peak: float,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (N+3) with each asset's weight, the cash weight, unrealised PnL / equity and the
    drawdown at ``price`` (a close), the account part of an observation."""
    n = qty.shape[0]
    if equity > 0.0:
        upnl = 0.0
        for i in range(n):
            px = price[i]
            out[i] = qty[i] * px / equity
            upnl += qty[i] * (px - avg_cost[i])
        out[n] = cash / equity
        out[n + 1] = upnl / equity
    else:
        out[: n + 2] = 0.0
    out[n + 2] = equity / peak - 1.0 if peak > 0.0 else -1.0


@njit(cache=True, nogil=True)
def fused_step(
    target: np.ndarray,
    price: np.ndarray,
    ref: np.ndarray,
    mark: np.ndarray,
    qty: np.ndarray,
    avg_cost: np.ndarray,
    cash: float,
    equity: float,
    peak: float,
    flat: bool,
    limits: np.ndarray,
    costs: np.ndarray,
    slip: np.ndarray,
    threshold: float,
    fractional: bool,
    invest: float,
    weights: np.ndarray,
    fills: np.ndarray,
) -> tuple[float, float, float, float, float, int]:
    """One decision of the env in one call, for market orders: size at the decision close
    ``price`` (``flat``: the risk state is halted), fill at ``ref`` (the next open, or the same
    close with ``fill: close``) with slippage ``slip`` (the cost model's, per asset) and mark at the
    next close ``mark``. Returns (cash, equity, peak, notional, fees, fills); the mark then goes to
    the same :class:`RiskState` as in every other mode."""
    target_qty = size_kernel(target, qty, price, equity, limits, threshold, fractional, flat, invest, weights)
    delta = target_qty - qty
    floor = cash_floor(qty, cash, ref, limits[0])
    cash, notional, fees, nf = fill_kernel(
        qty, avg_cost, cash, delta, ref, slip, costs, floor, fractional, fills
    )
    equity = mark_kernel(qty, cash, mark)
    return cash, equity, max(peak, equity), notional, fees, nf
