"""NativeAuthenticator on JupyterHub 6.

nativeauthenticator 1.3.0 times logins with ``BaseHandler.statsd``, which JupyterHub 6 removed (every
login POST failed with ``AttributeError: 'LoginHandler' object has no attribute 'statsd'``), and
its ``_render`` does not take the ``sync`` argument JupyterHub 6 passes when it renders an error
page during a login POST. This module swaps in a login handler that provides both; everything else
is NativeAuthenticator's own (passwords, sign-up with admin approval, lock-out).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import secrets
import sys
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
        if login_error and username and self.request.method == "POST":
            # NativeAuthenticator refuses a locked account as if the password were wrong
            login_error = lockout_message(self.authenticator, username) or login_error
        try:
            return super()._render(login_error=login_error, username=username)
        finally:
            self._sync_render = False

    def render_template(self, name: str, sync: bool = False, **ns: Any) -> Any:
        return super().render_template(name, sync=sync or self._sync_render, **ns)


def lockout_message(authenticator: Any, username: str) -> str | None:
    """What a locked-out name is told at login (NativeAuthenticator says only "invalid username or
    password", so a person keeps typing the right password into a locked account); None when
    ``username`` is not locked. Names without an account lock the same way (see
    :meth:`StockBotAuthenticator.authenticate`), so the message reveals nothing about who exists."""
    name = authenticator.normalize_username(username)
    if not authenticator.allowed_failed_logins or not authenticator.is_blocked(name):
        return None
    attempts = authenticator.login_attempts[name]
    until = attempts["time"] + dt.timedelta(seconds=authenticator.seconds_before_next_try)
    minutes = max(1, math.ceil((until - dt.datetime.now()).total_seconds() / 60))
    return (
        f"This account is locked for {minutes} more minute{'s' if minutes != 1 else ''} after "
        f"{attempts['count']} failed logins (until {until:%H:%M} on the hub's clock). Wait, then try "
        "again; an admin can help if you forgot the password."
    )


class StockBotAuthenticator(NativeAuthenticator):
    """NativeAuthenticator with the JupyterHub 6 login handler above, and an admin account made at
    the first start (so nobody else can sign up under the admin's name first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ensure_admins()

    def ensure_admins(self) -> None:
        """Create each admin account that does not exist yet: password ``STOCKBOT_ADMIN_PASSWORD``,
        or a random one printed once to the terminal (never to the hub's log)."""
        for name in sorted(self.admin_users):
            if self.user_exists(name):
                continue
            given = os.environ.get("STOCKBOT_ADMIN_PASSWORD")
            password = given or secrets.token_urlsafe(12)
            if not self.is_password_strong(password):
                raise ValueError(
                    f"STOCKBOT_ADMIN_PASSWORD is too weak for NativeAuthenticator (at least "
                    f"{self.minimum_password_length} characters, not a common password)"
                )
            if self.create_user(name, password) is None:
                raise RuntimeError(f"could not create the admin account {name!r}")
            if not given:
                print(
                    f"\n  StockBot admin account created: user {name!r}, password {password}\n"
                    "  (shown once; change it at /hub/change-password)\n",
                    file=sys.stderr,
                    flush=True,
                )

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> str | None:
        """NativeAuthenticator's, except that failed logins of names without an account are counted
        too: otherwise only real accounts would ever be "locked", and the lock-out message would
        tell anyone which names exist."""
        username = self.normalize_username(data.get("username", ""))
        if username and self.get_user(username) is None:
            self.add_login_attempt(username)
            return None
        return await super().authenticate(handler, data)  # type: ignore[no-any-return]

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [
            (path, LoginHandler if path == r"/login" else handler)
            for path, handler in super().get_handlers(app)
        ]
