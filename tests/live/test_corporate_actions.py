"""A session on a real broker across a split: AAPL's 2:1 split of 2005-02-28 in the bundled wiki5
data (Quandl's raw prices, with adj_close). The Alpaca stand-in holds raw shares and applies the
split before that day's open, as a broker does; the session sends raw shares, reads its fills back
in the adjusted series, accepts the doubled position as the split and goes on trading, holding
what the broker holds."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from pymongo.database import Database

from stockbot.data.providers.sample import sample_path
from stockbot.live.control import start_session
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore
from tests.live.helpers import GOLDEN_RUNS
from tests.live.test_brokers import end_sessions, key  # noqa: F401
from tests.servers.alpaca_trading import OPEN, FakeAlpacaTrading

pytestmark = pytest.mark.timeout(240)
WIKI = pd.read_csv(sample_path("wiki5")).set_index(["date", "tic"])
SPLIT = "2005-02-28"


class Scripted:
    """Stands in for the policy (what it learned on KO stays mostly in cash on AAPL): long, and
    flat on the decisions of a few days away from the split, so the session holds AAPL across it
    and trades both ways."""

    FLAT = ("2005-02-08", "2005-03-15")

    def __init__(self, session: LiveSession) -> None:
        self.session = session

    def predict(self, obs: object, deterministic: bool = True, **_: object) -> tuple[np.ndarray, None]:
        day = self.session.times[self.session.k].strftime("%Y-%m-%d")
        return np.array(0 if day in self.FLAT else 1), None


@pytest.fixture
def aapl_run(tmp_path: Path) -> Path:
    """The committed single-asset run, as a policy of AAPL's wiki5 bars (its observation has the
    same columns; what it learned on KO is what it does here: trade a single stock)."""
    run = tmp_path / "aapl"
    shutil.copytree(GOLDEN_RUNS / "single_whole_shares", run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"].update(dataset="wiki5", symbols=["AAPL"], start="2004-01-02", end="2005-06-30")
    config["split"].update(train_end="2004-09-30", val_end="2004-12-31")
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    market = json.loads((run / "market.json").read_text())
    market["symbols"] = ["AAPL"]
    (run / "market.json").write_text(json.dumps(market))
    return run


@pytest.fixture
def broker(key: bytes, live_db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpacaTrading]:  # noqa: F811
    from stockbot.store.tokens import TokenStore

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeAlpacaTrading(keys={"kid-3": "ksecret-3"}) as server:
        monkeypatch.setenv("STOCKBOT_ALPACA_TRADING_URL", server.url)
        TokenStore(live_db, key).put("ada", "alpaca", "keys", {"key_id": "kid-3", "secret_key": "ksecret-3"})
        yield server
    end_sessions(live_db)


def test_a_split_at_the_broker_is_accepted_and_trading_goes_on(
    live_db: Database, aapl_run: Path, broker: FakeAlpacaTrading
) -> None:
    clock = {"kind": "replay", "start": "2005-02-01", "end": "2005-03-31"}
    raw = {"policy": {"path": str(aapl_run)}, "clock": clock, "broker": "alpaca"}
    s = LiveSession(LiveStore(live_db), start_session(raw, "ada", spawn=False)["_id"])
    s.signal.model = Scripted(s)
    executed: list[tuple[float, str]] = []  # raw shares, day
    held_at_split = None
    try:
        for k in range(s.first, s.end + 1):
            day = s.times[k].strftime("%Y-%m-%d")
            if day == SPLIT:  # before the open: 2 shares for 1 at the broker
                held_at_split = broker.positions.get("AAPL", 0.0)
                broker.positions["AAPL"] = 2 * held_at_split
            if k > s.first:  # the open: what the session sent fills at the raw open
                for o in [o for o in broker.orders.values() if o["status"] in OPEN]:
                    qty = float(o["qty"])
                    broker.execute(o["client_order_id"], qty, float(WIKI.loc[(day, "AAPL"), "open"]))
                    executed.append((qty if o["side"] == "buy" else -qty, day))
            s.tick(k)
            s.commit()
    finally:
        s.close()
    assert held_at_split, "the session must hold AAPL across the split for this test to mean anything"
    assert s.reconcile_required is None
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    assert any(m.startswith("corporate action accepted: AAPL: a 2:1 split") for m in events), events
    # orders are raw shares: before the split at ~$88, after at ~$44
    sent = sorted(broker.orders.values(), key=lambda o: o["created_at"])
    assert all(float(o["qty"]).is_integer() for o in sent)
    assert any(o["created_at"] >= sent[0]["created_at"] for o in sent)
    # the broker holds what the session's fills and the split give
    assert broker.positions["AAPL"] == pytest.approx(s.broker.raw_held["AAPL"])  # type: ignore[attr-defined]
    raw_before = sum(q for q, day in executed if day < SPLIT)
    raw_after = sum(q for q, day in executed if day >= SPLIT)
    assert broker.positions["AAPL"] == pytest.approx(2 * raw_before + raw_after)
    # in the adjusted series the split changes nothing: each execution over that day's factor
    factor = {
        day: WIKI.loc[(day, "AAPL"), "adj_close"] / WIKI.loc[(day, "AAPL"), "close"] for _, day in executed
    }
    adjusted = sum(q / factor[day] for q, day in executed)
    assert float(s.path.portfolio.qty[0]) == pytest.approx(adjusted)
    assert len({day for _, day in executed if day > SPLIT}) > 0  # it traded after the split
