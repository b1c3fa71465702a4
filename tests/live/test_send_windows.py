"""Send windows on the exchange's clock: a session's orders decided after a close go out when its
broker takes them for the next open. Alpaca's market-on-open (``opg``) orders only between 19:00
and 09:28 New York time (the stand-in refuses them otherwise, as Alpaca does), its fractional
orders and every Schwab order as DAY orders at the open. The clock moves in five-minute steps over
a week of April 2017 and stops on Friday evening, before Friday's orders could go out. The feed is
the Alpaca data stand-in of ``test_market``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from pymongo.database import Database

from dashboards.state.live import LiveState
from dashboards.viewer import Viewer
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore
from tests.live.test_brokers import connect_schwab, end_sessions, key, oauth  # noqa: F401
from tests.live.test_market import ExchangeTime, alpaca, feed, market_session  # noqa: F401
from tests.servers.alpaca import FakeAlpaca
from tests.servers.alpaca_trading import FakeAlpacaTrading
from tests.servers.oauth import FakeOAuthProvider
from tests.servers.schwab_trading import FakeSchwabTrading

pytestmark = pytest.mark.timeout(300)
NEW_YORK = ZoneInfo("America/New_York")
STEP = pd.Timedelta(minutes=5)


def next_open_price(csv: pd.DataFrame, symbol: str, at: dt.datetime) -> float:
    """The open of the first session after ``at`` (New York time; sends are before 09:45)."""
    day = (pd.Timestamp(at).tz_convert(NEW_YORK) - pd.Timedelta(hours=9, minutes=45)).date().isoformat()
    rows = csv[(csv["tic"] == symbol) & (csv["date"] > day)].sort_values("date")
    return float(rows["open"].iloc[0])


def market(
    db: Database, run: Path, feed_server: FakeAlpaca, csv: pd.DataFrame, **config: Any
) -> tuple[LiveSession, ExchangeTime]:
    """Ada's market-clock session on a broker, in five-minute steps, stopped on Friday evening."""
    return market_session(
        db, run, feed_server, csv, "2017-04-07 22:00", owner="ada", step=STEP, config=config
    )


@pytest.fixture
def trading(key: bytes, live_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpacaTrading]:  # noqa: F811
    from stockbot.store.tokens import TokenStore

    with FakeAlpacaTrading(keys={"kid-2": "ksecret-2"}) as server:
        monkeypatch.setenv("STOCKBOT_ALPACA_TRADING_URL", server.url)
        TokenStore(live_db, key).put("ada", "alpaca", "keys", {"key_id": "kid-2", "secret_key": "ksecret-2"})
        yield server
    end_sessions(live_db)


def held(s: LiveSession) -> dict[str, float]:
    """The raw shares the session's fills hold (at the broker, raw shares)."""
    return {sym: q for sym, q in s.broker.raw_held.items() if q}  # type: ignore[attr-defined]


@pytest.mark.parametrize("fractional", [False, True], ids=["whole-opg", "fractional-day"])
def test_alpaca_orders_go_out_only_when_alpaca_takes_them(
    live_db: Database,
    trained_run: Path,
    alpaca: FakeAlpaca,  # noqa: F811
    feed: tuple[FakeAlpaca, pd.DataFrame],  # noqa: F811
    trading: FakeAlpacaTrading,
    fractional: bool,
) -> None:
    _, csv = feed
    s, clock = market(
        live_db, trained_run, alpaca, csv, broker="alpaca", execution={"fractional_shares": fractional}
    )
    trading.clock = lambda: clock.t.to_pydatetime()  # noqa: PLW0108 (t moves)
    trading.fill_price = lambda o: next_open_price(csv, o["symbol"], clock.t)
    assert s.run() == "stopped"
    assert trading.received and not trading.refused, [
        (r["why"], r["at"], r["qty"], r["time_in_force"]) for r in trading.refused
    ]
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    assert "note: decisions read alpaca bars; the policy was trained on sample bars" in events
    assert any(m.startswith("note: 4% of equity kept in cash") for m in events)
    state = LiveState(Viewer("ada", False), s.id, store=LiveStore(live_db))
    data = dict(state.status_items())["Data"]
    assert data.endswith("from alpaca (the policy was trained on sample bars: they may differ)")
    for o in trading.received:
        local = pd.Timestamp(o["at"]).tz_convert(NEW_YORK)
        if o["time_in_force"] == "opg":
            assert not dt.time(9, 28) <= local.time() < dt.time(19, 0), o
        else:  # a DAY order at the open, within its first quarter hour
            assert o["time_in_force"] == "day" and dt.time(9, 30) <= local.time() < dt.time(9, 45), o
    kinds = {o["time_in_force"] for o in trading.received}
    assert kinds == ({"day"} if fractional else {"opg"}) or (fractional and "day" in kinds)
    if not fractional:
        assert all(float(o["qty"]).is_integer() for o in trading.received)
    else:
        assert any(not float(o["qty"]).is_integer() for o in trading.received)
    # several days traded, and what the session holds is what the account holds
    assert len({pd.Timestamp(o["at"]).tz_convert(NEW_YORK).date() for o in trading.received}) >= 3
    assert {k: v for k, v in trading.positions.items() if v} == pytest.approx(held(s))


def test_schwab_orders_go_out_at_the_open(
    live_db: Database,
    trained_run: Path,
    alpaca: FakeAlpaca,  # noqa: F811
    feed: tuple[FakeAlpaca, pd.DataFrame],  # noqa: F811
    oauth: FakeOAuthProvider,  # noqa: F811
    key: bytes,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, csv = feed

    def valid(token: str) -> bool:
        return token in {b["access_token"] for b in oauth.issued}

    with FakeSchwabTrading(access_token="never-issued", bearer=valid) as schwab:
        monkeypatch.setenv("STOCKBOT_SCHWAB_API_URL", schwab.url)
        connect_schwab(live_db, key, oauth)
        s, clock = market(live_db, trained_run, alpaca, csv, broker="schwab", confirm="REAL MONEY")
        schwab.follow_clock(lambda: clock.t.to_pydatetime())  # noqa: PLW0108 (t moves)

        def fill(o: dict[str, Any]) -> float:
            return next_open_price(csv, o["orderLegCollection"][0]["instrument"]["symbol"], clock.t)

        schwab.fill_price = fill
        try:
            assert s.run() == "stopped"
        finally:
            end_sessions(live_db)
        assert schwab.orders
        for o in schwab.orders.values():
            local = pd.Timestamp(o["enteredTime"]).tz_convert(NEW_YORK)
            assert dt.time(9, 30) <= local.time() < dt.time(9, 45), o
            assert o["orderType"] == "MARKET" and o["duration"] == "DAY"
        assert len({o["enteredTime"][:10] for o in schwab.orders.values()}) >= 3
        assert {k: v for k, v in schwab.positions.items() if v} == pytest.approx(held(s))
