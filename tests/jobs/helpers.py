"""Shared helpers of the job tests."""

from __future__ import annotations

import os
import time
from pathlib import Path
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


def process_tree(root: int) -> dict[int, str]:
    """pid -> command line of ``root`` and every live process below it, read from /proc."""
    parents, cmds = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry.name)], cmds[int(entry.name)] = int(fields[1]), cmd
    tree, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        if pid in cmds:
            tree[pid] = cmds[pid]
            frontier.extend(child for child, parent in parents.items() if parent == pid)
    return tree


def still_alive(pids: dict[int, str]) -> dict[int, str]:
    """Those of ``pids`` that still run the same command (a pid may have been reused)."""
    out = {}
    for pid, cmd in pids.items():
        try:
            now = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if now == cmd and state != "Z":
            out[pid] = cmd
    return out
