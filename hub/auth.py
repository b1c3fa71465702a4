"""NativeAuthenticator on JupyterHub 6.

nativeauthenticator 1.3.0 times logins with ``BaseHandler.statsd``, which JupyterHub 6 removed (every
login POST failed with ``AttributeError: 'LoginHandler' object has no attribute 'statsd'``), and
its ``_render`` does not take the ``sync`` argument JupyterHub 6 passes when it renders an error
page during a login POST. This module swaps in a login handler that provides both; everything else
is NativeAuthenticator's own (passwords, sign-up with admin approval, lock-out).
"""

from __future__ import annotations

from typing import Any

from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LoginHandler as NativeLoginHandler


class _Timer:
    def start(self) -> _Timer:
        return self

    def stop(self, send: bool = True) -> None:
        return None


class _NoStatsd:
    """The part of a statsd client nativeauthenticator uses, doing nothing."""

    def timer(self, name: str) -> _Timer:
        return _Timer()


class LoginHandler(NativeLoginHandler):
    statsd = _NoStatsd()
    _sync_render = False

    def _render(self, login_error: str | None = None, username: str | None = None, **kwargs: Any) -> Any:
        # JupyterHub 6 calls _render(sync=True, message=..., ...) for error pages of a login POST
        self._sync_render = bool(kwargs.get("sync"))
        try:
            return super()._render(login_error=login_error, username=username)
        finally:
            self._sync_render = False

    def render_template(self, name: str, sync: bool = False, **ns: Any) -> Any:
        return super().render_template(name, sync=sync or self._sync_render, **ns)


class StockBotAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with the JupyterHub 6 login handler above."""

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [
            (path, LoginHandler if path == r"/login" else handler)
            for path, handler in super().get_handlers(app)
        ]
