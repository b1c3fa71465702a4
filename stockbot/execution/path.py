"""The one order path, assembled: plan -> orders -> venue -> fills -> portfolio -> risk state.

A backtest drives it bar by bar with the paper venue; a live session drives the same planner, order
builder, portfolio and risk state, with a broker in place of the venue and fills arriving when they
do. Nothing here knows which mode it is in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stockbot.execution.costs import CostModel
from stockbot.execution.orders import OrderBuilder
from stockbot.execution.planner import Plan, Planner
from stockbot.execution.portfolio import Mark, Portfolio
from stockbot.execution.records import Fill, Order
from stockbot.execution.risk import RiskLimits, RiskState
from stockbot.execution.venue import Bar, PaperVenue


class OrderPath:
    def __init__(
        self,
        symbols: Sequence[str],
        *,
        initial_cash: float,
        costs: CostModel,
        limits: RiskLimits,
        threshold: float = 0.0,
        fractional: bool = True,
        fill_at_close: bool = False,
        session: str = "backtest",
    ) -> None:
        self.limits = limits
        self.portfolio = Portfolio(symbols, initial_cash)
        self.planner = Planner(limits, threshold=threshold, fractional=fractional)
        self.builder = OrderBuilder(symbols, session)
        self.venue = PaperVenue(
            costs,
            max_gross_leverage=limits.max_gross_leverage,
            fractional=fractional,
            fill_at_close=fill_at_close,
        )
        self.risk = RiskState()
        self.fill_at_close = fill_at_close
        self.last_plan: Plan | None = None

    def reset(self, session: object = None) -> None:
        self.portfolio.reset()
        self.risk = RiskState()
        self.risk.start(self.portfolio.equity, session)
        self.last_plan = None

    def resume(self) -> None:
        """A person lifts a halt (or a pause): trading resumes, and the drawdown kill switch re-arms
        from today's equity (measured from the old peak, it would fire again at the next mark)."""
        self.risk.resume()
        self.portfolio.peak = self.portfolio.equity

    def decide(self, target: np.ndarray, bar: Bar, fill_bar: Bar | None = None) -> list[Order]:
        """Orders for ``target`` decided at ``bar``'s close (to fill at ``fill_bar``)."""
        plan = self.planner.plan(target, self.portfolio, bar.close, self.risk.status)
        self.last_plan = plan
        fill_time = bar.time if self.fill_at_close else (fill_bar.time if fill_bar is not None else None)
        return self.builder.build(plan, self.portfolio.qty, bar.time, bar.close, fill_time)

    def fill(self, orders: Sequence[Order], bar: Bar) -> list[Fill]:
        """Fill ``orders`` at the paper venue at ``bar`` and apply each fill to the portfolio."""
        fills = self.venue.fill(orders, self.portfolio, bar)
        for f in fills:
            self.portfolio.apply(f)
        return fills

    def mark(self, bar: Bar, session: object) -> tuple[Mark, str | None]:
        """Mark at ``bar``'s close and feed the risk state; returns the mark and any risk event."""
        mark = self.portfolio.mark(bar.close)
        return mark, self.risk.on_mark(mark.equity, mark.drawdown, session, self.limits)
