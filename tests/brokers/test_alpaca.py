"""The Alpaca broker through alpaca-py's real ``TradingClient`` against the local stand-in of
Alpaca's trading API: orders with our client ids, the hazards that would double an order (a
duplicate id, a 504 after the order went in, a hung socket), rejects with the broker's code,
partial fills summing exactly, cancels, positions and the account."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pandas as pd
import pytest

from stockbot.brokers.alpaca import AlpacaBroker
from stockbot.brokers.base import AuthExpiredError, Outcome, RejectedError, TemporaryError
from stockbot.execution import Order
from tests.servers.alpaca_trading import BY_CLIENT_ID, ORDERS, FakeAlpacaTrading, error
from tests.servers.http import Request, Response

pytestmark = pytest.mark.timeout(60)
T0 = pd.Timestamp("2017-04-03", tz="UTC")


@pytest.fixture(scope="module")
def server() -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading(cash=10_000.0) as s:
        yield s


@pytest.fixture
def alpaca(server: FakeAlpacaTrading, monkeypatch: pytest.MonkeyPatch) -> FakeAlpacaTrading:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server.reset()
    return server


def broker(server: FakeAlpacaTrading, **kwargs: object) -> AlpacaBroker:
    kwargs.setdefault("api_key", "k")
    kwargs.setdefault("secret_key", "s")
    return AlpacaBroker(url_override=server.url, **kwargs)  # type: ignore[arg-type]


def order(
    cid: str, symbol: str = "KO", side: str = "buy", qty: float = 10, limit: float | None = None
) -> Order:
    kind = "limit" if limit else "market"
    return Order(cid, symbol, side, qty, T0, 42.0, kind, limit)  # type: ignore[arg-type]


def test_an_order_goes_out_once_with_our_client_id(alpaca: FakeAlpacaTrading) -> None:
    b = broker(alpaca)
    res = b.submit(order("s1-a-KO-d0", limit=41.123))
    assert res.outcome == Outcome.ACCEPTED and res.broker_order_id
    placed = alpaca.by_client_id("s1-a-KO-d0")
    assert placed is not None and placed["type"] == "limit" and placed["time_in_force"] == "day"
    assert placed["limit_price"] == "41.12" and float(placed["qty"]) == 10 and placed["side"] == "buy"
    found = b.lookup("s1-a-KO-d0")
    assert found is not None and found.status == "accepted" and found.quantity == 10.0
    assert b.lookup("never-sent") is None
    assert [o.client_order_id for o in b.open_orders()] == ["s1-a-KO-d0"]


def test_a_second_submit_of_an_id_is_in_doubt_and_the_lookup_finds_the_one_order(
    alpaca: FakeAlpacaTrading,
) -> None:
    b = broker(alpaca)
    assert b.submit(order("dup")).outcome == Outcome.ACCEPTED
    again = b.submit(order("dup"))
    assert again.outcome == Outcome.UNKNOWN and again.duplicate
    assert b.lookup_many(["dup"])["dup"].status == "accepted"
    assert len(alpaca.orders) == 1


def test_a_504_after_the_order_went_in_is_not_retried(alpaca: FakeAlpacaTrading) -> None:
    """alpaca-py retries 504 three times by itself, POST included; here the order is taken, the
    answer lost, and exactly one request was sent: the lookup finds the order."""
    b = broker(alpaca)
    alpaca.accept_then_fail()
    res = b.submit(order("gw"))
    assert res.outcome == Outcome.UNKNOWN and "504" in (res.message or "")
    assert len(alpaca.requests_to(ORDERS, "POST")) == 1
    assert b.lookup("gw") is not None and len(alpaca.orders) == 1


def test_a_hung_socket_is_an_unknown_outcome_not_a_hung_loop(alpaca: FakeAlpacaTrading) -> None:
    def slow(req: Request) -> Response:
        time.sleep(2.0)
        return error(500, 50000000, "too late")

    alpaca.script("POST", ORDERS, slow)
    b = broker(alpaca, timeout=0.3)
    t0 = time.monotonic()
    res = b.submit(order("slow"))
    assert res.outcome == Outcome.UNKNOWN and time.monotonic() - t0 < 1.5
    alpaca.script("GET", BY_CLIENT_ID, slow)
    with pytest.raises(TemporaryError, match="did not answer"):
        b.lookup("slow")


def test_rejects_carry_the_brokers_code_and_auth_failures_ask_to_reconnect(alpaca: FakeAlpacaTrading) -> None:
    b = broker(alpaca)
    alpaca.script("POST", ORDERS, error(403, 40310000, "insufficient buying power"))
    res = b.submit(order("poor"))
    assert res.outcome == Outcome.REJECTED and "insufficient buying power" in (res.message or "")
    assert "40310000" in (res.message or "")
    alpaca.script("GET", BY_CLIENT_ID, error(429, 42910000, "rate limit exceeded"))
    with pytest.raises(TemporaryError, match="429"):
        b.lookup("poor")
    with pytest.raises(AuthExpiredError, match="connect the account again"):
        broker(alpaca, secret_key="wrong").account()
    alpaca.script("GET", "/v2/account", error(403, 40310000, "account is blocked"))
    with pytest.raises(RejectedError, match="account is blocked"):  # a 403 is a refusal, not a login
        b.account()


def test_partial_fills_sum_exactly_and_move_the_account(alpaca: FakeAlpacaTrading) -> None:
    b = broker(alpaca)
    b.submit(order("p1", qty=10))
    b.submit(order("p2", symbol="XOM", qty=4))
    alpaca.execute("p1", 3, 42.0)
    alpaca.execute("p2", 4, 80.0)
    alpaca.execute("p1", 7, 42.5)
    fills = b.fills_since(0)
    assert [(f.client_order_id, f.quantity, f.price, f.cursor) for f in fills] == [
        ("p1", 3.0, 42.0, 1),
        ("p2", 4.0, 80.0, 2),
        ("p1", 7.0, 42.5, 3),
    ]
    assert sum(f.quantity for f in fills if f.client_order_id == "p1") == 10.0
    assert [f.fill_id for f in b.fills_since(2)] == [fills[2].fill_id]  # after the cursor only
    fresh = broker(alpaca)  # a restarted loop maps Alpaca's order ids back to ours
    assert [f.client_order_id for f in fresh.fills_since(0)] == ["p1", "p2", "p1"]
    assert b.lookup("p1").status == "filled" and b.lookup("p1").filled_quantity == 10.0  # type: ignore[union-attr]
    assert b.positions() == {"KO": 10.0, "XOM": 4.0}
    account = b.account()
    assert account.cash == pytest.approx(10_000 - 3 * 42.0 - 7 * 42.5 - 4 * 80.0)
    assert b.open_orders() == []


def test_a_cancel_ends_an_open_order_and_leaves_a_filled_one(alpaca: FakeAlpacaTrading) -> None:
    b = broker(alpaca)
    b.submit(order("c1"))
    b.submit(order("c2", symbol="XOM"))
    alpaca.execute("c2", 10, 80.0)
    assert b.cancel("c1") is True and b.lookup("c1").status == "cancelled"  # type: ignore[union-attr]
    assert b.cancel("c2") is False and b.lookup("c2").status == "filled"  # type: ignore[union-attr]
    assert b.cancel("never-sent") is False


def _until(check: object, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting: {what}"
        time.sleep(0.05)


def test_fills_come_from_the_stream_and_the_activities_fill_in_what_a_drop_missed(
    alpaca: FakeAlpacaTrading,
) -> None:
    from stockbot.brokers.alpaca_stream import FillStream
    from tests.servers.alpaca_trading import FILLS, FakeTradeStream

    with FakeTradeStream(alpaca) as stream:
        b = broker(alpaca, stream=FillStream(api_key="k", secret_key="s", url_override=stream.url))
        try:
            _until(lambda: stream.connected() == 1, "the stream's login")
            assert b.fills_since(0) == []  # the backfill at the start: nothing yet
            assert b.submit(order("s1", qty=10)).outcome == Outcome.ACCEPTED
            stream.duplicates = True  # Alpaca sends events twice
            alpaca.execute("s1", 4, 42.0)
            _until(lambda: len(b.fills_since(0)) == 1, "the partial fill from the stream")
            reads = len(alpaca.requests_to(FILLS))
            first = b.fills_since(0)
            assert [(f.quantity, f.price) for f in first] == [(4.0, 42.0)]
            assert len(alpaca.requests_to(FILLS)) == reads  # a healthy stream: no activities read

            stream.drop(down=True)  # mid-fill: the rest fills while the stream is away
            _until(lambda: stream.connected() == 0, "the drop")
            alpaca.execute("s1", 6, 42.5)
            assert [f.quantity for f in b.fills_since(0)] == [4.0]  # not seen yet
            stream.up()
            _until(lambda: stream.logins == 2, "the reconnect", timeout=40)
            fills = b.fills_since(0)  # the reconnect's backfill reads the activities once
            assert [(f.quantity, f.price) for f in fills] == [(4.0, 42.0), (6.0, 42.5)]
            assert sum(f.quantity for f in fills) == 10.0 and len({f.fill_id for f in fills}) == 2
            assert fills[0].fill_id == first[0].fill_id  # the same execution keeps its id
            assert len(alpaca.requests_to(FILLS)) == reads + 1
            assert b.fills_since(1) == fills[1:]

            # an event lost on a live connection: a session that finds the account ahead of it
            # asks for the record again (resync), and the activities have it
            stream.mute = True
            assert b.submit(order("s2", symbol="XOM", qty=3)).outcome == Outcome.ACCEPTED
            alpaca.execute("s2", 3, 70.0)
            assert len(b.fills_since(0)) == 2
            b.resync()
            assert [(f.client_order_id, f.quantity) for f in b.fills_since(2)] == [("s2", 3.0)]
        finally:
            b.close()
