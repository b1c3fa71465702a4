"""Live sessions in the store (DESIGN.md §6): ``live_sessions``, the journal of ``orders`` and the
session's ``fills``.

A session document holds who owns it, its config, the engine's status (``starting``, ``running``,
``stopped``, ``finished``, ``failed``), the loop's pid and heartbeat, control requests waiting for
the loop, the loop's saved ``state`` (written whole with every tick, so a restarted loop resumes
exactly), a ``view`` of it for pages and the CLI (NAV, risk state, positions, the last decision)
and the latest events. The loop is the only writer of ``state`` and ``view``; people and the
service write requests.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from stockbot.errors import ConfigError

SESSIONS, ORDERS, FILLS = "live_sessions", "orders", "fills"
ACTIONS = ("stop", "kill", "pause", "resume", "reconcile")
ENDED = frozenset({"stopped", "finished", "failed"})
EVENTS_KEPT = 200
SESSION_ID = re.compile(r"live-\d{8}-\d{6}-[0-9a-f]{4}")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_session_id() -> str:
    return f"live-{now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class LiveStore:
    def __init__(self, db: Database | None = None) -> None:
        if db is None:
            from stockbot.store.db import get_db

            db = get_db()
        self.db = db
        self.sessions = db[SESSIONS]
        self.orders = db[ORDERS]
        self.fills = db[FILLS]

    # ------------------------------------------------------------------ sessions

    def create(
        self, owner: str, config: dict[str, Any], *, name: str, mode: str, broker: str
    ) -> dict[str, Any]:
        doc = {
            "_id": new_session_id(),
            "owner": owner,
            "name": name,
            "mode": mode,  # "paper" or "live"
            "broker": broker,
            "config": config,
            "status": "starting",
            "reason": None,
            "created_at": now(),
            "pid": None,
            "heartbeat_at": None,
            "restarts": [],
            "requests": [],
            "state": None,
            "view": None,
            "events": [],
        }
        self.sessions.insert_one(doc)
        return doc

    def get(self, session_id: str) -> dict[str, Any] | None:
        return self.sessions.find_one({"_id": session_id})

    def public(self, session_id: str) -> dict[str, Any] | None:
        """The session without the loop's saved state (what people and pages read)."""
        return self.sessions.find_one({"_id": session_id}, {"state": 0})

    def list(self, owner: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        query = {} if owner is None else {"owner": owner}
        cursor = self.sessions.find(query, {"state": 0}).sort("created_at", DESCENDING).limit(limit)
        return list(cursor)

    def requests(self, session_id: str) -> list[dict[str, Any]]:
        """The control requests waiting for the loop (read alone: the saved state is large)."""
        doc = self.sessions.find_one({"_id": session_id}, {"requests": 1})
        return list(doc.get("requests") or []) if doc else []

    def request(self, session_id: str, action: str, **params: Any) -> dict[str, Any] | None:
        """Queue a control request for the loop; None when the session does not exist."""
        if action not in ACTIONS:
            raise ConfigError(f"unknown live action {action!r}; use one of {', '.join(ACTIONS)}")
        req = {"id": secrets.token_hex(6), "action": action, "at": now(), **params}
        return self.sessions.find_one_and_update(
            {"_id": session_id}, {"$push": {"requests": req}}, return_document=True
        )

    def set_status(self, session_id: str, status: str, reason: str | None = None, **fields: Any) -> None:
        self.sessions.update_one(
            {"_id": session_id}, {"$set": {"status": status, "reason": reason, **fields}}
        )

    def set_fields(self, session_id: str, **fields: Any) -> None:
        self.sessions.update_one({"_id": session_id}, {"$set": fields})

    def heartbeat(self, session_id: str, pid: int) -> None:
        self.sessions.update_one({"_id": session_id, "pid": pid}, {"$set": {"heartbeat_at": now()}})

    def save(
        self,
        session_id: str,
        state: dict[str, Any],
        view: dict[str, Any],
        *,
        done: list[str],
        events: list[dict[str, Any]],
    ) -> None:
        """The loop's commit point: its whole state, the view, the requests it has handled and the
        events it logged, in one document write."""
        update: dict[str, Any] = {"$set": {"state": state, "view": view, "heartbeat_at": now()}}
        if done:
            update["$pull"] = {"requests": {"id": {"$in": done}}}
        if events:
            update["$push"] = {"events": {"$each": events, "$slice": -EVENTS_KEPT}}
        self.sessions.update_one({"_id": session_id}, update)

    def push_events(self, session_id: str, events: list[dict[str, Any]]) -> None:
        if events:
            self.sessions.update_one(
                {"_id": session_id}, {"$push": {"events": {"$each": events, "$slice": -EVENTS_KEPT}}}
            )

    # ------------------------------------------------------------------ the journal

    def journal_many(self, docs: list[dict[str, Any]]) -> None:
        """Record journaled intents (whole documents) in one write; ids already there are kept."""
        if not docs:
            return
        try:
            self.orders.insert_many(docs, ordered=False)
        except BulkWriteError as e:
            if any(err.get("code") != 11000 for err in e.details.get("writeErrors", [])):
                raise

    def update_orders(self, changes: dict[str, dict[str, Any]]) -> None:
        """Set fields of several orders (client id -> fields) in one write."""
        if changes:
            self.orders.bulk_write([UpdateOne({"_id": k}, {"$set": v}) for k, v in changes.items()])

    def session_orders(self, session_id: str) -> list[dict[str, Any]]:
        found = self.orders.find({"session_id": session_id})
        return list(found.sort([("created_at", ASCENDING), ("_id", ASCENDING)]))

    def record_fills(self, session_id: str, fills: list[dict[str, Any]]) -> None:
        """Record the session's fills in one write (a fill recorded again is replaced, not doubled)."""
        ops = []
        for fill in fills:
            key = f"{session_id}:{fill['fill_id']}"
            doc = {"_id": key, "session_id": session_id, **fill, "recorded_at": now()}
            ops.append(ReplaceOne({"_id": key}, doc, upsert=True))
        if ops:
            self.fills.bulk_write(ops)

    def session_fills(self, session_id: str) -> list[dict[str, Any]]:
        return list(
            self.fills.find({"session_id": session_id}).sort([("timestamp", ASCENDING), ("_id", ASCENDING)])
        )

    # ------------------------------------------------------------------ what changed (streams)

    def orders_changed(self, session_id: str, since: dt.datetime | None) -> list[dict[str, Any]]:
        """The session's orders journaled or updated at or after ``since`` (all when None), oldest
        change first; a caller keeps what it has seen to drop the repeats at ``since`` itself."""
        query: dict[str, Any] = {"session_id": session_id}
        if since is not None:
            query["updated_at"] = {"$gte": since}
        return list(self.orders.find(query).sort([("updated_at", ASCENDING), ("_id", ASCENDING)]))

    def fills_recorded(self, session_id: str, since: dt.datetime | None) -> list[dict[str, Any]]:
        """The session's fills recorded at or after ``since`` (all when None), as :meth:`orders_changed`."""
        query: dict[str, Any] = {"session_id": session_id}
        if since is not None:
            query["recorded_at"] = {"$gte": since}
        return list(self.fills.find(query).sort([("recorded_at", ASCENDING), ("_id", ASCENDING)]))
