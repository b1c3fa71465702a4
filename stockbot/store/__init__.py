"""The run store: documents on the pymongo API, a real MongoDB or the embedded SecantusDB server."""

from stockbot.store.db import get_db
from stockbot.store.runs import TERMINAL, RunStatus, RunStore
from stockbot.store.server import ensure_store, stop_store, store_status

__all__ = ["TERMINAL", "RunStatus", "RunStore", "ensure_store", "get_db", "stop_store", "store_status"]
