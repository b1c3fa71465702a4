"""A broker adapter on a hub user's stored connection (DESIGN.md §7): what a live session's loop
trades through.

The loop is a platform process, inside the same trust boundary as the service (it reads the store),
so it takes the connection from the encrypted :class:`~stockbot.store.tokens.TokenStore` with the
service's own refresher (:func:`stockbot.brokers.credentials.access_token`: one refresh at a time
per user and broker under a lease, rotated refresh tokens saved). It never holds a refresh token or
the app's secret in its clients: a Schwab client gets the current access token before every tick
(:meth:`Connection.renew`), and a login that cannot be renewed raises
:class:`~stockbot.brokers.base.AuthExpiredError`, which stops the session with the reason.

Where the brokers are: their real hosts, unless the admin points them elsewhere (a sandbox, or the
test suite's local stand-ins): :func:`stockbot.brokers.oauth.broker_url`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pymongo.collection import Collection

from stockbot.brokers.alpaca import AlpacaBroker
from stockbot.brokers.alpaca_stream import FillStream
from stockbot.brokers.base import AuthExpiredError, Broker
from stockbot.brokers.credentials import access_token
from stockbot.brokers.oauth import broker_url, provider
from stockbot.brokers.schwab import SchwabBroker
from stockbot.errors import ConfigError
from stockbot.store.tokens import TokenStore


class HostTransport(httpx.HTTPTransport):
    """Sends every request to ``base`` (scheme, host and port), keeping path, query and headers:
    schwab-py hard-codes Schwab's host, and its ``Location`` receipts keep naming it."""

    def __init__(self, base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"STOCKBOT_SCHWAB_API_URL: {base!r} is not an http(s) URL")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme=self.scheme, host=self.host, port=self.port)
        return super().handle_request(request)


class StoredIds(MutableMapping[str, dict[str, Any]]):
    """Schwab's client-id map of one session, written through to a store collection (it must
    survive a restart of the loop: it is the only record of what was sent)."""

    def __init__(self, col: Collection, session_id: str) -> None:
        self.col, self.session = col, session_id
        self._items = {d["cid"]: d["entry"] for d in col.find({"session_id": session_id})}

    def _key(self, cid: str) -> str:
        return f"{self.session}:{cid}"

    def __getitem__(self, cid: str) -> dict[str, Any]:
        return self._items[cid]

    def __setitem__(self, cid: str, entry: dict[str, Any]) -> None:
        doc = {"_id": self._key(cid), "session_id": self.session, "cid": cid, "entry": dict(entry)}
        self.col.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        self._items[cid] = dict(entry)

    def __delitem__(self, cid: str) -> None:
        self.col.delete_one({"_id": self._key(cid)})
        del self._items[cid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class Connection:
    """One hub user's connection to a broker, and the adapter on it."""

    owner: str
    broker_name: str
    tokens: TokenStore
    broker: Broker
    kind: str

    def renew(self) -> None:
        """Give the adapter's client a current access token (refreshed by the one refresher when
        it is about to end); :class:`AuthExpiredError` when the login cannot be renewed."""
        if self.kind != "oauth":
            return
        token = access_token(self.tokens, self.owner, self.broker_name, lambda: provider(self.broker_name))
        if isinstance(self.broker, SchwabBroker):
            self.broker.client.session.token = _schwab_token(token)
        elif isinstance(self.broker, AlpacaBroker):
            self.broker.client._oauth_token = token["access_token"]


def _schwab_token(token: dict[str, Any]) -> dict[str, Any]:
    expires = token.get("expires_at")
    at = dt.datetime.fromisoformat(expires).timestamp() if expires else time.time() + 1800
    # no refresh token: the client cannot refresh by itself; renew() hands it the next one
    return {"access_token": token["access_token"], "token_type": "Bearer", "expires_at": int(at)}


def connect(
    tokens: TokenStore,
    owner: str,
    broker: str,
    *,
    paper: bool,
    ids: MutableMapping[str, dict[str, Any]] | None = None,
    since: dt.datetime | None = None,
    opening_auction: bool = False,
    streaming: bool = False,
) -> Connection:
    """An adapter on ``owner``'s stored ``broker`` connection. ``paper``: Alpaca's paper endpoint
    (Schwab has none). ``ids``: Schwab's client-id map (a :class:`StoredIds` in a session).
    ``since``: fills before it are not the caller's. ``opening_auction``: Alpaca sends whole-share
    market orders as market-on-open (``opg``). ``streaming``: Alpaca's executions come from its
    ``trade_updates`` stream (the activities as its backfill)."""
    shown = tokens.fields(owner, broker)
    secret = tokens.secret(owner, broker)
    if shown is None or secret is None:
        raise AuthExpiredError(f"{owner} has not connected {broker}: connect it on the brokers page")
    kind = str(shown.get("kind"))
    if broker == "alpaca":
        if kind == "keys":
            login: dict[str, Any] = {"api_key": secret["key_id"], "secret_key": secret["secret_key"]}
        else:
            token = access_token(tokens, owner, broker, lambda: provider(broker))
            login = {"oauth_token": token["access_token"]}
        url, stream_url = broker_url("alpaca"), broker_url("alpaca", "stream_url")
        stream = None
        if streaming and (stream_url or not url):  # a sandbox given without a stream has none
            stream = FillStream(**login, paper=paper, url_override=stream_url)
        adapter: Broker = AlpacaBroker(
            **login,
            paper=paper,
            url_override=url,
            since=since,
            opening_auction=opening_auction,
            stream=stream,
        )
        return Connection(owner, broker, tokens, adapter, kind)
    if broker == "schwab":
        if paper:
            raise ConfigError("schwab has no paper mode: a schwab account trades real money")
        return Connection(owner, broker, tokens, _schwab(tokens, owner, ids, shown.get("account")), kind)
    raise ConfigError(f"unknown broker {broker!r}; use alpaca or schwab")


def _schwab(
    tokens: TokenStore, owner: str, ids: MutableMapping[str, dict[str, Any]] | None, account: Any
) -> SchwabBroker:
    import warnings

    with warnings.catch_warnings():  # authlib's httpx integration warns on import (NOTES-platform)
        warnings.simplefilter("ignore", DeprecationWarning)
        from schwab.auth import client_from_access_functions

    token = access_token(tokens, owner, "schwab", lambda: provider("schwab"))
    wrapped = {"creation_timestamp": int(time.time()), "token": _schwab_token(token)}
    app = provider("schwab")

    def read() -> dict[str, Any]:
        return wrapped

    def write(new: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        """schwab-py writes a token it refreshed itself; it has no refresh token to do so."""

    # no app secret either: it is for refreshing, which only the refresher does
    client = client_from_access_functions(app.client_id, "", read, write)
    base = broker_url("schwab")
    if base:
        client.session._transport = HostTransport(base)
        client.session._mounts = {}  # the environment's proxies would be chosen before it
    return SchwabBroker(client, ids=ids if ids is not None else {}, account_number=account or None)


def account_view(tokens: TokenStore, owner: str, broker: str, store: Any) -> dict[str, Any]:
    """What a notebook may see of ``owner``'s ``broker`` account through the service (which keeps
    the credentials): its cash, equity and positions, and the orders of ``owner``'s own sessions
    on it (``store``: the live store)."""
    shown = tokens.fields(owner, broker)
    if shown is None:
        raise AuthExpiredError(f"{owner} has not connected {broker}: connect it on the brokers page")
    paper = broker == "alpaca" and shown.get("paper") is not False  # an unknown Alpaca login: paper
    conn = connect(tokens, owner, broker, paper=paper)
    account = conn.broker.account()
    sessions = [d["_id"] for d in store.sessions.find({"owner": owner, "broker": broker}, {"_id": 1})]
    orders = list(store.orders.find({"session_id": {"$in": sessions}}).sort("created_at", 1))
    keep = ("_id", "session_id", "symbol", "side", "quantity", "order_type", "status", "fill_time")
    return {
        "broker": broker,
        "paper": paper,
        "cash": account.cash,
        "equity": account.equity,
        "positions": conn.broker.positions(),
        "orders": [{k: o.get(k) for k in keep} for o in orders],
    }
