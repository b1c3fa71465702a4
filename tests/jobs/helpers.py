"""Shared helpers of the job tests."""

from __future__ import annotations

import os
import time
from typing import Any

from stockbot.store import RunStore

LONG_TRAIN = {
    "data": {"symbols": ["AAPL", "KO", "XOM"], "start": "2013-03-01"},
    "env": {"window": 8},
    "ppo": {"total_timesteps": 5_000_000, "n_envs": 2, "n_steps": 128, "batch_size": 64, "n_epochs": 1},
    "eval": {"every_steps": 100_000, "patience": None},
}


def wait_until(store: RunStore, run_id: str, pred: Any, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc = store.get(run_id)
        if doc is not None and pred(doc):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"{run_id}: condition not met in {timeout} s: {store.get(run_id)}")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
