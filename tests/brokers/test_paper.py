"""The paper broker: idempotent submits, fills at the next bar's open, DAY expiry, its own account."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pymongo.database import Database

from stockbot.brokers.base import Outcome
from stockbot.brokers.paper import PaperBroker
from stockbot.config import CostConfig
from stockbot.errors import ConfigError
from stockbot.execution import Bar, Order

pytestmark = pytest.mark.timeout(60)
T0 = pd.Timestamp("2017-04-03", tz="UTC")


def bar(day: int, open_: list[float], low: list[float] | None = None) -> Bar:
    o = np.array(open_)
    lo = np.array(low) if low is not None else o * 0.99
    return Bar(T0 + pd.Timedelta(days=day), o, o * 1.01, lo, o, np.ones(len(o)))


def order(cid: str, symbol: str, side: str, qty: float, limit: float | None = None) -> Order:
    return Order(cid, symbol, side, qty, T0, 100.0, "limit" if limit else "market", limit)  # type: ignore[arg-type]


@pytest.fixture
def broker(live_db: Database, request: pytest.FixtureRequest) -> PaperBroker:
    costs = CostConfig(commission_bps=10, slippage_bps=0)
    return PaperBroker(live_db, f"acct-{request.node.name}", ["A", "B"], costs=costs, initial_cash=10_000)


def test_a_repeated_submit_is_the_same_order(broker: PaperBroker) -> None:
    first = broker.submit(order("x1", "A", "buy", 10))
    again = broker.submit(order("x1", "A", "buy", 10))
    assert first.outcome == again.outcome == Outcome.ACCEPTED and again.duplicate
    assert len(broker.open_orders()) == 1
    broker.on_bar(bar(1, [100.0, 50.0]))
    broker.on_bar(bar(1, [100.0, 50.0]))  # the same bar again fills nothing
    fills = broker.fills_since(0)
    assert [(f.symbol, f.quantity, f.price) for f in fills] == [("A", 10.0, 100.0)]
    assert fills[0].fee == pytest.approx(10 * 100.0 * 10 / 1e4)
    assert broker.positions() == {"A": 10.0}
    assert broker.account().cash == pytest.approx(10_000 - 1000 - 1.0)
    assert broker.submit(order("x1", "A", "buy", 10)).duplicate  # filled: still not a new order
    broker.on_bar(bar(2, [100.0, 50.0]))
    assert broker.positions() == {"A": 10.0}
    assert broker.lookup("x1").status == "filled"  # type: ignore[union-attr]


def test_a_limit_not_reached_expires_at_the_end_of_its_bar(broker: PaperBroker) -> None:
    broker.submit(order("l1", "B", "buy", 5, limit=40.0))
    broker.on_bar(bar(1, [100.0, 50.0], low=[99.0, 45.0]))
    assert broker.fills_since(0) == [] and broker.open_orders() == []
    assert broker.lookup("l1").status == "expired"  # type: ignore[union-attr]


def test_bad_orders_are_rejected_with_the_reason(broker: PaperBroker) -> None:
    res = broker.submit(order("z1", "ZZZ", "buy", 1))
    assert res.outcome == Outcome.REJECTED and "ZZZ is not tradable" in (res.message or "")
    assert broker.cancel("never-sent") is False


def test_fill_at_the_close_is_refused(live_db: Database) -> None:
    with pytest.raises(ConfigError, match="next bar's open"):
        PaperBroker(live_db, "acct-close", ["A"], costs=CostConfig(fill="close"), initial_cash=1)


def test_a_batch_submit_answers_each_order_and_a_batch_lookup_finds_them(broker: PaperBroker) -> None:
    broker.submit(order("b0", "A", "buy", 2))
    batch = [order("b0", "A", "buy", 2), order("b1", "B", "buy", 3), order("b2", "ZZZ", "buy", 1)]
    results = broker.submit_many([*batch, order("b3", "A", "sell", 1)])
    assert [(r.client_order_id, r.outcome, r.duplicate) for r in results] == [
        ("b0", Outcome.ACCEPTED, True),
        ("b1", Outcome.ACCEPTED, False),
        ("b2", Outcome.REJECTED, False),
        ("b3", Outcome.REJECTED, False),
    ]
    assert "already has an open order (b0)" in (results[3].message or "")
    assert sorted(o.client_order_id for o in broker.open_orders()) == ["b0", "b1"]
    assert broker.submit_many([order("b1", "B", "buy", 3)])[0].duplicate  # again: no new order
    assert len(broker.open_orders()) == 2
    broker.on_bar(bar(1, [100.0, 50.0]))
    found = broker.lookup_many(["b0", "b1", "b2", "b3", "never-sent"])
    assert {k: v.status for k, v in found.items()} == {
        "b0": "filled",
        "b1": "filled",
        "b2": "rejected",
        "b3": "rejected",
    }
    assert broker.positions() == {"A": 2.0, "B": 3.0}
