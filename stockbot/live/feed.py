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
        self._last_at: dt.datetime | None = None
        self._seen_at_last: set[tuple[Any, ...]] = set()  # events at _last_at already sent

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
            self._orders_since = order.get("updated_at") or self._orders_since
        for fill in self.store.fills_recorded(self.id, self._fills_since):
            if fill["_id"] not in self.fills:
                self.fills[fill["_id"]] = fill
                out.fills.append(fill)
            self._fills_since = fill.get("recorded_at") or self._fills_since
        out.events = self._new_events(doc.get("events") or [])
        return out

    def _new_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Events logged after the last one seen (the session keeps only its newest: a reader
        that fell behind gets what is kept, once)."""
        out = []
        for e in events:
            at, key = e.get("at"), (e.get("at"), e.get("bar"), e.get("message"))
            if self._last_at is not None and at is not None and at < self._last_at:
                continue
            if key in self._seen_at_last:
                continue
            out.append(e)
            if at is not None and (self._last_at is None or at > self._last_at):
                self._last_at, self._seen_at_last = at, set()
            self._seen_at_last.add(key)
        return out
