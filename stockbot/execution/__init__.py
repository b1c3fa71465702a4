"""Pure execution: costs, risk limits, sizing, fills and the simulator every path shares."""

from stockbot.execution.costs import CostModel
from stockbot.execution.ledger import Fill, Ledger
from stockbot.execution.risk import RiskLimits, limit_weights
from stockbot.execution.simulator import Simulator, StepResult, TradeLog

__all__ = [
    "CostModel",
    "Fill",
    "Ledger",
    "RiskLimits",
    "Simulator",
    "StepResult",
    "TradeLog",
    "limit_weights",
]
