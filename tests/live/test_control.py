"""Supervision: a loop that keeps dying is restarted at most 3 times in 10 minutes, then the session
fails with the reason; after a platform restart, running sessions come back with entries paused."""

from __future__ import annotations

import sys

import pytest
from pymongo.database import Database

from stockbot.live import control
from stockbot.live.store import LiveStore

pytestmark = pytest.mark.timeout(120)


def test_a_loop_that_keeps_dying_is_restarted_three_times_then_fails(live_db: Database) -> None:
    store = LiveStore(live_db)
    sid = store.create("alice", {}, name="dies", mode="paper", broker="paper")["_id"]
    store.set_status(sid, "running")
    dying = [sys.executable, "-c", "raise SystemExit(3)"]
    assert control.supervise(sid, store, dying) == "failed"
    doc = store.get(sid)
    assert doc["status"] == "failed" and "died 4 times" in doc["reason"]
    assert [r["exit_code"] for r in doc["restarts"]] == [3, 3, 3, 3]


def test_a_loop_that_ends_cleanly_is_not_restarted(live_db: Database) -> None:
    store = LiveStore(live_db)
    sid = store.create("alice", {}, name="ends", mode="paper", broker="paper")["_id"]
    finish = [
        sys.executable,
        "-c",
        f"from stockbot.live.store import LiveStore; LiveStore().set_status({sid!r}, 'finished')",
    ]
    assert control.supervise(sid, store, finish) == "finished"
    assert store.get(sid)["restarts"] == []


def test_sessions_come_back_paused_after_a_platform_restart(
    live_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LiveStore(live_db)
    running = store.create("alice", {}, name="was running", mode="paper", broker="paper")["_id"]
    store.set_status(running, "running", supervisor_pid=2**22 + 12345)  # no such process
    ended = store.create("alice", {}, name="ended", mode="paper", broker="paper")["_id"]
    store.set_status(ended, "stopped")
    spawned: list[str] = []
    monkeypatch.setattr(control, "spawn_supervisor", spawned.append)
    back = control.recover_sessions(store)
    assert running in back and ended not in back and running in spawned
    assert [r["action"] for r in store.get(running)["requests"]] == ["pause"]
    assert store.get(ended)["requests"] == []
