"""A user's broker account from their own notebook, through the StockBot service (which keeps the
credentials: a notebook never holds an API secret or a refresh token)::

    from stockbot.brokers import connect
    alpaca = connect("alpaca")
    alpaca.account()      # cash and equity, as the broker reports them now
    alpaca.positions()    # {"AAPL": 12.0, ...}
    alpaca.orders()       # the orders of your live sessions on this account
    alpaca.access_token() # a current OAuth access token (signed-in connections only), e.g. for a
                          # data client; the service refreshes it

Inside a hub user's server the service's address and the server's token are in the environment
(``STOCKBOT_SERVICE_URL``, ``JUPYTERHUB_API_TOKEN``); elsewhere pass them.
"""

from __future__ import annotations

import os
from typing import Any

from stockbot.brokers.base import AuthExpiredError, BrokerAccount, TemporaryError
from stockbot.errors import ConfigError
from stockbot.store.tokens import BROKERS


class ServiceAccount:
    def __init__(self, broker: str, url: str, token: str, timeout: float = 30.0) -> None:
        import requests

        if broker not in BROKERS:
            raise ConfigError(f"unknown broker {broker!r}; use one of {', '.join(BROKERS)}")
        self.broker = broker
        self.url = url.rstrip("/") + "/"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"
        self.timeout = timeout

    def _get(self, what: str) -> dict[str, Any]:
        import requests

        try:
            resp = self.http.get(f"{self.url}api/broker/{self.broker}/{what}", timeout=self.timeout)
        except requests.RequestException as e:
            raise TemporaryError(f"the StockBot service at {self.url} did not answer: {e}") from e
        try:
            body = resp.json()
        except ValueError:
            body = {"error": resp.text[:300]}
        if resp.status_code == 409:
            raise AuthExpiredError(str(body.get("error")))
        if resp.status_code >= 400:
            raise TemporaryError(f"{self.broker} {what}: {resp.status_code} {body.get('error')}")
        return dict(body)

    def snapshot(self) -> dict[str, Any]:
        """Cash, equity, positions and your sessions' orders in one call."""
        return self._get("account")

    def account(self) -> BrokerAccount:
        view = self.snapshot()
        return BrokerAccount(cash=float(view["cash"]), equity=float(view["equity"]))

    def positions(self) -> dict[str, float]:
        return {s: float(q) for s, q in self.snapshot()["positions"].items()}

    def orders(self) -> list[dict[str, Any]]:
        return list(self.snapshot()["orders"])

    def access_token(self) -> str:
        """A current access token of a signed-in (OAuth) connection; never the refresh token."""
        return str(self._get("token")["access_token"])


def connect(broker: str, *, url: str | None = None, token: str | None = None) -> ServiceAccount:
    """Your ``broker`` account through the service (see the module's docstring)."""
    url = url or os.environ.get("STOCKBOT_SERVICE_URL")
    token = token or os.environ.get("JUPYTERHUB_API_TOKEN")
    if not url or not token:
        raise ConfigError(
            "connect() runs in your hub server (STOCKBOT_SERVICE_URL and JUPYTERHUB_API_TOKEN are set "
            "there); elsewhere pass url= and token="
        )
    return ServiceAccount(broker, url, token)
