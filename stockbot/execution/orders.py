"""The order builder: a plan's target quantities -> orders, each with its deterministic client id."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from stockbot.execution.planner import Plan
from stockbot.execution.records import Order, client_order_id


class OrderBuilder:
    """Market orders for the difference between a plan's quantities and the positions held, one per
    asset that changes, in the assets' order."""

    def __init__(self, symbols: Sequence[str], session: str) -> None:
        self.symbols = list(symbols)
        self.session = session

    def build(
        self,
        plan: Plan,
        held: np.ndarray,
        decision_time: pd.Timestamp,
        reference: np.ndarray,
        fill_time: pd.Timestamp | None = None,
    ) -> list[Order]:
        delta = plan.quantities - held
        orders = []
        for i, d in enumerate(delta):
            if d == 0.0:
                continue
            symbol = self.symbols[i]
            orders.append(
                Order(
                    client_order_id=client_order_id(self.session, decision_time, symbol, plan.kind),
                    symbol=symbol,
                    side="buy" if d > 0 else "sell",
                    quantity=float(d) if d > 0 else float(-d),
                    decision_time=decision_time,
                    reference_price=float(reference[i]),
                    kind=plan.kind,
                    fill_time=fill_time,
                )
            )
        return orders
