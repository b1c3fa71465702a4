"""Parity: a trained policy whose actions vary, as a backtest and as a paper session in a process
of its own over the same bars, gives identical trades and equity (market, limit and TWAP orders;
killed with SIGKILL mid-way and restarted; crashed at each step of an order's life). A planted bug,
fills one bar late, must break it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pymongo.database import Database

from stockbot.backtest.report import write_backtest
from stockbot.backtest.runner import run_backtest
from stockbot.config import BacktestConfig, validate_config
from stockbot.live.control import start_session
from stockbot.live.folder import session_dir
from stockbot.live.store import LiveStore

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
START, END = "2017-04-03", "2017-05-31"
EXECUTIONS = {
    "market": {},
    "limit": {"order_type": "limit", "limit_offset_bps": 20},
    "twap": {"twap_slices": 3},
}


def backtest(tmp: Path, run: Path, execution: dict[str, Any]) -> Path:
    cfg = validate_config(
        BacktestConfig,
        {
            "data": {
                "provider": "sample",
                "dataset": "dow29",
                "symbols": None,  # the run's
                "start": START,
                "end": END,
            },
            "policy": {"type": "run", "path": str(run)},
            "execution": execution or None,
        },
    )
    out = tmp / "backtest"
    write_backtest(run_backtest(cfg), out)
    return out


def session(run: Path, execution: dict[str, Any], speed: float = 0.0) -> str:
    raw = {
        "policy": {"path": str(run)},
        "clock": {"kind": "replay", "start": START, "end": END, "speed": speed},
        "execution": execution or None,
    }
    return start_session(raw, "alice", spawn=False)["_id"]


def loop(session_id: str, fault: str = "") -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "tests.live.session_proc", session_id, *([fault] if fault else [])]
    return subprocess.Popen(cmd, cwd=ROOT, env=os.environ.copy())


def run_to_end(session_id: str, fault: str = "", restarts: int = 0) -> None:
    for _ in range(restarts + 1):
        code = loop(session_id, fault).wait(timeout=240)
        if code == 0:
            return
    raise AssertionError(f"the session loop did not finish (last exit {code})")


def same_outputs(backtest_dir: Path, session_id: str) -> None:
    folder = session_dir(session_id)
    for name in ("equity.csv", "trades.csv"):
        want = pd.read_csv(backtest_dir / name)
        got = pd.read_csv(folder / name)
        pd.testing.assert_frame_equal(got, want, check_exact=True, obj=name)


def no_duplicates(db: Database, session_id: str) -> None:
    """The broker holds each client order id once and filled each at most once."""
    fills = list(db["paper_fills"].find({"account": session_id}))
    cids = [f["client_order_id"] for f in fills]
    assert len(cids) == len(set(cids)), "an order filled twice at the broker"
    journal = list(db["orders"].find({"session_id": session_id}))
    assert {f["client_order_id"] for f in fills} <= {o["_id"] for o in journal}


@pytest.mark.parametrize("kind", list(EXECUTIONS))
def test_a_paper_session_trades_exactly_as_the_backtest(
    kind: str, live_db: Database, trained_run: Path, tmp_path: Path
) -> None:
    execution = EXECUTIONS[kind]
    want = backtest(tmp_path, trained_run, execution)
    trades = pd.read_csv(want / "trades.csv")
    assert len(trades) > 20 and trades["side"].nunique() == 2  # the policy's actions vary
    sid = session(trained_run, execution)
    run_to_end(sid)
    same_outputs(want, sid)
    no_duplicates(live_db, sid)
    doc = LiveStore(live_db).get(sid)
    assert doc["status"] == "finished"
    fills = list(live_db["fills"].find({"session_id": sid}))
    assert len(fills) == len(trades)
    assert all(f["slippage_bps"] == 0.0 for f in fills)  # the shadow fills the same on paper


def test_parity_survives_a_sigkill_mid_way(live_db: Database, trained_run: Path, tmp_path: Path) -> None:
    want = backtest(tmp_path, trained_run, {})
    sid = session(trained_run, {}, speed=20.0)
    store = LiveStore(live_db)
    proc = loop(sid)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        view = (store.get(sid) or {}).get("view") or {}
        if view.get("bars_done", 0) >= 12:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        raise AssertionError("the session did not get to bar 12")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert store.get(sid)["status"] == "running"
    run_to_end(sid)
    same_outputs(want, sid)
    no_duplicates(live_db, sid)
    events = [e["message"] for e in store.get(sid)["events"]]
    assert any("loop restarted" in m for m in events)


@pytest.mark.parametrize("fault", ["crash-journal", "crash-submit", "crash-fill"])
def test_a_crash_at_each_step_of_an_order_loses_and_doubles_nothing(
    fault: str, live_db: Database, trained_run: Path, tmp_path: Path
) -> None:
    want = backtest(tmp_path, trained_run, {"twap_slices": 2})
    sid = session(trained_run, {"twap_slices": 2})
    first = loop(sid, fault).wait(timeout=240)
    assert first == -signal.SIGKILL, "the planted crash did not happen"
    run_to_end(sid, fault)
    same_outputs(want, sid)
    no_duplicates(live_db, sid)


def test_a_fill_one_bar_late_breaks_parity(live_db: Database, trained_run: Path, tmp_path: Path) -> None:
    want = backtest(tmp_path, trained_run, {})
    sid = session(trained_run, {})
    run_to_end(sid, "late")
    with pytest.raises(AssertionError):
        same_outputs(want, sid)


def test_an_lstm_session_restarted_mid_way_keeps_its_hidden_state(live_db: Database, tmp_path: Path) -> None:
    """The recurrent state is saved with every decision: a new loop object resumed from the store
    half-way decides exactly as the uninterrupted backtest."""
    import shutil

    from stockbot.live.session import LiveSession
    from tests.live.conftest import GOLDEN_RUNS

    run = tmp_path / "lstm"
    shutil.copytree(GOLDEN_RUNS / "lstm", run)
    want = backtest(tmp_path, run, {})
    sid = session(run, {})
    store = LiveStore(live_db)
    first = LiveSession(store, sid)
    for k in range(first.first, first.first + 15):
        first.tick(k)
        first.commit()
    del first
    assert LiveSession(store, sid).run() == "finished"
    same_outputs(want, sid)
