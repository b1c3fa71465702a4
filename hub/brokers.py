"""Connecting a broker account (DESIGN.md §7): OAuth 2 flows run by the service, tokens kept
encrypted in the store, never shown.

- ``GET api/broker/{alpaca|schwab}/auth``: start a flow for the logged-in hub user: a one-use
  ``state`` bound to them (and a PKCE verifier where the broker takes one), then a redirect to the
  broker's consent page. The provider's endpoints, client and redirect URL come from settings.
- ``GET api/broker/{broker}/callback``: the broker sends the browser back here. The state is used up
  first, then checked (it must be this user's flow for this broker), then the code is exchanged;
  any refusal (forged or replayed state, another user's flow, no code, the broker's error) is a 400
  with the reason, and nothing is stored. On success: a redirect to ``settings/brokers``.
- ``GET api/broker/status``: each broker, connected or not, with what may be shown (a masked
  account, paper or live, expiry, last refresh and error).
- ``GET api/broker/{broker}/token``: a current access token of the caller's connection (the service
  is the only refresher), for notebooks and sessions.
- ``GET api/broker/{broker}/account``: the caller's account (cash, equity, positions) and the
  orders of their sessions on it, read by the service with the stored credentials (notebooks:
  :func:`stockbot.brokers.connect`).
- ``DELETE api/broker/{broker}``: disconnect: the caller's sessions on it stop first (each cancels
  its open orders), then the stored credentials go.
"""

from __future__ import annotations

import datetime as dt
import logging

from tornado.web import RequestHandler

from hub.base import APIHandler, plain
from hub.deps import flow_states, live_store, tokens
from hub.identity import public_prefix
from stockbot.brokers.base import AuthExpiredError, BrokerError
from stockbot.brokers.credentials import access_token
from stockbot.brokers.oauth import exchange, provider
from stockbot.errors import ConfigError, StoreError
from stockbot.live.control import disconnect, real_money_refusal
from stockbot.store.tokens import BROKERS

log = logging.getLogger(__name__)
BROKER = rf"({'|'.join(BROKERS)})"
SCHWAB_REFRESH_DAYS = 7  # a Schwab refresh token lasts about 7 days from the login, refreshing or not


class AuthHandler(APIHandler):
    async def get(self, broker: str) -> None:
        try:
            p = await self.call(provider, broker)
        except ConfigError as e:
            self.fail(422, str(e))
        url = await self.call(flow_states().start, self.user.name, p)
        log.info("%s is connecting %s", self.user.name, broker)
        self.redirect(url)


class CallbackHandler(APIHandler):
    async def get(self, broker: str) -> None:
        state = self.get_query_argument("state", None)
        try:
            verifier = await self.call(flow_states().finish, self.user.name, broker, state)
            error = self.get_query_argument("error", None)
            if error:
                why = self.get_query_argument("error_description", None) or error
                raise ConfigError(f"{broker} did not connect the account: {why}")
            code = self.get_query_argument("code", None)
            if not code:
                raise ConfigError(f"the return from {broker} has no code: start connecting again")
            p = await self.call(provider, broker)
            granted = await self.call(exchange, p, code, verifier)
        except ConfigError as e:
            log.warning("%s: a return from %s was refused: %s", self.user.name, broker, e)
            self.fail(400, str(e))
        except BrokerError as e:
            log.warning("%s: %s", self.user.name, e)
            self.fail(502, str(e))
        await self.call(_keep, self.user.name, broker, granted)
        log.info("%s connected %s", self.user.name, broker)
        self.redirect(f"{public_prefix().rstrip('/')}/settings/brokers?connected={broker}")


def _keep(owner: str, broker: str, granted: dict) -> None:  # type: ignore[type-arg]
    issued = dt.datetime.fromisoformat(granted["issued_at"])
    refresh_expires = None
    if broker == "schwab":
        refresh_expires = (issued + dt.timedelta(days=SCHWAB_REFRESH_DAYS)).isoformat()
    tokens().put(
        owner,
        broker,
        "oauth",
        granted,
        # Alpaca's token may be for a paper or a live account: not known until it is used
        paper=None if broker == "alpaca" else False,
        expires_at=granted.get("expires_at"),
        refresh_expires_at=refresh_expires,
        refreshed_at=granted["issued_at"],
        last_error=None,
    )


class StatusHandler(APIHandler):
    async def get(self) -> None:
        out = []
        for broker in BROKERS:
            shown = await self.call(tokens().public, self.user.name, broker)
            out.append({"broker": broker, "connected": shown is not None, **plain(shown or {})})
        refusal = real_money_refusal()
        self.write({"brokers": out, "real_money": {"allowed": refusal is None, "reason": refusal}})


class TokenHandler(APIHandler):
    """``GET api/broker/{broker}/token``: a current access token of the caller's own connection
    (refreshed here when due) for their notebooks and sessions; never the refresh token or the
    app's secret. 409 with what to do when there is none."""

    async def get(self, broker: str) -> None:
        try:
            current = await self.call(
                access_token, tokens(), self.user.name, broker, lambda: provider(broker)
            )
        except (AuthExpiredError, ConfigError, StoreError) as e:
            self.fail(409, str(e))
        except BrokerError as e:  # the broker could not answer now
            self.set_header("Retry-After", "10")
            self.fail(503, str(e))
        self.write({"broker": broker, **current})


class AccountHandler(APIHandler):
    """``GET api/broker/{broker}/account``: the caller's account as the broker reports it (cash,
    equity, positions) and the orders of their sessions on it; the credentials stay here."""

    async def get(self, broker: str) -> None:
        from stockbot.brokers.accounts import account_view  # the broker SDKs load when first asked

        try:
            view = await self.call(account_view, tokens(), self.user.name, broker, live_store())
        except (AuthExpiredError, ConfigError, StoreError) as e:
            self.fail(409, str(e))
        except BrokerError as e:
            self.set_header("Retry-After", "10")
            self.fail(503, str(e))
        self.write(plain(view))


class DisconnectHandler(APIHandler):
    async def delete(self, broker: str) -> None:
        """The owner's sessions on the account stop first (cancelling their open orders), then
        the stored credentials go."""
        done = await self.call(disconnect, self.user.name, broker, tokens(), store=live_store())
        log.info("%s disconnected %s (sessions stopped: %s)", self.user.name, broker, done["stopped"])
        self.write(done)


def broker_routes() -> list[tuple[str, type[RequestHandler]]]:
    return [
        (r"/api/broker/status", StatusHandler),
        (rf"/api/broker/{BROKER}/auth", AuthHandler),
        (rf"/api/broker/{BROKER}/callback", CallbackHandler),
        (rf"/api/broker/{BROKER}/token", TokenHandler),
        (rf"/api/broker/{BROKER}/account", AccountHandler),
        (rf"/api/broker/{BROKER}", DisconnectHandler),
    ]
