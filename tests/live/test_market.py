"""A session on the exchange's clock, with today's bars from a feed (alpaca-py's client against the
local Alpaca stand-in) and a simulated clock: each bar appears in the feed only after its session
closes. It trades exactly as a backtest of the same bars, a Friday's orders fill on Monday and the
Good Friday holiday is skipped; a bar that comes late is reported stale, and when it comes after the
next open its decision is skipped and nothing is sent for it; the bundled data cannot drive it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from pymongo.database import Database

from stockbot.backtest.report import write_backtest
from stockbot.backtest.runner import run_backtest
from stockbot.config import BacktestConfig, validate_config
from stockbot.errors import ConfigError
from stockbot.live.control import start_session
from stockbot.live.folder import session_dir
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore
from tests.servers.alpaca import FakeAlpaca

pytestmark = pytest.mark.timeout(300)

CLOSE_UTC = dt.time(20, 0)  # 16:00 New York in April (EDT)
PUBLISHED_AFTER = pd.Timedelta(minutes=5)  # the feed has a session's bar 5 minutes after its close


@pytest.fixture(scope="module")
def feed(sample_csv: Path) -> Iterator[tuple[FakeAlpaca, pd.DataFrame]]:
    csv = pd.read_csv(sample_csv)
    with FakeAlpaca(csv, page_size=5000) as server:
        yield server, csv


@pytest.fixture
def alpaca(feed: tuple[FakeAlpaca, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> FakeAlpaca:
    server = feed[0]
    server.reset()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("STOCKBOT_ALPACA_DATA_URL", server.url)
    monkeypatch.setenv("APCA_API_KEY_ID", "k")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "s")
    return server


class ExchangeTime:
    """The clock the session lives by, and the feed as it would be at that moment: a session's bar
    is published once it has closed (``withheld`` bars come only at the time given)."""

    def __init__(
        self,
        start: pd.Timestamp,
        server: FakeAlpaca,
        csv: pd.DataFrame,
        stop_at: pd.Timestamp,
        store: LiveStore,
        withheld: dict[str, pd.Timestamp] | None = None,
        step: pd.Timedelta | None = None,
    ) -> None:
        self.t, self.server, self.csv, self.stop_at, self.store = start, server, csv, stop_at, store
        self.step = step if step is not None else pd.Timedelta(hours=3)
        self.withheld = withheld or {}
        self.session_id = ""
        day = pd.to_datetime(csv["date"])
        self.closes = pd.to_datetime(day.dt.date.astype(str) + f" {CLOSE_UTC}").dt.tz_localize("UTC")
        self.shown: pd.Series | None = None
        self.publish()

    def now(self) -> pd.Timestamp:
        return self.t

    def sleep(self, seconds: float) -> None:
        # the loop asks for short naps; a step (three hours) passes at least, or the test would take days
        self.t += max(pd.Timedelta(seconds=seconds), self.step)
        self.publish()
        if self.t >= self.stop_at and self.session_id:
            self.store.request(self.session_id, "stop")
            self.stop_at = pd.Timestamp.max.tz_localize("UTC")

    def publish(self) -> None:
        shown = self.closes + PUBLISHED_AFTER <= self.t
        for date, at in self.withheld.items():
            shown &= ~((self.csv["date"] == date) & (self.t < at))
        if self.shown is None or not shown.equals(self.shown):
            self.shown = shown
            self.server.frame = self.csv[shown]


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def market_session(
    live_db: Database,
    run: Path,
    server: FakeAlpaca,
    csv: pd.DataFrame,
    stop_at: str,
    *,
    owner: str = "alice",
    step: pd.Timedelta | None = None,
    config: dict[str, object] | None = None,
    **withheld: str,
) -> tuple[LiveSession, ExchangeTime]:
    """A market-clock session from Monday 2017-04-03's close, stopped at ``stop_at``; ``config``
    adds to its live config (a broker, say), ``step`` is the clock's step."""
    store = LiveStore(live_db)
    clock = ExchangeTime(
        utc("2017-04-03 21:00"),
        server,
        csv,
        utc(stop_at),
        store,
        {k.replace("_", "-"): utc(v) for k, v in withheld.items()},
        step=step,
    )
    raw = {
        "policy": {"path": str(run)},
        "clock": {"kind": "market", "data_lag_minutes": 15, "stale_after_minutes": 60, "poll_seconds": 600},
        "data": {"provider": "alpaca", "dataset": None, "symbols": None},
        **(config or {}),
    }
    doc = start_session(raw, owner, store=store, spawn=False, now=clock.now())
    clock.session_id = doc["_id"]
    return LiveSession(store, doc["_id"], now=clock.now, sleep=clock.sleep), clock


def test_a_market_session_trades_as_the_backtest_of_its_bars(
    live_db: Database,
    trained_run: Path,
    alpaca: FakeAlpaca,
    feed: tuple[FakeAlpaca, pd.DataFrame],
    tmp_path: Path,
) -> None:
    _, csv = feed
    s, _ = market_session(live_db, trained_run, alpaca, csv, stop_at="2017-04-28 23:30")
    assert s.run() == "stopped"
    folder = session_dir(s.id)
    got_equity = pd.read_csv(folder / "equity.csv")
    assert got_equity["timestamp"].iloc[0].startswith("2017-04-03")  # the first decision: Monday's
    last = got_equity["timestamp"].iloc[-1][:10]
    assert last == "2017-04-28"  # every closed session up to the stop, and no bar still forming

    cfg = validate_config(
        BacktestConfig,
        {
            "data": {
                "provider": "alpaca",
                "dataset": None,
                "symbols": None,
                "start": "2017-04-03",
                "end": last,
                "cache": False,
            },
            "policy": {"type": "run", "path": str(trained_run)},
        },
    )
    want = tmp_path / "backtest"
    write_backtest(run_backtest(cfg), want)
    pd.testing.assert_frame_equal(got_equity, pd.read_csv(want / "equity.csv"), check_exact=True)
    trades = pd.read_csv(want / "trades.csv")
    assert len(trades) > 20 and trades["side"].nunique() == 2
    pd.testing.assert_frame_equal(pd.read_csv(folder / "trades.csv"), trades, check_exact=True)

    # Thursday 2017-04-13's orders fill after Good Friday, on Monday; a Friday's on Monday
    orders = list(live_db["orders"].find({"session_id": s.id}))
    fill_day = {o["decision_time"][:10]: o["fill_time"][:10] for o in orders}
    assert fill_day["2017-04-13"] == "2017-04-17" and fill_day["2017-04-21"] == "2017-04-24"
    assert "2017-04-14" not in fill_day  # the exchange was closed


def test_a_late_bar_is_stale_and_past_the_open_its_decision_is_skipped(
    live_db: Database, trained_run: Path, alpaca: FakeAlpaca, feed: tuple[FakeAlpaca, pd.DataFrame]
) -> None:
    _, csv = feed
    # Wednesday's bar reaches the feed only on Thursday evening, after Thursday's open
    s, _ = market_session(
        live_db, trained_run, alpaca, csv, stop_at="2017-04-21 23:30", **{"2017_04_19": "2017-04-20 20:30"}
    )
    assert s.run() == "stopped"
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    assert any(m.startswith("stale data: no bar for 2017-04-19 yet") for m in events), events
    assert any(m.startswith("decision for 2017-04-19 missed its open (2017-04-20 13:30 UTC)") for m in events)
    decided = {o["decision_time"][:10] for o in live_db["orders"].find({"session_id": s.id})}
    assert "2017-04-19" not in decided  # nothing was sent for it
    assert {"2017-04-18", "2017-04-20"} <= decided  # the days around it traded
    equity = pd.read_csv(session_dir(s.id) / "equity.csv")
    assert "2017-04-19" in set(equity["timestamp"].str[:10])  # its fills and mark were still taken


def test_the_bundled_data_cannot_drive_a_market_clock(live_db: Database, trained_run: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.provider: a market clock needs a feed with today's bars"):
        start_session({"policy": {"path": str(trained_run)}, "clock": {"kind": "market"}}, "a", spawn=False)


def test_a_bar_still_forming_is_never_taken(
    alpaca: FakeAlpaca, feed: tuple[FakeAlpaca, pd.DataFrame]
) -> None:
    """The feed serves Wednesday's bar while Wednesday trades (as Alpaca's daily bar does); until
    its close plus the data lag the session's bars end on Tuesday."""
    from stockbot.config import ClockConfig, DataConfig
    from stockbot.live.market_clock import MarketClock

    _, csv = feed
    alpaca.frame = csv[csv["date"] <= "2017-04-05"]
    data = DataConfig(provider="alpaca", dataset=None, symbols=["KO", "XOM"], start="2017-04-03", cache=False)
    clock = MarketClock(ClockConfig(kind="market", data_lag_minutes=15), data, warmup_bars=5)

    def last_bar(now: str) -> str:
        stamps = clock.bars(utc(now)).index.get_level_values("timestamp")
        return str(stamps.max().date())

    assert last_bar("2017-04-05 17:00") == "2017-04-04"  # Wednesday, trading
    assert last_bar("2017-04-05 20:10") == "2017-04-04"  # closed, within the data lag
    assert last_bar("2017-04-05 20:16") == "2017-04-05"


def test_before_its_first_bar_a_session_restarts_and_keeps_a_pause(
    live_db: Database, trained_run: Path, alpaca: FakeAlpaca, feed: tuple[FakeAlpaca, pd.DataFrame]
) -> None:
    """Started during Monday's trading, a session waits for Monday's close; a pause asked for
    meanwhile (as a platform restart asks) holds at its first bar, and a loop restarted while it
    waits carries on."""
    _, csv = feed
    store = LiveStore(live_db)
    clock = ExchangeTime(utc("2017-04-03 16:00"), alpaca, csv, utc("2017-04-05 23:30"), store)
    raw = {
        "policy": {"path": str(trained_run)},
        "clock": {"kind": "market", "data_lag_minutes": 15, "poll_seconds": 600},
        "data": {"provider": "alpaca", "dataset": None, "symbols": None},
    }
    doc = start_session(raw, "alice", store=store, spawn=False, now=clock.now())
    assert doc["config"]["data"]["start"] == "2017-04-03"  # Monday's bar, once it has closed
    clock.session_id = doc["_id"]
    store.request(doc["_id"], "pause")
    first = LiveSession(store, doc["_id"], now=clock.now, sleep=clock.sleep)
    assert not first._await_bar(first.first)  # still trading: nothing to take yet
    first.commit()  # what a loop that dies while waiting leaves
    again = LiveSession(store, doc["_id"], now=clock.now, sleep=clock.sleep)
    assert again.run() == "stopped"
    events = [e["message"] for e in store.get(doc["_id"])["events"]]
    assert "entries paused by a person" in events
    entries = list(live_db["orders"].find({"session_id": doc["_id"], "side": "buy"}))
    assert entries == []  # paused from the first bar: nothing bought
