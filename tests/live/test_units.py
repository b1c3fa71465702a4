"""The broker boundary's units, alone: orders out in raw shares (whole where asked, never selling
more than held, limit prices raw), positions and fills back in adjusted units, and which moves of
the factor are splits whose doubled shares reconciliation accepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stockbot.brokers.base import BrokerFill, BrokerOrder, Outcome, SubmitResult
from stockbot.execution.records import Order
from stockbot.execution.venue import Bar
from stockbot.live.units import RawUnits

T = pd.Timestamp("2005-02-28", tz="UTC")


class Held:
    """A broker stand-in in raw shares: what it was sent, and what it holds."""

    name, paper, exact_cursor = "stand-in", True, False

    def __init__(self) -> None:
        self.sent: list[Order] = []
        self.held: dict[str, float] = {}

    def submit_many(self, orders: list[Order]) -> list[SubmitResult]:
        self.sent += orders
        return [SubmitResult(Outcome.ACCEPTED, o.client_order_id) for o in orders]

    def positions(self) -> dict[str, float]:
        return dict(self.held)

    def open_orders(self) -> list[BrokerOrder]:
        return [BrokerOrder("mine", "1", "AAPL", "buy", 10.0, "accepted", 4.0)]

    def fills_since(self, cursor: int) -> list[BrokerFill]:
        return [BrokerFill("f1", 1, "c1", "AAPL", "buy", 10.0, 44.0, 0.0, 0.0, T.isoformat(), 44.0)]


def bar(*factors: float) -> Bar:
    one = np.ones(len(factors))
    return Bar(T, one, one, one, one, np.array(factors))


def order(side: str, qty: float, limit: float | None = None) -> Order:
    kind = "limit" if limit else "market"
    return Order("c1", "AAPL", side, qty, T, 5.7, kind, limit)  # type: ignore[arg-type]


def test_orders_go_out_in_raw_shares_and_come_back_adjusted() -> None:
    inner = Held()
    u = RawUnits(inner, ["AAPL", "IBM"], whole=True)
    u.at(bar(0.0643, 1.0))
    u.submit_many([order("buy", 1000.0, limit=6.0)])
    raw = inner.sent[-1]
    assert raw.quantity == 64.0 and raw.limit_price == pytest.approx(6.0 / 0.0643)  # whole raw shares
    assert u.submit_many([order("buy", 7.0)])[0].outcome == Outcome.REJECTED  # 0.45 raw: none
    u.raw_held = {"AAPL": 30.0}
    u.submit_many([order("sell", 1000.0)])
    assert inner.sent[-1].quantity == 30.0  # never more than held (a dividend moved the factor)
    inner.held = {"AAPL": 64.0}
    assert u.positions() == {"AAPL": pytest.approx(64.0 / 0.0643)}
    fill = u.fills_since(0)[0]
    assert fill.quantity == pytest.approx(10.0 / 0.0643) and fill.price == pytest.approx(44.0 * 0.0643)
    assert fill.raw_price == 44.0 and fill.adj_factor == 0.0643
    assert u.raw_in_flight(lambda cid: cid == "mine") == {"AAPL": 6.0}
    assert u.raw_in_flight(lambda cid: False) == {}  # a person's order is not the session's


def test_a_split_is_told_from_a_dividend_and_its_shares_are_accepted() -> None:
    inner = Held()
    u = RawUnits(inner, ["AAPL", "IBM"], whole=True)
    u.raw_held = {"AAPL": 100.0, "IBM": 50.0}
    u.at(bar(0.1285, 0.995), bar(0.06425, 0.99))  # AAPL 2:1; IBM a dividend
    assert u.splits() == {"AAPL": pytest.approx(2.0)}
    assert u.corporate_actions({"AAPL": 200.0, "IBM": 50.0}) == [
        "AAPL: a 2:1 split: the broker holds 200 shares (was 100)"
    ]
    assert u.raw_held == {"AAPL": 200.0, "IBM": 50.0}
    u.raw_held = {"AAPL": 100.0}
    assert u.corporate_actions({"AAPL": 150.0}) == []  # not what the split explains: a difference
    assert u.raw_held == {"AAPL": 100.0}
