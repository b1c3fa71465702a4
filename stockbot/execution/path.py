"""The one order path, assembled: plan -> orders -> venue -> fills -> portfolio -> risk state.

A backtest drives it bar by bar with the paper venue; a live session drives the same planner, order
builder, portfolio and risk state, with a broker in place of the venue and fills arriving when they
do. Nothing here knows which mode it is in.

Orders wait in ``pending`` for their fill bar (TWAP children for later bars); an order not (fully)
filled at its bar expires (``expired``), the rest unfilled. A decision that sends an order for a
symbol cancels that symbol's children still pending; a decision that holds a symbol lets them go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from stockbot.config import ExecutionConfig
from stockbot.execution.costs import CostModel
from stockbot.execution.orders import OrderBuilder
from stockbot.execution.planner import Plan, Planner
from stockbot.execution.portfolio import Mark, Portfolio
from stockbot.execution.records import Fill, Order, order_from_doc, order_to_doc
from stockbot.execution.risk import RiskLimits, RiskState
from stockbot.execution.venue import Bar, PaperVenue


@dataclass(frozen=True, slots=True)
class Step:
    """What one bar of a backtest produced."""

    orders: list[Order]
    fills: list[Fill]
    mark: Mark
    event: str | None  # a change of the risk state, for the event log


class OrderPath:
    def __init__(
        self,
        symbols: Sequence[str],
        *,
        initial_cash: float,
        costs: CostModel,
        limits: RiskLimits,
        execution: ExecutionConfig | None = None,
        fill_at_close: bool = False,
        session: str = "backtest",
    ) -> None:
        ex = execution or ExecutionConfig()
        self.limits = limits
        self.execution = ex
        self.portfolio = Portfolio(symbols, initial_cash)
        self.planner = Planner(
            limits,
            threshold=ex.rebalance_threshold,
            fractional=ex.fractional_shares,
            cash_buffer=ex.cash_buffer,
        )
        self.builder = OrderBuilder(symbols, session, ex)
        self.venue = PaperVenue(
            costs,
            max_gross_leverage=limits.max_gross_leverage,
            fractional=ex.fractional_shares,
            fill_at_close=fill_at_close,
        )
        self.risk = RiskState()
        self.fill_at_close = fill_at_close
        self.last_plan: Plan | None = None
        self.pending: list[Order] = []
        self.cancelled: list[Order] = []
        self.expired: list[Order] = []

    @property
    def slices(self) -> int:
        return self.execution.twap_slices

    def reset(self, session: object = None) -> None:
        self.portfolio.reset()
        self.risk = RiskState()
        self.risk.start(self.portfolio.equity, session)
        self.last_plan = None
        self.pending, self.cancelled, self.expired = [], [], []

    def resume(self) -> None:
        """A person lifts a halt (or a pause): trading resumes, and the drawdown kill switch re-arms
        from today's equity (measured from the old peak, it would fire again at the next mark)."""
        self.risk.resume()
        self.portfolio.peak = self.portfolio.equity

    def decide(
        self,
        target: np.ndarray,
        bar: Bar,
        fill_times: Sequence[pd.Timestamp],
        *,
        flatten: bool = False,
    ) -> list[Order]:
        """Orders for ``target`` decided at ``bar``'s close; ``fill_times`` are the bars they may
        fill at (the next bar's first; with ``fill: close``, this bar's). They join ``pending``.
        ``flatten``: a requested exit instead (a stop that flattens): everything to zero at the
        next open, whatever the target."""
        status = "halted" if flatten else self.risk.status
        plan = self.planner.plan(target, self.portfolio, bar.close, status)
        if flatten:
            plan = replace(plan, kind="flatten")
        self.last_plan = plan
        orders = self.builder.build(plan, self.portfolio.qty, bar.time, bar.close, fill_times)
        replaced = {o.symbol for o in orders}
        if plan.kind != "decision":  # an exit replaces everything still pending
            replaced = set(self.portfolio.symbols)
        self.cancelled += [o for o in self.pending if o.symbol in replaced]
        self.pending = [o for o in self.pending if o.symbol not in replaced] + orders
        return orders

    def fill(self, bar: Bar) -> list[Fill]:
        """Fill the pending orders due at ``bar`` at the paper venue and apply each fill; orders due
        earlier expire, later ones stay pending."""
        due = [o for o in self.pending if o.fill_time == bar.time]
        self.expired += [o for o in self.pending if o.fill_time is not None and o.fill_time < bar.time]
        self.pending = [o for o in self.pending if o.fill_time is None or o.fill_time > bar.time]
        fills = self.venue.fill(due, self.portfolio, bar)
        filled = {f.client_order_id: f.quantity for f in fills}
        # unfilled (a limit not reached, a buy clipped to nothing) or only partly: the rest expires
        self.expired += [o for o in due if filled.get(o.client_order_id, 0.0) < o.quantity]
        for f in fills:
            self.portfolio.apply(f)
        return fills

    def step(
        self,
        target: np.ndarray,
        bar: Bar,
        following: Bar,
        fill_times: Sequence[pd.Timestamp],
        session: object,
    ) -> Step:
        """One bar of a backtest: decide ``target`` at ``bar``'s close, fill what is due at the
        fill bar (``following``, or ``bar`` itself with ``fill: close``) and mark at
        ``following``'s close, of exchange session ``session``."""
        orders = self.decide(target, bar, fill_times)
        fills = self.fill(bar if self.fill_at_close else following)
        mark, event = self.mark(following, session)
        return Step(orders, fills, mark, event)

    def mark(self, bar: Bar, session: object) -> tuple[Mark, str | None]:
        """Mark at ``bar``'s close and feed the risk state; returns the mark and any risk event."""
        mark = self.portfolio.mark(bar.close)
        return mark, self.risk.on_mark(mark.equity, mark.drawdown, session, self.limits)

    def snapshot(self) -> dict[str, Any]:
        """Portfolio, risk state and pending orders as plain data (a live session saves it with
        every tick); :meth:`restore` reads it back exactly."""
        return {
            "portfolio": self.portfolio.snapshot(),
            "risk": self.risk.snapshot(),
            "pending": [order_to_doc(o) for o in self.pending],
        }

    def restore(self, data: dict[str, Any]) -> None:
        saved = Portfolio.restore(data["portfolio"])
        if saved.symbols != self.portfolio.symbols:
            raise ValueError(f"saved portfolio trades {saved.symbols}, not {self.portfolio.symbols}")
        p = self.portfolio  # in place: deciders hold this object
        p.qty[:], p.avg_cost[:] = saved.qty, saved.avg_cost
        p.cash, p.equity, p.peak, p.initial_cash = saved.cash, saved.equity, saved.peak, saved.initial_cash
        self.risk = RiskState.restore(data["risk"])
        self.pending = [order_from_doc(o) for o in data["pending"]]
        self.cancelled, self.expired = [], []
