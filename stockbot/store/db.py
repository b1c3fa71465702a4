"""One pymongo connection per process to the store (a real MongoDB or the embedded server)."""

from __future__ import annotations

import os
import threading
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import PyMongoError

from stockbot.errors import StoreError
from stockbot.store.server import ensure_store, redact

DB_NAME = os.environ.get("STOCKBOT_DB", "stockbot")

# collection -> indexes (keys, options) its queries need
INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    "runs": [
        ([("owner", ASCENDING), ("created_at", DESCENDING)], {}),
        ([("status", ASCENDING), ("created_at", ASCENDING)], {}),
        ([("kind", ASCENDING), ("created_at", DESCENDING)], {}),
        ([("created_at", DESCENDING)], {}),
        ([("parent", ASCENDING)], {}),  # a delete asks which runs depend on a run
        ([("name", ASCENDING)], {}),  # runs stored before names existed are found and named
    ],
    "live_sessions": [([("owner", ASCENDING), ("created_at", DESCENDING)], {})],
    "orders": [
        ([("client_order_id", ASCENDING)], {"unique": True}),
        ([("session_id", ASCENDING), ("created_at", ASCENDING)], {}),
        ([("session_id", ASCENDING), ("updated_at", ASCENDING)], {}),  # what changed, for streams
    ],
    "fills": [
        ([("session_id", ASCENDING), ("timestamp", ASCENDING)], {}),
        ([("session_id", ASCENDING), ("recorded_at", ASCENDING)], {}),
    ],
    "tokens": [([("owner", ASCENDING), ("broker", ASCENDING)], {"unique": True})],
    "models": [([("owner", ASCENDING), ("created_at", DESCENDING)], {})],
}

_lock = threading.Lock()
_clients: dict[str, MongoClient] = {}
_indexed: set[str] = set()


def get_db(uri: str | None = None) -> Database:
    """The StockBot database; starts the embedded store on first use when no URI is configured."""
    uri = uri or ensure_store().uri
    with _lock:
        client = _clients.get(uri)
        if client is None:
            client = MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
            _clients[uri] = client
        db = client[DB_NAME]
        if uri not in _indexed:
            try:
                ensure_indexes(db)
            except PyMongoError as e:
                raise StoreError(f"cannot reach the store at {redact(uri)}: {e}") from e
            _indexed.add(uri)
    return db


def ensure_indexes(db: Database) -> None:
    for name, specs in INDEXES.items():
        for keys, opts in specs:
            db[name].create_index(keys, **opts)


def close_all() -> None:
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _indexed.clear()
