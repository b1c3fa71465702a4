"""Waiting for a run and following its log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from stockbot.errors import JobError
from stockbot.jobs.kinds import run_dir
from stockbot.store.runs import TERMINAL, RunStatus, RunStore


def wait_for(
    run_id: str,
    store: RunStore | None = None,
    *,
    timeout: float | None = None,
    poll: float = 0.25,
    on_update: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Block until the run reaches a final status; return its document."""
    store = store or RunStore()
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        doc = store.get(run_id)
        if doc is None:
            raise JobError(f"no run {run_id!r}")
        if on_update is not None and (doc.get("status"), doc.get("progress")) != last:
            last = (doc.get("status"), doc.get("progress"))
            on_update(doc)
        if RunStatus(doc["status"]) in TERMINAL:
            return doc
        if deadline is not None and time.monotonic() > deadline:
            raise JobError(f"run {run_id} is still {doc['status']} after {timeout:.0f} s")
        time.sleep(poll)


def follow_log(run_id: str, store: RunStore | None = None, poll: float = 0.25) -> Iterator[str]:
    """Lines of ``job.log`` from the start, then new ones until the run has ended."""
    store = store or RunStore()
    path = run_dir(run_id) / "job.log"
    offset = 0
    buffered = ""
    while True:
        doc = store.get(run_id)
        finished = doc is None or RunStatus(doc["status"]) in TERMINAL
        if path.exists():
            with path.open("rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            offset += len(chunk)
            buffered += chunk.decode(errors="replace")
            *lines, buffered = buffered.split("\n")
            yield from lines
        if finished:
            if buffered:
                yield buffered
            return
        time.sleep(poll)
