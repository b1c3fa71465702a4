"""Who is asking: every request to the service is authenticated by JupyterHub (HubOAuth).

Browsers carry the service's OAuth cookie (set by ``/oauth_callback`` after the hub's login); API
clients send ``Authorization: token <hub token>``. The hub's answer names the user and says whether
they are an admin.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from jupyterhub.services.auth import HubOAuth, check_scopes
from tornado.httputil import url_concat
from tornado.web import Finish, HTTPError, RequestHandler
from tornado.websocket import WebSocketHandler

from stockbot.access import USER_HEADER, Viewer

log = logging.getLogger(__name__)


def hub_auth() -> HubOAuth:
    """The process's HubOAuth (configured from the ``JUPYTERHUB_*`` environment of the service)."""
    auth = HubOAuth.instance()
    # checks of a token are cached for 60 s: a revoked token keeps working that long
    auth.cache_max_age = 60
    return auth


async def authenticate(handler: RequestHandler) -> Viewer | None:
    """The hub user of a request with access to this service, or None (unknown or not allowed)."""
    auth = hub_auth()
    model = await auth.get_user(handler, sync=False)
    if not model or model.get("kind", "user") != "user":
        return None
    if auth.access_scopes and not check_scopes(auth.access_scopes, set(model.get("scopes", ()))):
        log.warning("user %s has no access scope for this service", model["name"])
        return None
    # the hub's answer for the token's owner always carries the admin flag (its identify scopes)
    try:
        return Viewer(model["name"], bool(model.get("admin", False)))
    except PermissionError:  # a name that could not be a folder name
        log.warning("refusing hub user %r", model["name"])
        return None


def xsrf_refusal(handler: RequestHandler) -> str | None:
    """Why a request carrying a valid service cookie was not authenticated, when the reason is its
    XSRF token (JupyterHub then ignores the cookie without saying so); None otherwise.

    Only requests that change something need the token; a cookie that is not ours (unsigned,
    forged, from another secret) is a bad login, not an XSRF problem."""
    if handler.request.method in ("GET", "HEAD", "OPTIONS") or handler.request.headers.get("Authorization"):
        return None
    if not handler.get_secure_cookie(hub_auth().cookie_name):
        return None
    try:
        handler.check_xsrf_cookie()
    except HTTPError as e:
        sent = handler.get_argument("_xsrf", None) or handler.request.headers.get("X-XSRFToken")
        what = "does not match this login's" if sent else "is missing"
        return (
            f"the XSRF token {what}: a logged-in browser's {handler.request.method} must send the "
            "X-XSRFToken header with the value of the _xsrf cookie (GET api/auth/me sets it), or "
            f"authenticate with 'Authorization: token <hub token>' instead ({e.log_message})"
        )
    return None


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
