"""Planning: a decision's target weights -> risk limits -> rebalance threshold -> target quantities,
sized with equity and prices at the decision's close (DESIGN.md §2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stockbot.execution.kernels import size_kernel
from stockbot.execution.portfolio import Portfolio
from stockbot.execution.records import OrderKind
from stockbot.execution.risk import RiskLimits, RiskStatus


@dataclass(frozen=True, slots=True)
class Plan:
    target: np.ndarray  # what the decision asked for (weights; NaN = keep that position)
    weights: np.ndarray  # after the risk limits: target vs weights is what risk clipped
    current: np.ndarray  # the weights held at the decision's close
    quantities: np.ndarray  # the target position of each asset
    kind: OrderKind  # "decision", or "kill" when a halt flattens


class Planner:
    def __init__(
        self,
        limits: RiskLimits,
        *,
        threshold: float = 0.0,
        fractional: bool = True,
        cash_buffer: float = 0.0,
    ) -> None:
        self.limits = limits
        self._limits = limits.as_array()
        self.threshold = float(threshold)
        self.fractional = fractional
        self.invest = 1.0 - float(cash_buffer)

    def plan(self, target: np.ndarray, portfolio: Portfolio, price: np.ndarray, status: RiskStatus) -> Plan:
        """Target quantities for ``target`` decided at the close ``price`` (equity of the last
        mark). ``halted`` targets zero everywhere; ``reducing`` lets no position grow or flip."""
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (portfolio.n_assets,):
            raise ValueError(
                f"target has shape {target.shape}; want ({portfolio.n_assets},), one weight per asset"
            )
        weights = np.empty(portfolio.n_assets)
        current = portfolio.weights(price)
        qty = size_kernel(
            target,
            portfolio.qty,
            price,
            portfolio.equity,
            self._limits,
            self.threshold,
            self.fractional,
            status == "halted",
            self.invest,
            weights,
        )
        if status == "reducing":
            held = portfolio.qty
            qty = np.clip(qty, np.minimum(held, 0.0), np.maximum(held, 0.0))
        return Plan(target, weights, current, qty, "kill" if status == "halted" else "decision")
