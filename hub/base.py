"""The base of every API route of the service: authentication through JupyterHub, XSRF for cookie
logins, JSON errors, and store calls off the event loop.

Every handler authenticates in an async ``prepare`` and answers 401/403 as JSON (never a redirect).
Another user's run or session answers 404, the same as one that does not exist.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from jupyterhub.services.auth import HubOAuthenticated
from pymongo.errors import ConnectionFailure
from tornado.web import Finish, HTTPError, RequestHandler
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from hub.deps import store
from hub.identity import authenticate, xsrf_refusal
from stockbot.access import Viewer
from stockbot.jobs.kinds import RUN_ID

log = logging.getLogger(__name__)
T = TypeVar("T")


def plain(value: Any) -> Any:
    """A stored value as JSON: datetimes ISO 8601 in UTC, inside dicts and lists too."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dict):
        return {k: plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [plain(x) for x in value]
    return value


def jsonable(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document (a run, a session, an order) as JSON: ``_id`` becomes ``id``."""
    return {"id": doc["_id"], **{k: plain(v) for k, v in doc.items() if k != "_id"}}


class APIHandler(HubOAuthenticated, RequestHandler):
    """Base of every API route: authentication, XSRF, JSON errors, store calls off the event loop."""

    user: Viewer

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        user = await authenticate(self)
        if user is None:
            refusal = xsrf_refusal(self)
            if refusal:
                self.fail(403, refusal)
            has_credentials = bool(self.request.headers.get("Authorization") or self.request.cookies)
            if has_credentials:
                self.fail(403, "not authenticated for the StockBot service: that token or login is not valid")
            self.fail(401, "not authenticated: log in to the hub or send 'Authorization: token <hub token>'")
        self.user = user  # type: ignore[assignment]
        self.current_user = user
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            # JupyterHub's check: skipped for token-authenticated requests, required for cookies
            self.check_xsrf_cookie()

    def fail(self, status: int, message: str, **extra: Any) -> None:
        self.set_status(status)
        self.finish(json.dumps({"error": message, **extra}))
        raise Finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": message}))

    def body_json(self) -> dict[str, Any]:
        """The request's JSON object. A body is required: ``{}`` asks for the defaults on purpose,
        while no body at all is a mistake (for a training, the defaults are a long job)."""
        if not self.request.body.strip():
            self.fail(400, "the request needs a JSON object as its body: send {} to use every default")
        try:
            body = json.loads(self.request.body)
        except ValueError as e:
            self.fail(400, f"the body is not JSON: {e}")
        if not isinstance(body, dict):
            self.fail(400, f"the body must be a JSON object, got {type(body).__name__}")
        return body

    def flag_body(self, what: str, flag: str, default: bool, *, also: tuple[str, ...] = ()) -> bool:
        """The true/false ``flag`` of a small optional JSON body (``also``: other keys the route
        reads itself); 422 naming a key it does not know or a value that is not a boolean."""
        body = self.body_json() if self.request.body.strip() else {}
        unknown = sorted(set(body) - {flag, *also})
        if unknown:
            self.fail(
                422,
                f"invalid {what}",
                errors=[{"field": k, "message": f"unknown key; valid keys here: {flag}"} for k in unknown],
            )
        value = body.get(flag, default)
        if not isinstance(value, bool):
            self.fail(
                422,
                f"invalid {what}",
                errors=[{"field": flag, "message": f"must be true or false, got {value!r}"}],
            )
        return value

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """A blocking store or file call, run in a thread (the event loop serves everyone). A store
        that cannot be reached (it restarts within seconds under ``make run``) answers 503."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ConnectionFailure as e:
            log.warning("the store is unreachable: %s", e)
            self.set_header("Retry-After", "5")
            self.fail(503, "the run store cannot be reached right now; try again in a few seconds")
            raise  # fail() always raises Finish; this keeps type checkers content

    async def visible_run(self, run_id: str) -> dict[str, Any]:
        """The run if this user may see it (owner or admin); 404 otherwise, whether or not it exists."""
        doc = await self.call(store().get, run_id) if RUN_ID.match(run_id) else None
        if doc is None or not self.user.can_see(doc):
            self.fail(404, f"no run {run_id!r}")
        return doc  # type: ignore[return-value]

    def choice_arg(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self.get_query_argument(name, default)
        if raw not in choices:
            self.fail(400, f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return raw

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get_query_argument(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            self.fail(400, f"{name} must be an integer from {low} to {high}, got {raw!r}")
        if not low <= value <= high:
            self.fail(400, f"{name} must be from {low} to {high}, got {value}")
        return value


class JSONStream(HubOAuthenticated, WebSocketHandler):
    """Base of the service's one-way WebSocket streams of JSON messages. Authentication happens
    before the upgrade, as for every API route; another user's run or session answers 404, like one
    that does not exist. Subclasses :meth:`find` what they follow and :meth:`follow` it, sending
    with :meth:`send`; the socket closes (1000, :attr:`done`) when ``follow`` returns."""

    what = "thing"  # named in the 404
    done = "finished"
    user: Viewer | None = None
    key: str = ""

    async def prepare(self) -> None:
        user = await authenticate(self)
        if user is None:
            self.set_status(401 if not self.request.headers.get("Authorization") else 403)
            self.finish(json.dumps({"error": "not authenticated for the StockBot service"}))
            return
        self.user = user

    async def find(self, key: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def follow(self) -> None:
        raise NotImplementedError

    async def get(self, key: str, *args: Any, **kwargs: Any) -> None:
        doc = await self.find(key)
        if doc is None or self.user is None or not self.user.can_see(doc):
            self.set_status(404)
            self.finish(json.dumps({"error": f"no {self.what} {key!r}"}))
            return
        self.key = key
        await super().get(key, *args, **kwargs)

    def open(self, key: str) -> None:  # type: ignore[override]
        self._task = asyncio.ensure_future(self._pump())

    def on_message(self, message: str | bytes) -> None:
        pass  # one-way: requests are POSTs

    def on_close(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None:
            task.cancel()

    async def send(self, message: dict[str, Any]) -> None:
        await self.write_message(json.dumps(message, default=str))

    async def _pump(self) -> None:
        try:
            await self.follow()
            self.close(1000, self.done)
        except WebSocketClosedError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream of %s %s failed", self.what, self.key)
            self.close(1011, "stream failed")
