"""A session's safety rails, in process: garbage policy outputs hold, the kill switch flattens and
halts (idempotently), the drawdown kill switch halts a session, bad live configs are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymongo.database import Database

from stockbot.errors import ConfigError
from stockbot.live.control import start_session
from stockbot.live.session import LiveSession
from stockbot.live.store import LiveStore

pytestmark = pytest.mark.timeout(180)
CLOCK = {"kind": "replay", "start": "2017-04-03", "end": "2017-04-28"}


def make(db: Database, run: Path, **extra: Any) -> LiveSession:
    sid = start_session({"policy": {"path": str(run)}, "clock": CLOCK, **extra}, "alice", spawn=False)["_id"]
    return LiveSession(LiveStore(db), sid)


class Garbage:
    """Stands in for the policy: NaN, inf and 1e30 on alternate bars, a valid buy otherwise."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def predict(self, obs: Any, deterministic: bool = True, **_: Any) -> tuple[np.ndarray, None]:
        self.calls += 1
        bad = [np.nan, np.inf, 1e30, None][self.calls % 4]
        a = np.full(self.n, 0.5 if bad is None else bad, dtype=np.float32)
        return a, None


def test_garbage_policy_outputs_never_reach_the_broker(live_db: Database, trained_run: Path) -> None:
    s = make(live_db, trained_run)
    s.signal.model = Garbage(len(s.symbols) + 1)
    assert s.run() == "finished"
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    held = [m for m in events if m.startswith("decision held")]
    assert any("not finite" in m for m in held) and any("outside" in m for m in held)
    orders = list(live_db["orders"].find({"session_id": s.id}))
    assert orders, "the valid decisions must trade"
    assert all(np.isfinite(o["quantity"]) and o["quantity"] > 0 for o in orders)
    # a held decision sends nothing: only every fourth bar (the valid one) has orders
    decided = {o["decision_time"] for o in orders}
    assert len(decided) <= s.signal.model.calls // 4 + 1


def test_the_kill_switch_flattens_and_halts_once(live_db: Database, trained_run: Path) -> None:
    s = make(live_db, trained_run)
    store = LiveStore(live_db)
    for k in range(s.first, s.first + 5):
        s.tick(k)
        s.commit()
    assert np.any(s.path.portfolio.qty != 0)
    store.request(s.id, "kill")
    store.request(s.id, "kill")  # twice: the same exit
    s.tick(s.first + 5)
    s.commit()
    kills = list(live_db["orders"].find({"session_id": s.id, "kind": "kill"}))
    assert kills and len({o["_id"] for o in kills}) == len(kills)
    s.tick(s.first + 6)
    s.commit()
    assert not np.any(s.path.portfolio.qty) and s.path.risk.status == "halted"
    assert s.broker.positions() == {}
    s.tick(s.first + 7)
    assert not list(
        live_db["orders"].find(
            {"session_id": s.id, "decision_time": {"$gte": s.times[s.first + 6].isoformat()}}
        )
    )


def test_a_drawdown_breach_halts_the_session(live_db: Database, trained_run: Path) -> None:
    s = make(live_db, trained_run, risk={"max_drawdown": 0.001})
    assert s.run() == "finished"
    doc = LiveStore(live_db).get(s.id)
    assert doc["view"]["risk"]["status"] == "halted" and doc["view"]["risk"]["cause"] == "drawdown"
    assert doc["view"]["positions"] == {}


def test_bad_live_configs_name_the_field(live_db: Database, trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"clock\.speed"):
        start_session({"policy": {"path": str(trained_run)}, "clock": {"speed": -1}}, "a", spawn=False)
    with pytest.raises(ConfigError, match="fill"):
        start_session({"policy": {"path": str(trained_run)}, "costs": {"fill": "close"}}, "a", spawn=False)
    with pytest.raises(ConfigError, match="not a train run folder"):
        start_session({"policy": {"path": str(tmp_path)}, "clock": CLOCK}, "a", spawn=False)


def test_a_daily_loss_breach_flattens_and_the_halt_lifts_next_session(
    live_db: Database, trained_run: Path
) -> None:
    s = make(live_db, trained_run, risk={"daily_loss_limit": 0.002})
    assert s.run() == "finished"
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    assert any("breached daily_loss_limit" in m for m in events)
    assert any("daily loss halt lifted" in m for m in events)
    kills = list(live_db["orders"].find({"session_id": s.id, "kind": "kill"}))
    assert kills and all(o["side"] == "sell" for o in kills)


def test_a_position_the_session_cannot_explain_stops_trading_until_a_person_reconciles(
    live_db: Database, trained_run: Path
) -> None:
    s = make(live_db, trained_run)
    store = LiveStore(live_db)
    for k in range(s.first, s.first + 4):
        s.tick(k)
        s.commit()
    # someone trades the account behind the session's back: 7 more shares of the first symbol
    acct = live_db["paper_accounts"].find_one({"_id": s.id})
    qty = list(acct["portfolio"]["qty"])
    qty[0] += 7.0
    live_db["paper_accounts"].update_one({"_id": s.id}, {"$set": {"portfolio.qty": qty}})
    s.tick(s.first + 4)
    s.commit()
    assert s.reconcile_required and s.symbols[0] in s.reconcile_required
    decided = s.times[s.first + 4].isoformat()
    assert not list(live_db["orders"].find({"session_id": s.id, "decision_time": decided}))
    store.request(s.id, "reconcile")
    s.tick(s.first + 5)
    s.commit()
    assert s.reconcile_required is None
    assert s.path.portfolio.qty[0] == s.broker.positions()[s.symbols[0]]
    decided = s.times[s.first + 5].isoformat()
    assert list(live_db["orders"].find({"session_id": s.id, "decision_time": decided}))


def test_a_close_that_jumps_past_the_sanity_limit_holds_that_symbol(
    live_db: Database, trained_run: Path
) -> None:
    s = make(live_db, trained_run, max_price_move=1e-6)  # every real move is "too far"
    for k in range(s.first, s.first + 6):
        s.tick(k)
        s.commit()
    events = [e["message"] for e in LiveStore(live_db).get(s.id)["events"]]
    assert any("held: close" in m and "max_price_move" in m for m in events)
    # every symbol held at every bar after the first: nothing traded after the first decision
    later = s.times[s.first + 1].isoformat()
    assert not list(live_db["orders"].find({"session_id": s.id, "decision_time": {"$gte": later}}))


def test_a_redo_that_decides_otherwise_cancels_what_the_dead_process_sent(
    live_db: Database, trained_run: Path
) -> None:
    """A loop dies after sending a bar's orders but before committing it; its restart finds entries
    paused (a platform restart does that) and decides again, without those buys: the dead
    process's orders are cancelled at the broker, never filled, and the journal says why."""
    store = LiveStore(live_db)
    s = make(live_db, trained_run)
    for k in range(s.first, s.first + 3):
        s.tick(k)
        s.commit()
    k = s.first + 3
    s.tick(k)  # sent, not committed: the process dies here
    sent = {
        o["_id"]
        for o in live_db["orders"].find({"session_id": s.id, "decision_time": s.times[k].isoformat()})
    }
    at_broker = s.broker.lookup_many(sorted(sent))
    buys = {cid for cid, o in at_broker.items() if o.side == "buy" and o.status == "accepted"}
    assert buys, "the dead process must have sent buys"

    store.request(s.id, "pause")
    redo = LiveSession(store, s.id)
    redo.restore(store.get(s.id)["state"])
    redo._attempt = {cid for cid in redo.journal.inherited if redo.journal.is_open(cid)}
    redo.tick(k)
    redo.commit()
    redo.tick(k + 1)
    redo.commit()
    for cid in buys:
        assert redo.broker.lookup(cid).status == "cancelled"  # type: ignore[union-attr]
        doc = live_db["orders"].find_one({"_id": cid})
        assert doc["status"] == "cancelled" and "process that died" in doc["message"]
    filled = {f["client_order_id"] for f in live_db["paper_fills"].find({"account": s.id})}
    assert not (buys & filled)
    assert redo.broker.positions() == {
        sym: q for sym, q in zip(redo.symbols, redo.path.portfolio.qty, strict=True) if q
    }


def test_a_second_kill_changes_nothing(live_db: Database, trained_run: Path) -> None:
    """Pressed again before the next bar, the kill switch keeps the first press's exit orders."""
    store = LiveStore(live_db)
    s = make(live_db, trained_run)
    for k in range(s.first, s.first + 4):
        s.tick(k)
        s.commit()
    store.request(s.id, "kill")
    s._between_bars(store.requests(s.id))
    exits = {o["_id"]: o["status"] for o in live_db["orders"].find({"session_id": s.id, "kind": "kill"})}
    assert exits and set(exits.values()) == {"accepted"}
    store.request(s.id, "kill")
    s._between_bars(store.requests(s.id))
    again = {o["_id"]: o["status"] for o in live_db["orders"].find({"session_id": s.id, "kind": "kill"})}
    assert again == exits
    s.tick(s.first + 4)
    s.commit()
    assert not np.any(s.path.portfolio.qty) and s.broker.positions() == {}
