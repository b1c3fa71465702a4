"""The ``Broker`` protocol: what a live session needs from any venue, paper or real.

A submit's outcome is ``accepted``, ``rejected`` or ``unknown`` (a timeout, a 5xx, a lost
connection: the order may or may not be there). Unknown is resolved by :meth:`Broker.lookup` by
client order id, never by sending the order again. Submitting an id the broker already holds is not
a second order: it answers ``accepted`` for the order it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

from stockbot.errors import BrokerError
from stockbot.execution.records import Order, Side
from stockbot.execution.venue import Bar


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


OrderState = Literal["accepted", "filled", "cancelled", "expired", "rejected"]
OPEN_STATES = frozenset({"accepted"})


@dataclass(frozen=True, slots=True)
class SubmitResult:
    outcome: Outcome
    client_order_id: str
    broker_order_id: str | None = None
    message: str | None = None
    duplicate: bool = False  # the broker already held this client order id


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker reports it."""

    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: Side
    quantity: float
    status: OrderState
    filled_quantity: float = 0.0
    message: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerFill:
    """One execution at the broker; ``cursor`` orders them (fills_since(cursor) returns later ones)."""

    fill_id: str
    cursor: int
    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float  # in the session's price series (the adjusted one on paper replays)
    fee: float
    slippage_cost: float
    time: str  # ISO timestamp of the bar (paper) or the execution (real brokers)
    raw_price: float
    adj_factor: float = 1.0
    # where a broker reports executions as its order's cumulative filled quantity (Alpaca): the
    # order and that quantity after this execution (raw shares), so a session counts each share once
    order_ref: str | None = None
    cumulative: float | None = None


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    cash: float
    equity: float


class RejectedError(BrokerError):
    """The broker refused a request; ``code`` and ``message`` are its own."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporaryError(BrokerError):
    """The broker could not answer now (timeout, 5xx, connection): try the lookup later."""


class AuthExpiredError(BrokerError):
    """The broker's token expired or was revoked: the owner must connect the account again."""


class AmbiguousOrderError(BrokerError):
    """Several orders at the broker match one sent with no receipt (Schwab, which has no client
    order id): a person must decide; the session stops trading that symbol until then."""

    def __init__(self, message: str, symbol: str) -> None:
        super().__init__(message)
        self.symbol = symbol


class OneAtATime:
    """For brokers with no batch endpoints: a batch is one request per order."""

    def submit(self, order: Order) -> SubmitResult:
        raise NotImplementedError

    def lookup(self, client_order_id: str) -> BrokerOrder | None:
        raise NotImplementedError

    def submit_many(self, orders: list[Order]) -> list[SubmitResult]:
        return [self.submit(o) for o in orders]

    def lookup_many(self, client_order_ids: list[str]) -> dict[str, BrokerOrder]:
        return {cid: r for cid in client_order_ids if (r := self.lookup(cid)) is not None}


class Broker(Protocol):
    name: str
    paper: bool
    # whether fills_since(cursor) is exact (the paper broker's numbered fills); a real broker's
    # executions can show up late, out of order: a session then reads them all and keeps their ids
    exact_cursor: bool

    def account(self) -> BrokerAccount: ...

    def positions(self) -> dict[str, float]: ...

    def submit(self, order: Order) -> SubmitResult: ...

    def submit_many(self, orders: list[Order]) -> list[SubmitResult]:
        """Each order's outcome, in order (a broker without a batch endpoint submits them one by
        one). Raises :class:`TemporaryError` only when none of them can be known to have arrived."""
        ...

    def lookup(self, client_order_id: str) -> BrokerOrder | None: ...

    def lookup_many(self, client_order_ids: list[str]) -> dict[str, BrokerOrder]:
        """The orders the broker holds among ``client_order_ids`` (absent ones are not in the dict)."""
        ...

    def cancel(self, client_order_id: str) -> bool: ...

    def open_orders(self) -> list[BrokerOrder]: ...

    def fills_since(self, cursor: int) -> list[BrokerFill]: ...

    def on_bar(self, bar: Bar) -> None:
        """A bar closed. The paper broker fills its open orders at it; real brokers do nothing."""
        ...
