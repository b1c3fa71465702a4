"""Live sessions through the service (DESIGN.md §6-§7), on :mod:`stockbot.live.control`.

- ``POST api/stockbot/live/start``: the body is a live config (422 with field errors); the session
  belongs to the caller and trades one of the caller's trained runs (``policy.run_id``).
- ``POST api/stockbot/live/stop``: ``{"id": ..., "flatten": false}``.
- ``GET api/stockbot/live/status``: the caller's sessions (an admin's: everyone's, or ``?owner=``);
  ``?id=`` for one.
- Per session: ``GET api/live/{id}`` (the session without the loop's saved state), ``POST
  api/live/{id}/{stop|kill|pause|resume|reconcile}`` (``stop`` takes ``{"flatten": true}``), ``GET
  api/live/{id}/orders`` and ``.../fills``, and the WebSocket ``api/live/{id}/stream``.

The same rules as for runs: another user's session answers 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from tornado.web import RequestHandler

from hub.base import APIHandler, jsonable
from hub.deps import live_store, store
from hub.live_stream import LiveStreamHandler
from stockbot.errors import ConfigError, StockBotError
from stockbot.live.control import request, start_session, status, validate_live
from stockbot.live.store import ACTIONS, ENDED, SESSION_ID

SESSION = r"(live-\d{8}-\d{6}-[0-9a-f]{4})"
MAX_SESSIONS = 200


def session_status(doc: dict[str, Any]) -> dict[str, Any]:
    """What the service answers about a session (:func:`stockbot.live.control.status`), as JSON."""
    return jsonable({"_id": doc["_id"], **status(doc)})


class LiveHandler(APIHandler):
    async def visible_session(self, session_id: str) -> dict[str, Any]:
        """The session (without its saved state) if this user may see it; 404 otherwise."""
        doc = await self.call(live_store().public, session_id) if SESSION_ID.fullmatch(session_id) else None
        if doc is None or not self.user.can_see(doc):
            self.fail(404, f"no live session {session_id!r}")
        return doc  # type: ignore[return-value]

    async def act(self, session_id: str, action: str, **params: Any) -> None:
        doc = await self.visible_session(session_id)
        if doc["status"] in ENDED:
            self.fail(409, f"session {session_id} has {doc['status']}; it takes no more requests")
        try:
            await self.call(request, session_id, action, store=live_store(), by=self.user.name, **params)
        except ConfigError as e:  # it ended between the two reads
            self.fail(409, str(e))
        self.set_status(202)  # the loop honours it within one tick
        after = await self.call(live_store().public, session_id)
        self.write({**session_status(after), "requested": action})  # type: ignore[arg-type]

    def flatten_arg(self) -> bool:
        return self.flag_body("stop request", "flatten", False, also=("id",))


class StartHandler(LiveHandler):
    async def post(self) -> None:
        body = self.body_json()
        try:
            config = await self.call(
                validate_live,
                body,
                runs=store(),
                data_root=self.user.data_root,
                parent_owner=self.user.parent_owner,
            )
            doc = await self.call(start_session, config, self.user.name, store=live_store())
        except ConfigError as e:
            self.fail(422, "invalid live config", errors=e.errors)
        except StockBotError as e:  # bars that cannot be traded (none in the period, bad values)
            self.fail(422, str(e), errors=[{"field": "data", "message": str(e)}])
        self.set_status(201)
        self.write({"session_id": doc["_id"], **session_status(doc)})


class StopHandler(LiveHandler):
    async def post(self) -> None:
        body = self.body_json()
        session_id = body.get("id")
        if not isinstance(session_id, str):
            self.fail(422, "invalid stop request", errors=[{"field": "id", "message": "the session's id"}])
        await self.act(session_id, "stop", flatten=self.flatten_arg())


class StatusHandler(LiveHandler):
    async def get(self) -> None:
        one = self.get_query_argument("id", None)
        if one is not None:
            self.write(session_status(await self.visible_session(one)))
            return
        owner = self.get_query_argument("owner", None)
        if not self.user.admin:
            if owner not in (None, self.user.name):
                self.fail(403, "only admins may list other users' sessions")
            owner = self.user.name
        docs = await self.call(live_store().list, owner, MAX_SESSIONS)
        self.write({"sessions": [session_status(d) for d in docs]})


class SessionHandler(LiveHandler):
    async def get(self, session_id: str) -> None:
        self.write(jsonable(await self.visible_session(session_id)))


class ActionHandler(LiveHandler):
    async def post(self, session_id: str, action: str) -> None:
        if action == "stop":
            await self.act(session_id, "stop", flatten=self.flatten_arg())
        else:
            await self.act(session_id, action)


class OrdersHandler(LiveHandler):
    async def get(self, session_id: str) -> None:
        await self.visible_session(session_id)
        docs = await self.call(live_store().session_orders, session_id)
        self.write({"session_id": session_id, "orders": [jsonable(d) for d in docs]})


class FillsHandler(LiveHandler):
    async def get(self, session_id: str) -> None:
        await self.visible_session(session_id)
        docs = await self.call(live_store().session_fills, session_id)
        self.write({"session_id": session_id, "fills": [jsonable(d) for d in docs]})


def live_routes() -> list[tuple[str, type[RequestHandler]]]:
    actions = "|".join(ACTIONS)
    return [
        (r"/api/stockbot/live/start", StartHandler),
        (r"/api/stockbot/live/stop", StopHandler),
        (r"/api/stockbot/live/status", StatusHandler),
        (rf"/api/live/{SESSION}", SessionHandler),
        (rf"/api/live/{SESSION}/({actions})", ActionHandler),
        (rf"/api/live/{SESSION}/orders", OrdersHandler),
        (rf"/api/live/{SESSION}/fills", FillsHandler),
        (rf"/api/live/{SESSION}/stream", LiveStreamHandler),
    ]
