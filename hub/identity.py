"""Who is asking: every request to the service is authenticated by JupyterHub (HubOAuth).

Browsers carry the service's OAuth cookie (set by ``/oauth_callback`` after the hub's login); API
clients send ``Authorization: token <hub token>``. Whether the hub's answer says if the user is an
admin depends on the token's scopes; when it does not, admin status is read from the hub's user API
with the service's own token (its role has ``read:users``, see ``hub/config.py``), cached for 30 s.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from jupyterhub.services.auth import HubOAuth, check_scopes
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import url_concat
from tornado.web import Finish, RequestHandler
from tornado.websocket import WebSocketHandler

log = logging.getLogger(__name__)

USER_HEADER = "X-StockBot-User"
_ADMIN_TTL = 30.0


@dataclass(frozen=True)
class HubUser:
    name: str
    admin: bool

    def header(self) -> str:
        return json.dumps({"name": self.name, "admin": self.admin})


def hub_auth() -> HubOAuth:
    """The process's HubOAuth (configured from the ``JUPYTERHUB_*`` environment of the service)."""
    auth = HubOAuth.instance()
    # checks of a token are cached for 60 s: a revoked token keeps working that long
    auth.cache_max_age = 60
    return auth


class AdminCache:
    """Admin flags from the hub's REST API, asked with the service's token and kept for 30 s."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, bool]] = {}

    async def is_admin(self, name: str, model: dict[str, Any]) -> bool:
        if "admin" in model:
            return bool(model["admin"])
        hit = self._seen.get(name)
        if hit and time.monotonic() - hit[0] < _ADMIN_TTL:
            return hit[1]
        auth = hub_auth()
        req = HTTPRequest(
            f"{auth.api_url}/users/{name}",
            headers={"Authorization": f"token {auth.api_token}"},
            request_timeout=10,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
            admin = bool(json.loads(resp.body).get("admin", False))
        except HTTPClientError as e:
            log.warning("could not read the hub's user %s (%s); treating as a non-admin", name, e)
            admin = False
        self._seen[name] = (time.monotonic(), admin)
        return admin


ADMINS = AdminCache()


async def authenticate(handler: RequestHandler) -> HubUser | None:
    """The hub user of a request with access to this service, or None (unknown or not allowed)."""
    auth = hub_auth()
    model = await auth.get_user(handler, sync=False)
    if not model or model.get("kind", "user") != "user":
        return None
    if auth.access_scopes and not check_scopes(auth.access_scopes, set(model.get("scopes", ()))):
        log.warning("user %s has no access scope for this service", model["name"])
        return None
    return HubUser(model["name"], await ADMINS.is_admin(model["name"], model))


def login_redirect(handler: RequestHandler) -> None:
    """Send a browser to the hub's login (an absolute URL: Panel would make it relative)."""
    auth = hub_auth()
    params: dict[str, str] = {}
    verifier = None
    if auth.pkce_enabled:
        verifier, challenge, method = auth.generate_pkce_code_challenge()
        params.update(code_challenge=challenge, code_challenge_method=method)
    params["state"] = auth.set_state_cookie(handler, next_url=handler.request.uri, code_verifier=verifier)
    handler.redirect(url_concat(auth.login_url, params))
    raise Finish()


def public_prefix() -> str:
    return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/stockbot/")


async def page_user(handler: RequestHandler) -> dict[str, Any] | None:
    """Bokeh's ``get_user_async`` for the dashboard pages.

    Pages learn the user from the ``X-StockBot-User`` header of their (signed) session token, set
    here from the hub's answer and never from the client's request."""
    user = await authenticate(handler)
    if user is None:
        handler.request.headers.pop(USER_HEADER, None)
        if isinstance(handler, WebSocketHandler) or handler.request.method != "GET":
            return None
        login_redirect(handler)
    handler.request.headers[USER_HEADER] = user.header()  # type: ignore[union-attr]
    return {"name": user.name, "admin": user.admin}  # type: ignore[union-attr]
