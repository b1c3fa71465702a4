"""kill -9 of the executor mid-run: on restart the run is marked lost, its process group ended,
and everything else goes on (this module has its own home, store and executor)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from stockbot.jobs import ensure_executor, executor_status, stop_executor, submit, wait_for
from stockbot.store import RunStore
from tests.jobs.helpers import LONG_TRAIN, group_alive, wait_until

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def test_kill_9_executor_then_restart_marks_the_run_lost(job_home: object, store: RunStore) -> None:
    first = ensure_executor(concurrency=1)
    run_id = submit("train", LONG_TRAIN, store=store)
    queued = submit("backtest", {"data": {"symbols": ["KO"], "start": "2017-06-01"}}, store=store)
    doc = wait_until(
        store, run_id, lambda d: d["status"] == "running" and (d["progress"].get("step") or 0) > 0
    )
    pgid = doc["executor"]["pgid"]
    os.kill(first["pid"], signal.SIGKILL)
    time.sleep(0.5)
    assert not executor_status()["running"]
    assert store.get(run_id)["status"] == "running"  # type: ignore[index]  # nobody knows yet
    assert group_alive(pgid)  # the orphaned job still runs
    time.sleep(float(os.environ["STOCKBOT_STALE_SECONDS"]) + 1.5)  # let its heartbeat go stale

    second = ensure_executor(concurrency=1)
    assert second["pid"] != first["pid"]
    lost = wait_until(store, run_id, lambda d: d["status"] != "running", timeout=30)
    assert lost["status"] == "failed" and lost["error"]["type"] == "lost"
    deadline = time.monotonic() + 10
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not group_alive(pgid), "recovery left the lost job's processes running"
    # the queued run is untouched by all this and runs under the new executor
    done = wait_for(queued, store, timeout=120)
    assert done["status"] == "succeeded"
    assert stop_executor()
