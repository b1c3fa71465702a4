"""What changed in a live session since the last look: the one reader the service's stream and the
``/live`` page share. Each :meth:`SessionFeed.poll` reads the session (without the loop's saved
state), the orders journaled or updated since the last poll, the fills recorded since, and the
events logged since, so a watcher's cost follows what happened, not the session's age."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from stockbot.live.store import ENDED, LiveStore


@dataclass
class Changes:
    """One poll's news: the session (None: gone), and the orders, fills and events new to this feed."""

    session: dict[str, Any] | None
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.session is None or self.session["status"] in ENDED


class SessionFeed:
    """A reader of one session that remembers what it has seen (orders by status, fills by id)."""

    def __init__(self, store: LiveStore, session_id: str) -> None:
        self.store = store
        self.id = session_id
        self.orders: dict[str, dict[str, Any]] = {}  # every order seen, as last seen
        self.fills: dict[str, dict[str, Any]] = {}  # every fill seen
        self._order_keys: dict[str, tuple[Any, ...]] = {}
        self._orders_since: dt.datetime | None = None
        self._fills_since: dt.datetime | None = None
        self._last_event: tuple[Any, ...] | None = None

    def poll(self) -> Changes:
        doc = self.store.public(self.id)
        if doc is None:
            return Changes(None)
        out = Changes(doc)
        # the loop writes in order: a change at or after the last one seen is new or a repeat
        for order in self.store.orders_changed(self.id, self._orders_since):
            key = (order.get("status"), order.get("filled_quantity"), order.get("message"))
            if self._order_keys.get(order["_id"]) != key:
                self._order_keys[order["_id"]] = key
                self.orders[order["_id"]] = order
                out.orders.append(order)
            self._orders_since = order["updated_at"]
        for fill in self.store.fills_recorded(self.id, self._fills_since):
            if fill["_id"] not in self.fills:
                self.fills[fill["_id"]] = fill
                out.fills.append(fill)
            self._fills_since = fill["recorded_at"]
        out.events = self._new_events(doc.get("events") or [])
        return out

    def _new_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = [(e.get("at"), e.get("bar"), e.get("message")) for e in events]
        start = 0
        if self._last_event is not None:
            # the session keeps its newest events only: start after the last one seen
            start = next((i + 1 for i in range(len(keys) - 1, -1, -1) if keys[i] == self._last_event), 0)
        if keys:
            self._last_event = keys[-1]
        return events[start:]
