"""Pure execution, the one order path of envs, backtests and live sessions: planning (risk limits,
rebalance threshold, sizing), the order builder, the paper venue's fill model, the portfolio and the
risk state, with named records (:class:`Order`, :class:`Fill`)."""

from stockbot.execution.costs import CostModel
from stockbot.execution.orders import OrderBuilder
from stockbot.execution.path import OrderPath
from stockbot.execution.planner import Plan, Planner
from stockbot.execution.portfolio import Mark, Portfolio
from stockbot.execution.records import Fill, Order, client_order_id
from stockbot.execution.risk import RiskLimits, RiskState, limit_weights
from stockbot.execution.venue import Bar, PaperVenue

__all__ = [
    "Bar",
    "CostModel",
    "Fill",
    "Mark",
    "Order",
    "OrderBuilder",
    "OrderPath",
    "PaperVenue",
    "Plan",
    "Planner",
    "Portfolio",
    "RiskLimits",
    "RiskState",
    "client_order_id",
    "limit_weights",
]
