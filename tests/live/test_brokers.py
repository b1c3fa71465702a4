"""Sessions on real brokers, in process: a trained policy trades through Alpaca's stand-in (paper
endpoint, API keys) and Schwab's (a live account, confirmed, OAuth with a refresh on the way),
each through its real SDK, and ends with the broker's positions equal to the session's. The
stand-ins play the market: the test executes each order at the next bar's open (Alpaca's in two
parts), plus a few basis points, so the shadow's slippage is measured against a known price."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cryptography.fernet import Fernet
from pymongo.database import Database

from dashboards.state.live import GAP, LiveState
from dashboards.viewer import Viewer
from stockbot.data.providers.sample import sample_path
from stockbot.errors import ConfigError
from stockbot.live.control import start_session
from stockbot.live.folder import session_dir
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore
from stockbot.store.tokens import TokenStore
from tests.servers.alpaca_trading import OPEN, FakeAlpacaTrading, FakeTradeStream
from tests.servers.http import Response
from tests.servers.oauth import FakeOAuthProvider
from tests.servers.schwab_trading import WORKING, FakeSchwabTrading

pytestmark = pytest.mark.timeout(240)
CLOCK = {"kind": "replay", "start": "2017-04-03", "end": "2017-04-21"}
BPS = 4.0  # what the stand-in market's fills cost over the open


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    k = Fernet.generate_key()
    monkeypatch.setenv("STOCKBOT_CRYPT_KEY", k.decode())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return k


@pytest.fixture
def alpaca(key: bytes, live_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpacaTrading]:
    with FakeAlpacaTrading(keys={"kid-1": "ksecret-1"}) as server:
        monkeypatch.setenv("STOCKBOT_ALPACA_TRADING_URL", server.url)
        TokenStore(live_db, key).put("ada", "alpaca", "keys", {"key_id": "kid-1", "secret_key": "ksecret-1"})
        yield server
    end_sessions(live_db)
    TokenStore(live_db, key).delete("ada", "alpaca")


@pytest.fixture
def oauth(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOAuthProvider]:
    with FakeOAuthProvider("sb-app", "sb-app-secret", "https://127.0.0.1/cb") as provider:
        for field, value in {
            "client_id": "sb-app",
            "client_secret": "sb-app-secret",
            "redirect_url": "https://127.0.0.1/cb",
            "authorize_url": f"{provider.url}/authorize",
            "token_url": f"{provider.url}/token",
        }.items():
            monkeypatch.setenv(f"STOCKBOT_SCHWAB_{field.upper()}", value)
        yield provider


@pytest.fixture
def schwab(
    key: bytes, live_db: Database, oauth: FakeOAuthProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeSchwabTrading]:
    def valid(token: str) -> bool:
        return token in {b["access_token"] for b in oauth.issued}

    with FakeSchwabTrading(access_token="never-issued", bearer=valid) as server:
        server.follow_clock()
        monkeypatch.setenv("STOCKBOT_SCHWAB_API_URL", server.url)
        monkeypatch.setenv("STOCKBOT_BROKER_REHEARSAL", "1")
        yield server
    end_sessions(live_db)
    TokenStore(live_db, key).delete("ada", "schwab")


def end_sessions(db: Database) -> None:
    """Sessions run in process here never record an end: one account takes one session at a time."""
    LiveStore(db).sessions.update_many({"owner": "ada"}, {"$set": {"status": "stopped"}})


def connect_schwab(db: Database, key: bytes, oauth: FakeOAuthProvider, *, refreshable: bool = True) -> None:
    """Ada's Schwab login: its access token ends within a minute (the session must refresh it)."""
    if refreshable:
        oauth.refresh_tokens.add("rt-seed")
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)).isoformat()
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=6)).isoformat()
    secret = {"access_token": "at-old", "refresh_token": "rt-seed", "expires_at": soon}
    TokenStore(db, key).put(
        "ada", "schwab", "oauth", secret, paper=False, expires_at=soon, refresh_expires_at=later
    )


def session(db: Database, run: Path, **config: Any) -> LiveSession:
    raw = {"policy": {"path": str(run)}, "clock": CLOCK, **config}
    return LiveSession(LiveStore(db), start_session(raw, "ada", spawn=False)["_id"])


CSV = pd.read_csv(sample_path("dow29")).set_index(["date", "tic"])  # raw OHLC and adj_close
LEDGER: dict[str, list[tuple[str, float, str]]] = {}  # session -> what the market executed


def fill_price(s: LiveSession, symbol: str, side: str, qty: float = 0.0) -> float:
    """The stand-in market's price for ``qty`` raw shares: the next bar's raw open (a broker's
    price), BPS worse for the trader; the execution is written in the session's ledger."""
    day = s.times[s.k + 1].strftime("%Y-%m-%d")
    LEDGER.setdefault(s.id, []).append((symbol, qty if side == "buy" else -qty, day))
    return round(float(CSV.loc[(day, symbol), "open"]) * (1 + (BPS if side == "buy" else -BPS) / 1e4), 4)


def matches_broker(s: LiveSession, positions: dict[str, float]) -> None:
    """The broker's raw shares are the session's, and its adjusted positions are what the market
    executed, each execution's raw shares divided by that day's factor (adj_close / close)."""
    theirs = {k: v for k, v in positions.items() if v}
    assert theirs and theirs == pytest.approx({k: v for k, v in s.broker.raw_held.items() if v})  # type: ignore[attr-defined]
    want: dict[str, float] = {}
    for symbol, raw, day in LEDGER.get(s.id, []):
        row = CSV.loc[(day, symbol)]
        want[symbol] = want.get(symbol, 0.0) + raw / (row["adj_close"] / row["close"])
    if want:
        assert held(s) == pytest.approx({k: v for k, v in want.items() if abs(v) > 1e-9})


def play(s: LiveSession, execute: Any) -> None:
    """Every bar of the replay: the session's tick, then the market executes what it was sent."""
    for k in range(s.first, s.end + 1):
        s.tick(k)
        s.commit()
        if k < s.end:
            execute()


def check_slippage(db: Database, s: LiveSession) -> list[dict[str, Any]]:
    fills = list(db["fills"].find({"session_id": s.id}))
    assert fills
    for f in fills:  # the real fill against the shadow's simulated one, signed against the trader
        sign = 1.0 if f["side"] == "buy" else -1.0
        want = sign * (f["price"] - f["simulated_price"]) / f["simulated_price"] * 1e4
        assert f["slippage_bps"] == pytest.approx(want)
    return fills


def held(s: LiveSession) -> dict[str, float]:
    p = s.path.portfolio
    return {sym: float(q) for sym, q in zip(p.symbols, p.qty, strict=True) if q != 0.0}


@pytest.fixture
def trade_updates(alpaca: FakeAlpacaTrading, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTradeStream]:
    with FakeTradeStream(alpaca) as stream:
        stream.duplicates = True  # as Alpaca does, now and then
        monkeypatch.setenv("STOCKBOT_ALPACA_STREAM_URL", stream.url)
        yield stream


def test_a_session_trades_through_alpacas_paper_endpoint(
    live_db: Database, trained_run: Path, alpaca: FakeAlpacaTrading, trade_updates: FakeTradeStream
) -> None:
    s = session(live_db, trained_run, broker="alpaca")
    assert s.broker.name == "alpaca" and s.broker.paper
    assert s.broker.stream is not None  # type: ignore[attr-defined]

    def execute() -> None:  # each order in two parts: partial fills must sum exactly
        for o in [o for o in alpaca.orders.values() if o["status"] in OPEN]:
            qty = float(o["qty"])
            price = fill_price(s, o["symbol"], o["side"], qty)
            alpaca.execute(o["client_order_id"], qty / 2, price)
            alpaca.execute(o["client_order_id"], qty - qty / 2, price)

    assert s.r.execution.cash_buffer == 0.04  # Alpaca checks buys above the market price
    try:
        play(s, execute)
    finally:
        s.close()
    assert trade_updates.sent and trade_updates.logins >= 1  # the fills came by the stream too
    first = live_db["orders"].find({"session_id": s.id, "decision_time": s.times[s.first].isoformat()})
    spent = sum(o["quantity"] * o["reference_price"] for o in first if o["side"] == "buy")
    assert 0 < spent <= 0.96 * s.r.initial_cash + 1e-6
    matches_broker(s, alpaca.positions)
    assert s.reconcile_required is None
    ids = [o["client_order_id"] for o in alpaca.orders.values()]
    assert len(ids) == len(set(ids))
    assert {o["side"] for o in alpaca.orders.values()} == {"buy", "sell"}  # the policy's actions vary
    assert len({o["symbol"] for o in alpaca.orders.values()}) > 1
    fills = check_slippage(live_db, s)
    assert len(fills) == 2 * sum(1 for o in alpaca.orders.values() if o["status"] == "filled")
    bps = [f["slippage_bps"] for f in fills]
    assert np.mean(bps) == pytest.approx(BPS, abs=6.0) and len(set(np.round(bps, 6))) > 1

    # /live: the cumulative live-minus-shadow line, and each fill against its simulated price
    state = LiveState(Viewer("ada", False), s.id, store=LiveStore(live_db))
    assert state.badge() == "PAPER" and ("Broker", "alpaca · paper account") in state.status_items()
    folder = session_dir(s.id)
    equity, shadow = pd.read_csv(folder / "equity.csv"), pd.read_csv(folder / "shadow.csv")
    gap = equity["equity"].to_numpy() - shadow["equity"].to_numpy()
    np.testing.assert_allclose(state.curves[GAP].to_numpy(), gap)
    assert np.any(gap != 0.0)  # real fills differ from the simulated ones
    table = state.fills_table()
    assert len(table) == len(fills) and table["slippage vs model"].str.endswith("bps").all()


def test_a_session_trades_a_live_schwab_account_in_whole_shares(
    live_db: Database, trained_run: Path, schwab: FakeSchwabTrading, oauth: FakeOAuthProvider, key: bytes
) -> None:
    with pytest.raises(ConfigError, match="REAL MONEY"):
        session(live_db, trained_run, broker="schwab")
    with pytest.raises(ConfigError, match="has not connected schwab"):
        session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")
    connect_schwab(live_db, key, oauth)
    s = session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")
    assert LiveStore(live_db).get(s.id)["mode"] == "live"
    with pytest.raises(ConfigError, match="already trades your schwab live account"):
        session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")

    def execute() -> None:
        for o in [o for o in schwab.orders.values() if o["status"] in WORKING]:
            leg = o["orderLegCollection"][0]
            side = "buy" if leg["instruction"] == "BUY" else "sell"
            schwab.execute(
                o["orderId"], o["quantity"], fill_price(s, leg["instrument"]["symbol"], side, o["quantity"])
            )

    play(s, execute)
    # the login was refreshed once by the session (its token ended within a minute), and saved
    assert len(oauth.issued) == 1
    saved = TokenStore(live_db, key).secret("ada", "schwab")
    assert saved is not None and saved["access_token"] == oauth.issued[0]["access_token"]
    assert schwab.orders and all(float(o["quantity"]).is_integer() for o in schwab.orders.values())
    matches_broker(s, schwab.positions)
    assert s.reconcile_required is None
    check_slippage(live_db, s)
    # the login ends within two days: /live says so next to the session
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(hours=40)
    TokenStore(live_db, key).update_public("ada", "schwab", refresh_expires_at=ends.isoformat())
    live_db["live_sessions"].update_one({"_id": s.id}, {"$set": {"status": "running"}})
    items = dict(LiveState(Viewer("ada", False), s.id, store=LiveStore(live_db)).status_items())
    assert items["Login"] == f"the login expires {ends:%Y-%m-%d %H:%M} UTC: connect again before then"
    # the order ids survive the loop: a restarted loop finds every order it sent
    ids = list(live_db["broker_order_ids"].find({"session_id": s.id}))
    assert sorted(int(d["entry"]["order_id"]) for d in ids) == sorted(schwab.orders)


def test_a_session_whose_login_cannot_be_renewed_stops_and_says_why(
    live_db: Database, trained_run: Path, schwab: FakeSchwabTrading, oauth: FakeOAuthProvider, key: bytes
) -> None:
    connect_schwab(live_db, key, oauth, refreshable=False)  # the provider refuses its refresh token
    s = session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")
    assert s.run() == "failed"
    doc = LiveStore(live_db).get(s.id)
    assert "connect" in doc["reason"] and "trading stopped" in doc["reason"]
    assert not schwab.orders
    shown = TokenStore(live_db, key).public("ada", "schwab")
    assert shown is not None and shown["last_error"]


def test_a_replay_on_a_live_account_needs_a_rehearsal(
    live_db: Database,
    trained_run: Path,
    schwab: FakeSchwabTrading,
    oauth: FakeOAuthProvider,
    key: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STOCKBOT_BROKER_REHEARSAL")
    connect_schwab(live_db, key, oauth)
    with pytest.raises(ConfigError, match=r"clock\.kind: a replay would send past decisions") as e:
        session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")
    assert e.value.errors[0]["field"] == "clock.kind"
    with pytest.raises(ConfigError) as e:
        session(live_db, trained_run, broker="schwab", account="paper")
    assert e.value.errors[0]["field"] == "account"


def test_fills_a_broker_reports_late_or_twice_are_applied_once(
    live_db: Database, trained_run: Path, alpaca: FakeAlpacaTrading
) -> None:
    s = session(live_db, trained_run, broker="alpaca")
    for k in range(s.first, s.first + 2):
        s.tick(k)
        s.commit()
    opened = [o for o in alpaca.orders.values() if o["status"] in OPEN]
    assert opened
    for o in opened:
        qty = float(o["qty"])
        alpaca.execute(o["client_order_id"], qty, fill_price(s, o["symbol"], o["side"], qty))
    # the broker lists the executions in another order on the next read, one of them twice
    alpaca.activities[:] = alpaca.activities[::-1] + alpaca.activities[:1]
    s.tick(s.first + 2)
    s.commit()
    matches_broker(s, alpaca.positions)
    assert s.reconcile_required is None
    assert live_db["fills"].count_documents({"session_id": s.id}) == len(opened)
    # each execution known by its order and the order's filled quantity after it
    keys = {f"{a['order_id']}:{float(a['cum_qty'])!r}" for a in alpaca.activities}
    assert s.applied == keys and len(keys) == len(opened)


def test_a_loop_that_dies_between_schwabs_receipt_and_its_commit_sends_nothing_twice(
    live_db: Database, trained_run: Path, schwab: FakeSchwabTrading, oauth: FakeOAuthProvider, key: bytes
) -> None:
    connect_schwab(live_db, key, oauth)
    s = session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")

    def execute(at: LiveSession) -> None:  # the next open: Schwab fills what is working
        for o in [o for o in schwab.orders.values() if o["status"] in WORKING]:
            leg = o["orderLegCollection"][0]
            side = "buy" if leg["instruction"] == "BUY" else "sell"
            schwab.execute(
                o["orderId"], o["quantity"], fill_price(at, leg["instrument"]["symbol"], side, o["quantity"])
            )

    s.tick(s.first)
    s.commit()
    execute(s)
    schwab.place_without_location()  # the first order of the next bar has no receipt
    s.tick(s.first + 1)  # orders sent; the loop dies before its commit
    sent = dict(schwab.orders)
    again = LiveSession(LiveStore(live_db), s.id)  # the restarted loop redoes bar first + 1
    again.restore(LiveStore(live_db).get(s.id)["state"])
    again.tick(again.first + 1)
    again.commit()
    execute(again)
    again.tick(again.first + 2)
    again.commit()
    # every order at Schwab is one of the session's, each adopted by exactly one intent (the one
    # without a receipt found by searching), and the redo sent nothing for the bar it redid: the
    # orders it sent are all decisions of the bar after
    entries = {d["cid"]: d["entry"] for d in live_db["broker_order_ids"].find({"session_id": s.id})}
    adopted = [e["order_id"] for e in entries.values() if e.get("order_id") is not None]
    assert sorted(adopted) == sorted(schwab.orders) and len(adopted) == len(set(adopted))
    by_order = {e["order_id"]: cid for cid, e in entries.items() if e.get("order_id") is not None}
    journal = {d["_id"]: d for d in live_db["orders"].find({"session_id": s.id})}
    new = [by_order[k] for k in schwab.orders if k not in sent]
    assert new and {journal[c]["decision_time"] for c in new} == {again.times[again.first + 2].isoformat()}
    matches_broker(again, schwab.positions)
    assert again.reconcile_required is None


def test_an_order_schwab_cannot_tell_apart_stops_its_symbol_for_a_person(
    live_db: Database, trained_run: Path, schwab: FakeSchwabTrading, oauth: FakeOAuthProvider, key: bytes
) -> None:
    connect_schwab(live_db, key, oauth)
    s = session(live_db, trained_run, broker="schwab", confirm="REAL MONEY")
    s.tick(s.first)
    s.commit()
    assert schwab.orders
    order_id, placed = next(iter(schwab.orders.items()))
    # someone entered the very same order by hand, and our receipt of it is lost
    twin = 9999
    schwab.orders[twin] = {**placed, "orderId": twin}
    ids = live_db["broker_order_ids"]
    ids.update_one({"session_id": s.id, "entry.order_id": order_id}, {"$set": {"entry.order_id": None}})
    again = LiveSession(LiveStore(live_db), s.id)
    again.restore(LiveStore(live_db).get(s.id)["state"])
    before = len(schwab.orders)
    again.tick(again.first + 1)
    again.commit()
    symbol = placed["orderLegCollection"][0]["instrument"]["symbol"]
    assert again.reconcile_required and symbol in again.reconcile_required
    assert len(schwab.orders) == before  # nothing more is sent until a person reconciles
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    assert any("reconcile required" in m and "a person must say which" in m for m in events)


def test_a_stream_that_falls_silent_is_caught_up_by_the_accounts_record(
    live_db: Database, trained_run: Path, alpaca: FakeAlpacaTrading, trade_updates: FakeTradeStream
) -> None:
    s = session(live_db, trained_run, broker="alpaca")
    trade_updates.mute = True  # connected, and no event ever arrives
    try:
        for k in range(s.first, s.first + 5):
            for o in [o for o in alpaca.orders.values() if o["status"] in OPEN]:  # the open of bar k
                qty = float(o["qty"])
                alpaca.execute(o["client_order_id"], qty, fill_price(s, o["symbol"], o["side"], qty))
            s.tick(k)
            s.commit()
    finally:
        s.close()
    assert s.reconcile_required is None  # the positions it did not hear of came from the activities
    matches_broker(s, alpaca.positions)
    assert live_db["fills"].count_documents({"session_id": s.id}) == len(alpaca.activities)


def test_an_execution_reported_after_a_later_one_of_its_order_adds_nothing(
    live_db: Database, trained_run: Path, alpaca: FakeAlpacaTrading, trade_updates: FakeTradeStream
) -> None:
    s = session(live_db, trained_run, broker="alpaca")
    try:
        s.tick(s.first)
        s.commit()
        opened = [o for o in alpaca.orders.values() if o["status"] in OPEN]
        assert opened
        first, rest = opened[0], opened[1:]
        qty = float(first["qty"])
        deadline = time.monotonic() + 20
        while trade_updates.connected() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        s.broker.inner.fills_since(0)  # type: ignore[attr-defined]  # its connection's backfill is read
        trade_updates.mute = True  # the first part of the first order never comes by the stream
        alpaca.execute(
            first["client_order_id"], qty / 2, fill_price(s, first["symbol"], first["side"], qty / 2)
        )
        trade_updates.mute = False
        alpaca.execute(
            first["client_order_id"], qty / 2, fill_price(s, first["symbol"], first["side"], qty / 2)
        )
        for o in rest:
            q = float(o["qty"])
            alpaca.execute(o["client_order_id"], q, fill_price(s, o["symbol"], o["side"], q))
        deadline = time.monotonic() + 10
        while len(trade_updates.sent) < len(alpaca.activities) and time.monotonic() < deadline:
            time.sleep(0.05)
        s.tick(s.first + 1)  # the order's whole quantity, from the stream's later event
        s.commit()
        s.broker.resync()  # type: ignore[attr-defined]  # the activities: the earlier part comes late
        s.tick(s.first + 2)
        s.commit()
    finally:
        s.close()
    assert s.reconcile_required is None
    mine = [
        f
        for f in live_db["fills"].find({"session_id": s.id})
        if f["client_order_id"] == first["client_order_id"]
    ]
    assert sum(f["quantity"] * f["adj_factor"] for f in mine) == pytest.approx(qty)  # raw shares, once
    matches_broker(s, alpaca.positions)


def test_a_broker_that_cannot_answer_makes_the_loop_wait_and_redo_its_bar(
    live_db: Database, trained_run: Path, alpaca: FakeAlpacaTrading
) -> None:
    from stockbot.live.session import TEMPFAIL

    s = session(live_db, trained_run, broker="alpaca")
    s.tick(s.first)
    s.commit()
    saved = LiveStore(live_db).get(s.id)["state"]
    naps: list[float] = []
    s.sleep = naps.append  # type: ignore[method-assign]
    alpaca.script(
        "GET", "/v2/positions", Response.json({"code": 50300000, "message": "down"}, status=503), times=None
    )
    with pytest.raises(SystemExit) as e:
        s.run()
    assert e.value.code == TEMPFAIL and naps == [30.0]
    doc = LiveStore(live_db).get(s.id)
    assert doc["state"] == saved  # nothing of the cut-off bar was committed
    assert any("could not answer" in m["message"] for m in doc["events"])
