"""Brokers on one protocol (DESIGN.md §6): the paper broker now; Alpaca and Schwab next."""

from stockbot.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    Outcome,
    SubmitResult,
)

__all__ = ["Broker", "BrokerAccount", "BrokerError", "BrokerFill", "BrokerOrder", "Outcome", "SubmitResult"]
