"""What every part of the service shares: one run store and one live store per process.

pymongo pools its connections and is thread-safe, so handlers call these from worker threads.
Handlers, streams and reports import their dependencies from here, never from each other.
"""

from __future__ import annotations

import functools

from stockbot.live.store import LiveStore
from stockbot.store.runs import RunStore


@functools.cache
def store() -> RunStore:
    """The process's run store."""
    return RunStore()


@functools.cache
def live_store() -> LiveStore:
    """The process's store of live sessions, their orders and fills (the run store's database)."""
    return LiveStore(store().col.database)
