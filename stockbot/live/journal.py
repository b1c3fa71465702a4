"""A session's journal of orders: every order's status and timeline, held by the loop in memory and
written to the store's ``orders`` in batches.

The loop is the only writer of its orders, so it reads them from memory, never from the store, and
writes what changed in one round trip: :meth:`Journal.record` inserts new intents at once (before
any of them is sent), status changes queue up and :meth:`Journal.flush` writes them together (before
anything that must follow them: a submit, the session's commit). A restarted loop loads the journal
from the store once. Orders that end (filled, expired, cancelled, rejected) are handed out as rows
for the session folder's ``orders.csv``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd

from stockbot.live.store import LiveStore, now

OPEN = ("intent", "submitted", "accepted", "unknown")
ENDS = ("filled", "expired", "cancelled", "rejected")


class Journal:
    def __init__(self, store: LiveStore, session_id: str) -> None:
        self.store = store
        self.session_id = session_id
        self.docs: dict[str, dict[str, Any]] = {d["_id"]: d for d in store.session_orders(session_id)}
        # what an earlier process journaled: it may have sent any of these before it died
        self.inherited = set(self.docs)
        self._pending: dict[str, dict[str, Any]] = {}  # client id -> fields to $set
        self.ended: list[dict[str, Any]] = []  # orders that ended since the last take_ended()
        self.bar: pd.Timestamp | None = None  # the session's bar now (recorded with an order's end)

    def get(self, client_order_id: str) -> dict[str, Any] | None:
        return self.docs.get(client_order_id)

    def status(self, client_order_id: str) -> str | None:
        doc = self.docs.get(client_order_id)
        return None if doc is None else str(doc["status"])

    def is_open(self, client_order_id: str) -> bool:
        return self.status(client_order_id) in OPEN

    def ended_docs(self) -> list[dict[str, Any]]:
        """The orders that ended, in the order they ended (for rebuilding ``orders.csv``)."""
        done = [d for d in self.docs.values() if d["status"] in ENDS]
        return sorted(done, key=lambda d: (str(d.get("ended_bar")), ended_at(d) or d["created_at"], d["_id"]))

    def open_due(self, when: pd.Timestamp) -> list[dict[str, Any]]:
        """Orders not ended whose fill bar is at or before ``when``, oldest first."""
        return [d for d in self.docs.values() if d["status"] in OPEN and pd.Timestamp(d["fill_time"]) <= when]

    def record(self, orders: Iterable[dict[str, Any]]) -> None:
        """Journal new intents in one write (those journaled already, on a redone bar, stay as they are).
        Changes queued before them are written first, so the store sees every change in the order
        of its ``updated_at`` (readers follow the journal by it)."""
        self.flush()
        new = []
        at = now()
        for order in orders:
            if order["client_order_id"] in self.docs:
                continue
            doc = {
                "_id": order["client_order_id"],
                **order,
                "session_id": self.session_id,
                "status": "intent",
                "created_at": at,
                "updated_at": at,
                "timeline": {"intent": at},
            }
            self.docs[doc["_id"]] = doc
            new.append(doc)
        self.store.journal_many(new)

    def in_doubt(self, client_order_id: str) -> bool:
        """Whether the order may be at the broker without this process knowing: sent or journaled
        by a process that died, or sent with an unknown outcome."""
        status = self.status(client_order_id)
        return status in ("submitted", "unknown") or (
            status == "intent" and client_order_id in self.inherited
        )

    def set(
        self, client_order_id: str, status: str, *, steps: dict[str, dt.datetime] | None = None, **fields: Any
    ) -> None:
        """Change an order's status (queued until :meth:`flush`); ``steps`` adds earlier moments
        of its timeline (when it was submitted, say) in the same write."""
        doc = self.docs[client_order_id]
        at = now()
        stamps = {**(steps or {}), status: at}
        doc["status"] = status
        doc.setdefault("timeline", {}).update(stamps)
        doc["updated_at"] = at
        if status in ENDS and self.bar is not None:
            fields = {"ended_bar": self.bar.isoformat(), **fields}
        doc.update(fields)
        queued = self._pending.setdefault(client_order_id, {})
        queued.update({"status": status, "updated_at": at, **fields})
        queued.update({f"timeline.{k}": v for k, v in stamps.items()})
        if status in ENDS:
            self.ended.append(doc)

    def flush(self) -> None:
        if self._pending:
            # stamped as written, so readers that follow updated_at see the writes in order
            at = now()
            for cid, fields in self._pending.items():
                fields["updated_at"] = at
                self.docs[cid]["updated_at"] = at
            self.store.update_orders(self._pending)
            self._pending = {}

    def take_ended(self) -> list[dict[str, Any]]:
        out, self.ended = self.ended, []
        return out


def ended_at(doc: dict[str, Any]) -> dt.datetime | None:
    tl = doc.get("timeline") or {}
    return next((tl[k] for k in ENDS if k in tl), None)
