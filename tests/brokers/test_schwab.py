"""The Schwab broker through schwab-py's real client against the local stand-in of Schwab's trader
API: the order id from the ``Location`` header, and with no receipt (none sent, or a 5xx after the
order went in) the one matching order adopted, never a second order; several matches need a person;
partial fills sum exactly; cancels; whole shares only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from stockbot.brokers.base import AuthExpiredError, Outcome
from stockbot.brokers.schwab import AmbiguousOrderError, SchwabBroker
from stockbot.execution import Order
from tests.servers.schwab import schwab_client
from tests.servers.schwab_trading import ACCOUNT_HASH, ORDERS, FakeSchwabTrading

pytestmark = pytest.mark.timeout(60)
T0 = pd.Timestamp("2017-04-03", tz="UTC")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSchwabTrading]:
    with FakeSchwabTrading(cash=10_000.0) as s:
        yield s


@pytest.fixture
def schwab(server: FakeSchwabTrading) -> FakeSchwabTrading:
    server.reset()
    return server


def broker(server: FakeSchwabTrading, ids: dict[str, Any] | None = None, **kwargs: Any) -> SchwabBroker:
    client = schwab_client(server, **kwargs)  # type: ignore[arg-type]
    return SchwabBroker(client, ids={} if ids is None else ids, now=lambda: server.now)


def order(
    cid: str, symbol: str = "KO", side: str = "buy", qty: float = 10, limit: float | None = None
) -> Order:
    kind = "limit" if limit else "market"
    return Order(cid, symbol, side, qty, T0, 42.0, kind, limit)  # type: ignore[arg-type]


def test_an_order_is_placed_and_known_by_the_id_in_its_location(schwab: FakeSchwabTrading) -> None:
    b = broker(schwab)
    assert b.account_hash == ACCOUNT_HASH
    res = b.submit(order("s-KO-d0", limit=41.127))
    assert res.outcome == Outcome.ACCEPTED and res.broker_order_id == "1001"
    placed = schwab.orders[1001]
    assert placed["orderType"] == "LIMIT" and placed["price"] == "41.13" and placed["duration"] == "DAY"
    assert placed["orderLegCollection"][0]["instruction"] == "BUY" and placed["quantity"] == 10.0
    found = b.lookup("s-KO-d0")
    assert found is not None and found.status == "accepted" and found.broker_order_id == "1001"
    assert b.lookup("never-sent") is None
    assert [o.client_order_id for o in b.open_orders()] == ["s-KO-d0"]


@pytest.mark.parametrize("fault", ["no-location", "502"])
def test_with_no_receipt_the_one_matching_order_is_adopted_and_nothing_is_sent_again(
    schwab: FakeSchwabTrading, fault: str
) -> None:
    ids: dict[str, Any] = {}
    b = broker(schwab, ids)
    schwab.place_without_location() if fault == "no-location" else schwab.place_then_fail()
    res = b.submit(order("doubt"))
    assert res.outcome == Outcome.UNKNOWN
    assert ids["doubt"]["order_id"] is None  # journaled before it went out, no receipt
    found = b.lookup("doubt")
    assert found is not None and found.broker_order_id == "1001" and ids["doubt"]["order_id"] == 1001
    again = b.submit(order("doubt"))  # a redone bar: the same intent
    assert again.outcome == Outcome.ACCEPTED and again.duplicate
    restarted = broker(schwab, ids)  # a new process with the same ids
    assert restarted.lookup("doubt").broker_order_id == "1001"  # type: ignore[union-attr]
    assert len(schwab.requests_to(ORDERS, "POST")) == 1 and len(schwab.orders) == 1


def test_an_order_adopted_is_not_taken_twice_and_several_matches_need_a_person(
    schwab: FakeSchwabTrading,
) -> None:
    b = broker(schwab)
    assert b.submit(order("twin-1")).broker_order_id == "1001"  # with its receipt
    schwab.place_without_location()
    b.submit(order("twin-2"))  # the same order again (another bar), no receipt
    assert b.lookup("twin-2").broker_order_id == "1002"  # type: ignore[union-attr]  # 1001 is twin-1's
    # an order placed elsewhere (the app, a person) that looks the same as one in doubt
    schwab_client(schwab).place_order(ACCOUNT_HASH, b._spec(order("x", symbol="XOM")))  # type: ignore[arg-type]
    schwab.place_without_location()
    b.submit(order("lost", symbol="XOM"))
    with pytest.raises(AmbiguousOrderError, match="a person must say which") as err:
        b.lookup("lost")
    assert err.value.symbol == "XOM"
    assert b.ids["lost"]["order_id"] is None  # nothing adopted


def test_partial_fills_sum_exactly_and_move_the_account(schwab: FakeSchwabTrading) -> None:
    b = broker(schwab)
    b.submit(order("p1", qty=10))
    b.submit(order("p2", symbol="XOM", side="buy", qty=4))
    schwab.execute(1001, 3, 42.0)
    schwab.execute(1002, 4, 80.0)
    schwab.execute(1001, 7, 42.5)
    fills = b.fills_since(0)
    assert [(f.client_order_id, f.quantity, f.price, f.cursor) for f in fills] == [
        ("p1", 3.0, 42.0, 1),
        ("p2", 4.0, 80.0, 2),
        ("p1", 7.0, 42.5, 3),
    ]
    assert [f.fill_id for f in b.fills_since(2)] == [fills[2].fill_id]
    assert b.lookup("p1").status == "filled" and b.lookup("p1").filled_quantity == 10.0  # type: ignore[union-attr]
    assert b.positions() == {"KO": 10.0, "XOM": 4.0}
    assert b.account().cash == pytest.approx(10_000 - 3 * 42.0 - 7 * 42.5 - 4 * 80.0)
    assert b.open_orders() == []


def test_cancels_whole_shares_and_expired_logins(schwab: FakeSchwabTrading) -> None:
    b = broker(schwab)
    b.submit(order("c1"))
    b.submit(order("c2", symbol="XOM"))
    schwab.execute(1002, 10, 80.0)
    assert b.cancel("c1") is True and b.lookup("c1").status == "cancelled"  # type: ignore[union-attr]
    assert b.cancel("c2") is False and b.lookup("c2").status == "filled"  # type: ignore[union-attr]
    res = b.submit(order("frac", qty=2.5))
    assert res.outcome == Outcome.REJECTED and "whole shares" in (res.message or "")
    assert "frac" not in b.ids and len(schwab.orders) == 2  # nothing went out
    with pytest.raises(AuthExpiredError, match="connect the account again"):
        SchwabBroker(schwab_client(schwab, access_token="expired"), ids={}, now=lambda: schwab.now)  # type: ignore[arg-type]


def test_the_search_window_starts_when_the_order_was_sent(schwab: FakeSchwabTrading) -> None:
    """An identical order entered well before this one was sent is not it."""
    b = broker(schwab)
    schwab_client(schwab).place_order(ACCOUNT_HASH, b._spec(order("old")))  # type: ignore[arg-type]
    schwab.now += dt.timedelta(minutes=5)
    schwab.place_without_location()
    b.submit(order("new"))
    assert b.lookup("new").broker_order_id == "1002"  # type: ignore[union-attr]


def test_a_refused_order_is_never_adopted_later(schwab: FakeSchwabTrading) -> None:
    """Schwab said no: an identical order that appears afterwards (placed elsewhere) is not it."""
    from tests.servers.schwab_trading import error

    b = broker(schwab)
    schwab.script("POST", ORDERS, error(400, "insufficient funds"))
    res = b.submit(order("no"))
    assert res.outcome == Outcome.REJECTED and "insufficient funds" in (res.message or "")
    schwab_client(schwab).place_order(ACCOUNT_HASH, b._spec(order("x")))  # type: ignore[arg-type]
    assert b.lookup("no") is None and b.ids["no"]["order_id"] is None
