"""What every part of the service shares: one run store and one live store per process.

pymongo pools its connections and is thread-safe, so handlers call these from worker threads.
Handlers, streams and reports import their dependencies from here, never from each other.
"""

from __future__ import annotations

import functools

from stockbot.brokers.oauth import FlowStates
from stockbot.live.store import LiveStore
from stockbot.store.runs import RunStore
from stockbot.store.tokens import TokenStore, crypt_key


@functools.cache
def store() -> RunStore:
    """The process's run store."""
    return RunStore()


@functools.cache
def live_store() -> LiveStore:
    """The process's store of live sessions, their orders and fills (the run store's database)."""
    return LiveStore(store().col.database)


@functools.cache
def tokens() -> TokenStore:
    """Users' broker credentials, encrypted under the platform's key (the service needs one)."""
    return TokenStore(store().col.database, crypt_key())


@functools.cache
def flow_states() -> FlowStates:
    """The one-use states of broker connections under way."""
    return FlowStates(store().col.database, crypt_key())
