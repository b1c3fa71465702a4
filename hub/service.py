"""The StockBot hub service: one Panel server for the dashboards, the JSON API and the log streams.

JupyterHub starts it (``python -m hub.service``, see ``hub/config.py``) with the ``JUPYTERHUB_*``
environment of a managed service; it listens on loopback and is reached through the hub's proxy at
``/services/stockbot/``. Pages, API routes and streams all authenticate through JupyterHub.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bokeh.server.auth_provider import AuthProvider
from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado.web import RedirectHandler

from hub.api import routes
from hub.identity import hub_auth, page_user, public_prefix

log = logging.getLogger("stockbot.service")


class HubAuthProvider(AuthProvider):
    """Bokeh's hook for page requests, answered by JupyterHub (see ``hub.identity.page_user``)."""

    @property
    def get_user_async(self) -> Any:
        return page_user

    @property
    def get_login_url(self) -> Any:
        # unused: page_user redirects to the hub itself, with an absolute URL
        return lambda handler: hub_auth().login_url


def service_url() -> tuple[str, int]:
    url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8002"))
    return url.hostname or "127.0.0.1", url.port or 8002


def _cookie_secret() -> str:
    """The secret signing the service's cookies, kept with the hub's state so a restart of the
    service does not log everyone out."""
    from hub.config import secret_file
    from stockbot.paths import stockbot_home

    (stockbot_home() / "hub").mkdir(parents=True, exist_ok=True)
    return secret_file(stockbot_home() / "hub" / "service_cookie_secret")


def pid_file() -> Path:
    """Where the running service records its pid (``make run`` ends it if the hub could not)."""
    from stockbot.paths import stockbot_home

    return stockbot_home() / "hub" / "service.pid"


def serve() -> None:
    """Serve until SIGTERM/SIGINT."""
    import panel as pn

    from dashboards import INCLUDE_HEADERS, PAGES
    from hub.static import routes as library_routes
    from stockbot.jobs import ensure_executor
    from stockbot.live.control import real_money_refusal
    from stockbot.store.server import ensure_store
    from stockbot.store.tokens import crypt_key

    crypt_key()  # no key, no service: broker credentials are never stored in clear
    if not os.environ.get("STOCKBOT_MONGO_URI"):
        ensure_store()
    ensure_executor()
    host, port = service_url()
    prefix = public_prefix().rstrip("/")
    origins = [h.strip() for h in os.environ.get("STOCKBOT_PUBLIC_HOSTS", "127.0.0.1:8000").split(",") if h]
    extra = [
        *routes(),
        # BokehJS and Panel for the reports' charts, without login (see hub.static for why)
        *library_routes(),
        (r"/oauth_callback", HubOAuthCallbackHandler),
        (r"/?", RedirectHandler, {"url": f"{prefix}/dashboard"}),
    ]
    pid_file().write_text(str(os.getpid()))
    log.info("StockBot service on http://%s:%d%s/ (public hosts %s)", host, port, prefix, origins)
    refusal = real_money_refusal()
    log.info("live (real-money) broker accounts: %s", f"refused: {refusal}" if refusal else "allowed")
    pn.serve(
        PAGES,
        port=port,
        address=host,
        prefix=prefix,
        websocket_origin=origins,
        extra_patterns=extra,
        auth_provider=HubAuthProvider(),
        cookie_secret=_cookie_secret(),
        # the session token is readable by page JavaScript: it carries the hub's answer about the
        # user and nothing else (never the hub cookie or an Authorization header)
        include_headers=INCLUDE_HEADERS,
        include_cookies=[],
        sign_sessions=True,
        secret_key=secrets.token_urlsafe(32).encode(),
        # sessions are never shared between users (Panel's reuse_sessions keys them by path)
        reuse_sessions=False,
        # page callbacks (store reads, validation that reads a data file) run in threads, so they
        # never stall the API and the streams on the event loop
        num_threads=4,
        show=False,
        title="StockBot",
        start=True,
    )


class RedactQuery(logging.Filter):
    """Log lines of the web server (access and errors) without the values of an OAuth return's
    ``code`` and ``state`` (or a token's): the broker sends them in the callback's query string."""

    SECRET = re.compile(r"\b(code|state|token|access_token|refresh_token)=[^&\s'\")]*")

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        redacted = self.SECRET.sub(r"\1=[redacted]", text)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


def main() -> None:
    from stockbot.paths import private_umask

    private_umask()  # cookie secrets, cached reports and the daemons it starts stay private
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(name)s %(levelname)s] %(message)s")
    for name in ("tornado.access", "tornado.application", "tornado.general"):
        logging.getLogger(name).addFilter(RedactQuery())
    # a hub started from a non-interactive shell ignores SIGINT, and its services inherit that
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve()


if __name__ == "__main__":
    main()
