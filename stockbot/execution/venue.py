"""The paper venue's fill model: what a backtest and a paper broker fill, and at what price.

Market orders fill at the fill bar's open (the bar after the decision; with ``fill: close``, the
decision's own close, an optimistic assumption) plus slippage against the trader. A buy limit fills
at the open if the open is at or below the limit, else at the limit if the bar's low reaches it,
else not at all (it expires at the end of that bar); a sell limit mirrors it; limit fills carry no
slippage. Sells go first, then the buys, scaled together so that cash stays above the floor (see
:mod:`.kernels`); fees per order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from stockbot.execution.costs import CostModel
from stockbot.execution.kernels import FILL_COLUMNS, cash_floor, fill_kernel
from stockbot.execution.portfolio import Portfolio
from stockbot.execution.records import Fill, Order


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of every asset (adjusted prices, and the factor that made them)."""

    time: pd.Timestamp
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    adj_factor: np.ndarray


class PaperVenue:
    def __init__(
        self,
        costs: CostModel,
        *,
        max_gross_leverage: float = 1.0,
        fractional: bool = True,
        fill_at_close: bool = False,
    ) -> None:
        self.costs = costs
        self._costs = costs.as_array()
        self.max_gross_leverage = float(max_gross_leverage)
        self.fractional = fractional
        self.fill_at_close = fill_at_close

    def fill(self, orders: Sequence[Order], account: Portfolio, bar: Bar) -> list[Fill]:
        """The fills of ``orders`` at ``bar`` (the fill bar; the decision bar with ``fill: close``)
        for an account holding ``account``'s cash and positions (read, not changed). At most one
        order per asset; an order that does not fill here gets no fill (it expires)."""
        if not orders:
            return []
        n = account.n_assets
        delta = np.zeros(n)
        px = bar.close.copy() if self.fill_at_close else bar.open.copy()
        ref = px.copy()
        slip = np.full(n, self.costs.slippage)
        by_asset: dict[int, Order] = {}
        for o in orders:
            i = account.index[o.symbol]
            if i in by_asset:
                raise ValueError(
                    f"orders {by_asset[i].client_order_id} and {o.client_order_id} are both for {o.symbol}"
                )
            by_asset[i] = o
            if o.order_type == "limit":
                price = self._limit_price(o, float(ref[i]), float(bar.high[i]), float(bar.low[i]))
                if price is None:
                    continue  # not reached: expires unfilled
                px[i], slip[i] = price, 0.0
            delta[i] = o.signed
        qty, avg = account.qty.copy(), account.avg_cost.copy()
        floor = cash_floor(qty, account.cash, ref, self.max_gross_leverage)
        buf = np.zeros((n, FILL_COLUMNS))
        _, _, _, nf = fill_kernel(
            qty, avg, account.cash, delta, px, slip, self._costs, floor, self.fractional, buf
        )
        fills = []
        for row in buf[:nf]:
            i, d, price, fee, cost = int(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4])
            order = by_asset[i]
            fills.append(
                Fill(
                    client_order_id=order.client_order_id,
                    symbol=order.symbol,
                    side=order.side,
                    quantity=d if d > 0 else -d,
                    price=price,
                    fee=fee,
                    slippage_cost=cost,
                    decision_time=order.decision_time,
                    fill_time=bar.time,
                    raw_price=price / float(bar.adj_factor[i]),
                    adj_factor=float(bar.adj_factor[i]),
                )
            )
        return fills

    def model_price(self, order: Order, bar: Bar, i: int) -> float | None:
        """The price this venue would fill ``order`` (asset ``i``) at in ``bar`` on its own, cash
        aside (None: a limit not reached): what a real broker's fill is measured against."""
        ref = float(bar.close[i] if self.fill_at_close else bar.open[i])
        if order.order_type == "limit":
            return self._limit_price(order, ref, float(bar.high[i]), float(bar.low[i]))
        sign = 1.0 if order.side == "buy" else -1.0
        return ref * (1.0 + sign * self.costs.slippage)

    def _limit_price(self, order: Order, open_: float, high: float, low: float) -> float | None:
        """Where a limit order fills in a bar opening at ``open_`` (None: it does not). With
        ``fill: close`` the bar is a single price, the close."""
        limit = float(order.limit_price)  # type: ignore[arg-type]
        if order.side == "buy":
            if open_ <= limit:
                return open_
            return limit if not self.fill_at_close and low <= limit else None
        if open_ >= limit:
            return open_
        return limit if not self.fill_at_close and high >= limit else None
