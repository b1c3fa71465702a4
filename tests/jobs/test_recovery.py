"""An executor that dies mid-run (kill -9): its job's whole process group — kernel included — ends
within seconds (the watchdog in the group), and the run is failed · lost with nothing adopted; a
store that restarts under running supervisors does not end them (this module has its own home,
store and executor)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from stockbot.jobs import ensure_executor, executor_status, stop_executor, submit, wait_for
from stockbot.store import RunStore
from stockbot.store.server import ensure_store, store_status
from tests.jobs.helpers import LONG_TRAIN, group_alive, process_tree, still_alive, wait_until

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def test_kill_9_executor_ends_the_job_group_and_the_run_is_lost(job_home: Path, store: RunStore) -> None:
    stop_executor()
    first = ensure_executor(concurrency=1)
    run_id = submit("train", LONG_TRAIN, store=store)
    queued = submit("backtest", {"data": {"symbols": ["KO"], "start": "2017-06-01"}}, store=store)
    doc = wait_until(
        store, run_id, lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0
    )
    pgid = doc["executor"]["pgid"]
    job = process_tree(pgid)  # the watchdog (the group's leader), Papermill and its kernel
    kernels = [pid for pid, cmd in job.items() if "ipykernel" in cmd]
    assert kernels and any("run_notebook" in cmd for cmd in job.values()), job
    # jupyter_client starts the kernel in a session of its own: a signal to the group misses it
    assert all(os.getpgid(pid) != pgid for pid in kernels)

    os.kill(first["pid"], signal.SIGKILL)
    killed = time.monotonic()
    while still_alive(job) and time.monotonic() - killed < 10:
        time.sleep(0.1)
    assert not still_alive(job), f"still running 10 s after the executor died: {still_alive(job)}"
    assert not executor_status()["running"]
    folder = job_home / "runs" / run_id
    assert not (folder / "summary.json").exists()  # the job did not finish unseen

    second = ensure_executor(concurrency=1)
    assert second["pid"] != first["pid"]
    # the dead executor is noticed at once, not only once the heartbeat has gone stale
    lost = wait_until(store, run_id, lambda d: d["status"] != "running", timeout=10)
    assert lost["status"] == "failed" and lost["error"]["type"] == "lost", lost
    assert str(first["pid"]) in lost["error"]["message"]
    assert lost["metrics"] is None
    assert not group_alive(pgid)
    # the queued run is untouched by all this and runs under the new executor
    done = wait_for(queued, store, timeout=120)
    assert done["status"] == "succeeded"


def test_a_store_restart_does_not_end_running_supervisors(job_home: Path, store: RunStore) -> None:
    ensure_executor(concurrency=1)
    short = {
        **LONG_TRAIN,
        "ppo": {**LONG_TRAIN["ppo"], "total_timesteps": 40_000},
    }
    run_id = submit("train", short, store=store)
    wait_until(store, run_id, lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0)
    before = store_status(job_home)
    os.kill(int(before["pid"]), signal.SIGKILL)  # type: ignore[arg-type]
    time.sleep(8)  # longer than pymongo's server selection timeout (5 s): every call fails meanwhile
    after = ensure_store(job_home)
    # a new server on the same port: the URI every process holds still leads to it
    assert after.pid != before["pid"]
    assert after.uri.rsplit("@", 1)[-1] == str(before["uri"]).rsplit("@", 1)[-1]
    done = wait_for(run_id, store, timeout=300)
    assert done["status"] == "succeeded", done.get("error")
    assert executor_status()["running"]
    assert stop_executor()


def test_a_run_ended_elsewhere_stops_its_job(job_home: Path, store: RunStore) -> None:
    """Recovery on another host (a shared store) may mark a run lost while its supervisor still
    runs it, after a long store outage: the supervisor then ends the job instead of finishing it
    unseen, and the run stays lost."""
    ensure_executor(concurrency=1)
    run_id = submit("train", LONG_TRAIN, store=store)
    doc = wait_until(
        store, run_id, lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0
    )
    job = process_tree(doc["executor"]["pgid"])
    # compare-and-set on the heartbeat, which the supervisor moves every second: retry on a move
    marked = False
    for _ in range(20):
        beat = store.get(run_id)["heartbeat_at"]  # type: ignore[index]
        if store.mark_lost(run_id, beat, "found lost elsewhere"):
            marked = True
            break
    assert marked
    deadline = time.monotonic() + 15
    while still_alive(job) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not still_alive(job), still_alive(job)
    after = store.get(run_id)
    assert after is not None and after["status"] == "failed" and after["error"]["type"] == "lost"
    assert executor_status()["running"]  # the executor goes on
