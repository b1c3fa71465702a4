"""``/live``'s state over a real paper session of a committed trained run: what the account,
positions, orders and fills tables say is what the session's own files say (reference sums in
pandas here), another user's session is not found, the kill switch needs its typed word, an ended
session takes no requests, and the start form's refusals name the field."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from dashboards.live import build
from dashboards.state.live import KILL_WORD, LiveState
from dashboards.viewer import Viewer
from stockbot.live.control import start_session, validate_live
from stockbot.live.folder import session_dir
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore
from stockbot.store import RunStore
from tests.dashboards.conftest import BOKEH_INPLACE
from tests.live.helpers import register_trained_run

pytestmark = [pytest.mark.timeout(180), pytest.mark.filterwarnings(BOKEH_INPLACE)]

ALICE, BOB = Viewer("alice", False), Viewer("bob", False)
CLOCK = {"kind": "replay", "start": "2017-04-03", "end": "2017-04-21"}


def _money(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _pct(text: str) -> float:
    return float(text.rstrip("%").replace(",", "")) / 100.0


@pytest.fixture
def session(store: RunStore) -> tuple[str, LiveStore, str]:
    """Alice's paper session over three weeks of bars, run to its end in this process."""
    live = LiveStore(store.col.database)
    run_id = register_trained_run(store, "alice")
    config = validate_live({"policy": {"run_id": run_id}, "clock": CLOCK}, runs=store, parent_owner="alice")
    doc = start_session(config, "alice", store=live, spawn=False)
    assert LiveSession(live, doc["_id"]).run() == "finished"
    return doc["_id"], live, run_id


def test_a_finished_session_reads_as_its_files(session: tuple[str, LiveStore, str], store: RunStore) -> None:
    sid, live, _ = session
    state = LiveState(ALICE, sid, store=live, runs=store)
    assert state.found and not state.live and state.badge() == "PAPER"
    folder = session_dir(sid)
    equity = pd.read_csv(folder / "equity.csv")
    trades = pd.read_csv(folder / "trades.csv")
    last = equity.iloc[-1]

    account = dict(zip(*(state.account_rows()[c] for c in state.account_rows().columns), strict=True))
    assert _money(account["Equity"]) == pytest.approx(last["equity"], abs=0.005)
    assert _money(account["Cash"]) == pytest.approx(last["cash"], abs=0.005)
    assert _money(account["Total P&L"]) == pytest.approx(last["equity"] - equity["equity"].iloc[0], abs=0.01)
    assert _pct(account["Gross exposure"]) == pytest.approx(last["gross_exposure"], abs=5e-5)
    assert _money(account["Day P&L"]) == pytest.approx(last["equity"] - equity["equity"].iloc[-2], abs=0.01)
    assert account["Max gross leverage"].endswith(f"(headroom {(1 - last['gross_exposure']) * 100:.2f}%)")

    # positions: the signed sum of the fills per symbol; weights add up to the gross exposure
    signed = trades.assign(q=trades["qty"].where(trades["side"] == "buy", -trades["qty"]))
    held = signed.groupby("symbol")["q"].sum()
    positions = state.positions_table()
    shown = dict(zip(positions["symbol"], positions["quantity"], strict=True))
    for symbol, qty in held.items():
        assert float(shown[symbol].replace(",", "")) == pytest.approx(qty, abs=5e-5), symbol
    weights = positions["weight"].map(_pct)
    assert weights.sum() == pytest.approx(last["gross_exposure"], abs=5e-4)

    orders, fills = state.orders_table(), state.fills_table()
    assert len(fills) == len(trades) > 0
    assert len(orders) == len(live.session_orders(sid))
    filled = orders[orders["status"] == "filled"]
    assert len(filled) > 0 and set(filled["slippage vs model"]) == {"0.0 bps"}  # paper: the model itself
    assert all(t.startswith("intent ") and " → filled " in t for t in filled["timeline (UTC)"])
    # newest first
    bars = pd.to_datetime(orders["decision bar"])
    assert bars.is_monotonic_decreasing

    lines = state.decision_lines()
    assert lines[0].startswith("Bar ") and any(x.startswith("Policy's target: AAPL") for x in lines)
    assert state.event_lines()[0].endswith("replay finished: no more bars")
    curves = state.curves
    assert curves is not None and len(curves) == len(equity)
    assert curves["session"].to_numpy() == pytest.approx(equity["equity"].to_numpy())
    assert curves["shadow backtest"].to_numpy() == pytest.approx(equity["equity"].to_numpy())  # paper
    assert build(ALICE, sid, refresh_ms=None, store=live, runs=store) is not None


def test_controls_of_an_ended_or_foreign_session(
    session: tuple[str, LiveStore, str], store: RunStore
) -> None:
    sid, live, _ = session
    assert not LiveState(BOB, sid, store=live, runs=store).found
    assert LiveState(Viewer("root", True), sid, store=live, runs=store).found  # admins see all
    state = LiveState(ALICE, sid, store=live, runs=store)
    assert "Type KILL" in state.kill("kill")  # the word, exactly
    assert "ended" in state.kill(KILL_WORD)
    assert "ended" in state.act("pause")
    assert live.get(sid)["requests"] == []


def test_the_start_form_refuses_with_fields_then_starts_a_session(store: RunStore, tmp_path: Path) -> None:
    live = LiveStore(store.col.database)
    run_id = register_trained_run(store, "alice")
    bobs = LiveState(BOB, store=live, runs=store)
    assert bobs.trained_runs() == {}
    assert bobs.start({"run_id": run_id}) is None
    assert [e["field"] for e in bobs.errors] == ["policy.run_id"]

    state = LiveState(ALICE, store=live, runs=store)
    assert list(state.trained_runs().values()) == [run_id]
    assert state.start({"run_id": run_id, "speed": -1}) is None
    assert [e["field"] for e in state.errors] == ["clock.speed"]
    assert state.start({"run_id": run_id, "start": "2031-01-02"}) is None
    assert state.errors and "nothing to replay" in state.errors[0]["message"]
    assert live.list() == []  # nothing recorded

    sid = state.start({"run_id": run_id, "start": "2017-04-03", "end": "2017-04-13", "speed": 0, "name": "x"})
    assert sid is not None and state.session_id == sid and not state.errors
    deadline = time.monotonic() + 120
    while live.get(sid)["status"] not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    state.refresh()
    assert state.doc["status"] == "finished" and state.doc["name"] == "x"
    assert len(state.fills) > 0 and [s["id"] for s in state.sessions] == [sid]


def test_the_start_form_takes_a_broker_and_guards_real_money(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    monkeypatch.setenv("STOCKBOT_CRYPT_KEY", Fernet.generate_key().decode())
    live = LiveStore(store.col.database)
    run_id = register_trained_run(store, "alice")
    state = LiveState(ALICE, store=live, runs=store)

    def refused(**values: object) -> list[str]:
        assert state.start({"run_id": run_id, **values}) is None
        return [f"{e['field']}: {e['message']}" for e in state.errors]

    assert refused(broker="alpaca")[0].startswith("broker: alice has not connected alpaca")
    assert refused(broker="schwab", account="live")[0].startswith("confirm: ")
    monkeypatch.setenv("STOCKBOT_SPAWNER", "simple")
    assert "isolates its users" in refused(broker="schwab", account="live", confirm="REAL MONEY")[0]
    # a market clock reads today's bars from the chosen feed, not the bundled data
    assert refused(clock="market", feed="sample")[0].startswith("data.provider")
    assert live.list() == []
