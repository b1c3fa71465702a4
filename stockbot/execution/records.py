"""Orders and fills as named records, the same in a backtest, a paper session and at a broker.

Quantities are positive; the side says which way. Prices are in the series the policy trades (the
adjusted one for backtests and paper replays); a fill also carries the raw price and the adjustment
factor at its bar, so a fill at a real broker (raw shares, raw prices) and a simulated one read alike.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
# why an order exists: the policy's decision, the kill switch's exit, or a requested flatten
OrderKind = Literal["decision", "kill", "flatten"]
KIND_LETTER: dict[str, str] = {"decision": "d", "kill": "k", "flatten": "f"}
MAX_CLIENT_ID = 48  # Alpaca's limit, the strictest of the brokers


@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float  # > 0
    decision_time: pd.Timestamp  # the close it was decided at
    reference_price: float  # that close: sizing, limit offsets and slippage are measured from it
    order_type: OrderType = "market"
    limit_price: float | None = None
    kind: OrderKind = "decision"
    slice: int = 0  # TWAP: the child's number (0 for an order that is not sliced)
    fill_time: pd.Timestamp | None = None  # the bar it is meant to fill at (expires after it)

    def __post_init__(self) -> None:
        if not (self.quantity > 0 and math.isfinite(self.quantity)):
            raise ValueError(f"order {self.client_order_id}: quantity must be > 0, got {self.quantity}")
        if self.side not in ("buy", "sell"):
            raise ValueError(f"order {self.client_order_id}: side must be buy or sell, got {self.side!r}")
        if (self.order_type == "limit") != (self.limit_price is not None):
            raise ValueError(f"order {self.client_order_id}: a limit price goes with order_type limit only")

    @property
    def signed(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity


@dataclass(frozen=True, slots=True)
class Fill:
    client_order_id: str
    symbol: str
    side: Side
    quantity: float  # > 0
    price: float  # after slippage
    fee: float
    slippage_cost: float  # quantity * |price - the price before slippage|
    decision_time: pd.Timestamp
    fill_time: pd.Timestamp
    raw_price: float  # price / adj_factor: what a broker would have charged
    adj_factor: float = 1.0

    @property
    def signed(self) -> float:
        return self.quantity if self.side == "buy" else -self.quantity

    @property
    def notional(self) -> float:
        return self.quantity * self.price


def session_hash(session: str) -> str:
    """8 hex characters naming a session (or a backtest) inside its client order ids."""
    return hashlib.sha256(session.encode()).hexdigest()[:8]


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    if n < 0:
        raise ValueError(f"cannot write {n} in base 36")
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def client_order_id(
    session: str, decision_time: pd.Timestamp, symbol: str, kind: str, slice_: int = 0
) -> str:
    """``{session hash}-{decision bar in base 36}-{symbol}-{d|k|f}{slice}``: the same for the same
    session, decision bar (its timestamp in seconds, so it does not depend on how much history is
    loaded), symbol, kind and slice, and different otherwise; at most 48 characters."""
    bar = _base36(int(pd.Timestamp(decision_time).timestamp()))
    name = symbol if len(symbol) <= 16 else hashlib.sha256(symbol.encode()).hexdigest()[:16]
    out = f"{session_hash(session)}-{bar}-{name}-{KIND_LETTER[kind]}{slice_}"
    if len(out) > MAX_CLIENT_ID:  # only a huge slice number gets here
        raise ValueError(f"client order id {out!r} is longer than {MAX_CLIENT_ID} characters")
    return out


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else pd.Timestamp(ts).isoformat()


def _ts(text: str | None) -> pd.Timestamp | None:
    return None if text is None else pd.Timestamp(text)


def order_to_doc(order: Order) -> dict[str, Any]:
    """An order as plain data (store documents, journals); :func:`order_from_doc` reads it back."""
    return {
        "client_order_id": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side,
        "quantity": order.quantity,
        "decision_time": _iso(order.decision_time),
        "reference_price": order.reference_price,
        "order_type": order.order_type,
        "limit_price": order.limit_price,
        "kind": order.kind,
        "slice": order.slice,
        "fill_time": _iso(order.fill_time),
    }


def order_from_doc(doc: dict[str, Any]) -> Order:
    return Order(
        client_order_id=doc["client_order_id"],
        symbol=doc["symbol"],
        side=doc["side"],
        quantity=float(doc["quantity"]),
        decision_time=_ts(doc["decision_time"]),  # type: ignore[arg-type]
        reference_price=float(doc["reference_price"]),
        order_type=doc["order_type"],
        limit_price=None if doc["limit_price"] is None else float(doc["limit_price"]),
        kind=doc["kind"],
        slice=int(doc["slice"]),
        fill_time=_ts(doc["fill_time"]),
    )


def fill_to_doc(fill: Fill) -> dict[str, Any]:
    return {
        "client_order_id": fill.client_order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "quantity": fill.quantity,
        "price": fill.price,
        "fee": fill.fee,
        "slippage_cost": fill.slippage_cost,
        "decision_time": _iso(fill.decision_time),
        "fill_time": _iso(fill.fill_time),
        "raw_price": fill.raw_price,
        "adj_factor": fill.adj_factor,
    }


def fill_from_doc(doc: dict[str, Any]) -> Fill:
    return Fill(
        client_order_id=doc["client_order_id"],
        symbol=doc["symbol"],
        side=doc["side"],
        quantity=float(doc["quantity"]),
        price=float(doc["price"]),
        fee=float(doc["fee"]),
        slippage_cost=float(doc["slippage_cost"]),
        decision_time=_ts(doc["decision_time"]),  # type: ignore[arg-type]
        fill_time=_ts(doc["fill_time"]),  # type: ignore[arg-type]
        raw_price=float(doc["raw_price"]),
        adj_factor=float(doc["adj_factor"]),
    )
