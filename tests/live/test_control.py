"""Supervision: a loop that keeps dying is restarted at most 3 times in 10 minutes, then the session
fails with the reason; a platform stop ends every session's supervisor and loop, and after a
platform restart, running sessions come back with entries paused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo.database import Database

from stockbot.live import control
from stockbot.live.store import LiveStore
from stockbot.procs import alive

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


def test_a_platform_stop_suspends_sessions_which_come_back_paused(
    live_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LiveStore(live_db)
    sid = store.create("alice", {}, name="trading", mode="paper", broker="paper")["_id"]
    # a supervisor leading its own process group, with a loop below it
    loop = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(120)'])"
    supervisor = subprocess.Popen([sys.executable, "-c", loop], start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while len(_group(supervisor.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        members = _group(supervisor.pid)
        assert len(members) == 2, members
        store.set_status(sid, "running", supervisor_pid=supervisor.pid)
        assert control.suspend_sessions(store, timeout=5) == [sid]
        supervisor.wait(timeout=10)
        assert not any(alive(pid) for pid in members)  # the loop went with its supervisor
        assert store.get(sid)["status"] == "running"  # for the next start to bring back
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait()
    spawned: list[str] = []
    monkeypatch.setattr(control, "spawn_supervisor", spawned.append)
    assert sid in control.recover_sessions(store) and sid in spawned
    assert [r["action"] for r in store.get(sid)["requests"]] == ["pause"]


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out
