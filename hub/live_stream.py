"""``api/live/{id}/stream``: a WebSocket of a live session as it trades.

Messages are JSON, sent as they happen: ``{"type": "state", ...}`` (the session's status, its
engine and risk state and the account view, whenever they change), ``{"type": "order", ...}``
(an order when it is journaled and at every change of its status), ``{"type": "fill", ...}`` (each
fill once) and ``{"type": "event", "at", "bar", "message"}`` (the session's log). A new socket
gets the current state, the session's orders and fills so far and its kept events first. The
socket closes after the last state of a session that ended. Authentication happens before the
upgrade, as for every API route; another user's session answers 404.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hub.base import JSONStream, jsonable, plain
from hub.deps import live_store
from stockbot.live.control import status
from stockbot.live.feed import SessionFeed
from stockbot.live.store import SESSION_ID

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


def messages(
    feed: SessionFeed, last_state: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None, bool]:
    """The stream's messages of one poll of ``feed``, the state now, and whether the session ended."""
    changes = feed.poll()
    if changes.session is None:
        return [], last_state, True
    out: list[dict[str, Any]] = [{"type": "order", **jsonable(o)} for o in changes.orders]
    out += [{"type": "fill", **jsonable(f)} for f in changes.fills]
    out += [{"type": "event", **plain(e)} for e in changes.events]
    doc = changes.session
    state = jsonable({"_id": doc["_id"], **status(doc), "view": doc.get("view")})
    if _changed(state, last_state):
        out.append({"type": "state", **state})
        last_state = state
    return out, last_state, changes.ended


TICKING = ("heartbeat_age",)  # moves every poll: a change of it alone is no news


def _changed(state: dict[str, Any], last: dict[str, Any] | None) -> bool:
    if last is None:
        return True
    return {k: v for k, v in state.items() if k not in TICKING} != {
        k: v for k, v in last.items() if k not in TICKING
    }


class LiveStreamHandler(JSONStream):
    what = "live session"
    done = "session ended"

    async def find(self, key: str) -> dict[str, Any] | None:
        if SESSION_ID.fullmatch(key) is None:
            return None
        return await asyncio.to_thread(live_store().public, key)

    async def follow(self) -> None:
        feed = SessionFeed(live_store(), self.key)
        state = None
        while True:
            out, state, ended = await asyncio.to_thread(messages, feed, state)
            for message in out:
                await self.send(message)
            if ended:
                return
            await asyncio.sleep(POLL_SECONDS)
