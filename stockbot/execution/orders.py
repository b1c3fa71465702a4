"""The order builder: a plan's target quantities -> orders, each with its deterministic client id.

- ``market``: one order per asset that changes, for the difference between the plan and the
  position held.
- ``limit``: the same quantities at ``limit_offset_bps`` from the reference price (the decision's
  close): a buy at reference * (1 - offset), a sell at reference * (1 + offset).
- TWAP (``twap_slices`` N > 1): each order split into N children, one per bar over the next N bars;
  their quantities sum to the parent's exactly (whole shares: the remainder goes to the last).
- ``min_order_notional``: an order worth less is not sent (nor a child worth less: fewer, larger
  children then).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from stockbot.config import ExecutionConfig
from stockbot.execution.planner import Plan
from stockbot.execution.records import Order, OrderType, client_order_id


def slice_quantity(quantity: float, slices: int, fractional: bool) -> list[float]:
    """``quantity`` in at most ``slices`` positive parts that sum to it exactly (whole parts when
    not ``fractional``, the remainder on the last)."""
    if slices <= 1:
        return [quantity]
    if not fractional:
        base = math.floor(quantity / slices)
        if base == 0:  # fewer shares than slices: one share per child
            return [1.0] * int(quantity) if quantity >= 1 else [quantity]
        return [float(base)] * (slices - 1) + [quantity - base * (slices - 1)]
    part = quantity / slices
    parts = [part] * (slices - 1)
    acc = 0.0
    for p in parts:
        acc += p
    last = quantity - acc
    while acc + last != quantity:  # one ulp of rounding: nudge the last part until the sum is exact
        last = math.nextafter(last, math.inf if acc + last < quantity else -math.inf)
    return [*parts, last]


class OrderBuilder:
    def __init__(
        self,
        symbols: Sequence[str],
        session: str,
        execution: ExecutionConfig | None = None,
    ) -> None:
        self.symbols = list(symbols)
        self.session = session
        self.execution = execution or ExecutionConfig()

    @property
    def slices(self) -> int:
        return self.execution.twap_slices

    def build(
        self,
        plan: Plan,
        held: np.ndarray,
        decision_time: pd.Timestamp,
        reference: np.ndarray,
        fill_times: Sequence[pd.Timestamp],
    ) -> list[Order]:
        """Orders for ``plan`` from the positions ``held``, decided at ``decision_time`` at the
        closes ``reference``. ``fill_times`` are the bars the children fill at (the first for an
        order that is not sliced); fewer bars than slices make fewer children."""
        ex = self.execution
        if not fill_times:
            raise ValueError("an order needs the bar it fills at")
        delta = plan.quantities - held
        slices = max(1, min(self.slices, len(fill_times)))
        order_type: OrderType = ex.order_type
        if plan.kind != "decision":  # a halt's or a stop's exit: everything at the next open
            slices, order_type = 1, "market"
        offset = ex.limit_offset_bps / 1e4
        orders = []
        for i, d in enumerate(delta):
            if d == 0.0:
                continue
            symbol = self.symbols[i]
            side = "buy" if d > 0 else "sell"
            quantity = float(d) if d > 0 else float(-d)
            ref = float(reference[i])
            if (
                ex.min_order_notional > 0
                and plan.kind == "decision"
                and quantity * ref < ex.min_order_notional
            ):
                continue
            n = slices
            if ex.min_order_notional > 0:
                n = max(1, min(n, int(quantity * ref // ex.min_order_notional)))
            limit = None
            if order_type == "limit":
                limit = ref * (1.0 - offset) if side == "buy" else ref * (1.0 + offset)
            for k, q in enumerate(slice_quantity(quantity, n, self._fractional(quantity))):
                orders.append(
                    Order(
                        client_order_id=client_order_id(self.session, decision_time, symbol, plan.kind, k),
                        symbol=symbol,
                        side=side,
                        quantity=q,
                        decision_time=decision_time,
                        reference_price=ref,
                        order_type=order_type,
                        limit_price=limit,
                        kind=plan.kind,
                        slice=k,
                        fill_time=fill_times[k],
                    )
                )
        return orders

    def _fractional(self, quantity: float) -> bool:
        return self.execution.fractional_shares or quantity != math.floor(quantity)
