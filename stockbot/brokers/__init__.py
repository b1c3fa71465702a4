"""Brokers on one protocol (DESIGN.md §6): the paper broker, Alpaca and Schwab; and a user's own
account from a notebook through the service (:func:`connect`)."""

from stockbot.brokers.base import (
    Broker,
    BrokerAccount,
    BrokerError,
    BrokerFill,
    BrokerOrder,
    Outcome,
    SubmitResult,
)
from stockbot.brokers.remote import connect

__all__ = [
    "Broker",
    "BrokerAccount",
    "BrokerError",
    "BrokerFill",
    "BrokerOrder",
    "Outcome",
    "SubmitResult",
    "connect",
]
