"""OAuth 2 (authorization code) with a broker: the provider's settings, the one-use ``state`` of a
flow bound to the hub user who started it, and the token requests. The hub's service runs the flows
(``hub/brokers.py``); this module does no routing.

Settings never come from a request: each broker's ``client_id``, ``client_secret``,
``authorize_url``, ``token_url``, ``redirect_url``, ``scope`` and ``pkce`` come from the environment
(``STOCKBOT_SCHWAB_CLIENT_ID``, ...) or else from ``$STOCKBOT_HOME/hub/brokers.json``
(``{"schwab": {"client_id": ...}}``, read on each flow so an admin can change it without a restart).
The defaults are the brokers' real endpoints.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.fernet import Fernet
from pymongo.database import Database

from stockbot.brokers.base import RejectedError, TemporaryError
from stockbot.errors import ConfigError
from stockbot.store.tokens import BROKERS

STATE_MINUTES = 10
DEFAULTS: dict[str, dict[str, Any]] = {
    "schwab": {
        "authorize_url": "https://api.schwabapi.com/v1/oauth/authorize",
        "token_url": "https://api.schwabapi.com/v1/oauth/token",
        "scope": "api",
        "pkce": False,
        "basic_auth": True,  # client id and secret in an Authorization: Basic header
    },
    "alpaca": {
        "authorize_url": "https://app.alpaca.markets/oauth/authorize",
        "token_url": "https://api.alpaca.markets/oauth/token",
        "scope": "account:write trading data",
        "pkce": False,
        "basic_auth": False,  # in the form
    },
}
# an admin's override of where a broker's APIs are (the first is its REST API)
ENDPOINTS = {"alpaca": ("trading_url", "stream_url"), "schwab": ("api_url",)}
FIELDS = (
    "client_id",
    "client_secret",
    "authorize_url",
    "token_url",
    "redirect_url",
    "scope",
    "pkce",
    "basic_auth",
)


@dataclass(frozen=True)
class Provider:
    broker: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    redirect_url: str
    scope: str
    pkce: bool
    basic_auth: bool


def provider(broker: str, home: Any = None) -> Provider:
    """``broker``'s OAuth settings; a :class:`ConfigError` naming what is missing."""
    if broker not in BROKERS:
        raise ConfigError(f"unknown broker {broker!r}; use one of {', '.join(BROKERS)}")
    settings = {**DEFAULTS[broker], **_saved(broker, home)}
    path = _settings_file(home)
    for field in FIELDS:
        value = os.environ.get(f"STOCKBOT_{broker.upper()}_{field.upper()}")
        if value is not None:
            settings[field] = (
                value.lower() in ("1", "true", "yes") if field in ("pkce", "basic_auth") else value
            )
    missing = [f for f in ("client_id", "client_secret", "redirect_url") if not settings.get(f)]
    if missing:
        names = ", ".join(f"STOCKBOT_{broker.upper()}_{f.upper()}" for f in missing)
        raise ConfigError(f"{broker} is not set up for connecting accounts: set {names} (or {path})")
    return Provider(broker=broker, **{f: settings[f] for f in FIELDS})


def _settings_file(home: Any = None) -> Any:
    from stockbot.paths import stockbot_home

    return (home or stockbot_home()) / "hub" / "brokers.json"


def _saved(broker: str, home: Any = None) -> dict[str, Any]:
    """``broker``'s settings in ``brokers.json`` (empty when there is none)."""
    path = _settings_file(home)
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text()).get(broker) or {}
    except (ValueError, AttributeError) as e:
        raise ConfigError(f"{path} is not a JSON object of broker settings: {e}") from e
    allowed = (*FIELDS, *ENDPOINTS[broker])
    unknown = sorted(set(saved) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: {broker}: unknown settings {unknown}; these are: {', '.join(allowed)}")
    return dict(saved)


def broker_url(broker: str, field: str | None = None, home: Any = None) -> str | None:
    """Where ``broker``'s API ``field`` (its REST API by default) is, when not at its real host (a
    sandbox, or the test suite's stand-in): ``STOCKBOT_ALPACA_TRADING_URL``,
    ``STOCKBOT_ALPACA_STREAM_URL``, ``STOCKBOT_SCHWAB_API_URL``, or the same names in lower case
    (``trading_url``, ...) in ``brokers.json``."""
    field = field or ENDPOINTS[broker][0]
    return os.environ.get(f"STOCKBOT_{broker.upper()}_{field.upper()}") or _saved(broker, home).get(field)


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


class FlowStates:
    """One-use ``state`` values of flows under way (``oauth_states``): stored hashed, bound to the
    hub user and the broker, good for :data:`STATE_MINUTES`; a PKCE verifier is stored encrypted
    under the platform's key."""

    def __init__(self, db: Database, key: bytes) -> None:
        self.col = db["oauth_states"]
        self.fernet = Fernet(key)

    def start(self, owner: str, p: Provider) -> str:
        """A new flow of ``owner`` with ``p``: the URL to send the browser to."""
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(48) if p.pkce else None
        too_old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=STATE_MINUTES)
        self.col.delete_many({"created_at": {"$lt": too_old}})  # flows nobody finished
        self.col.insert_one(
            {
                "_id": _hash(state),
                "owner": owner,
                "broker": p.broker,
                "verifier": None if verifier is None else self.fernet.encrypt(verifier.encode()).decode(),
                "created_at": dt.datetime.now(dt.UTC),
            }
        )
        params = {
            "response_type": "code",
            "client_id": p.client_id,
            "redirect_uri": p.redirect_url,
            "state": state,
        }
        if p.scope:
            params["scope"] = p.scope
        if verifier:
            params.update(code_challenge=_challenge(verifier), code_challenge_method="S256")
        return f"{p.authorize_url}?{urlencode(params)}"

    def finish(self, owner: str, broker: str, state: str | None) -> str | None:
        """Check and use up ``state`` for ``owner``'s return from ``broker``; the PKCE verifier.
        A :class:`ConfigError` says why a return is refused (then nothing is stored)."""
        if not state:
            raise ConfigError("the return from the broker has no state: start connecting again")
        doc = self.col.find_one_and_delete({"_id": _hash(state)})  # one use, whoever presents it
        if doc is None:
            raise ConfigError(
                "this connection request is unknown or was used already: start connecting again"
            )
        if doc["owner"] != owner:
            raise ConfigError("this connection was started by another user: start connecting again yourself")
        if doc["broker"] != broker:
            raise ConfigError(f"this connection was started for {doc['broker']}, not {broker}")
        created = doc["created_at"]
        created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
        if dt.datetime.now(dt.UTC) - created > dt.timedelta(minutes=STATE_MINUTES):
            raise ConfigError(f"this connection request is older than {STATE_MINUTES} minutes: start again")
        sealed = doc.get("verifier")
        return None if sealed is None else self.fernet.decrypt(sealed.encode()).decode()


def _token_request(p: Provider, form: dict[str, str], http: httpx.Client | None) -> dict[str, Any]:
    auth = None
    if p.basic_auth:
        auth = (p.client_id, p.client_secret)
    else:
        form = {**form, "client_id": p.client_id, "client_secret": p.client_secret}
    client = http or httpx.Client(timeout=15.0)
    try:
        resp = client.post(p.token_url, data=form, auth=auth, headers={"Accept": "application/json"})
    except httpx.HTTPError as e:
        raise TemporaryError(f"{p.broker}: its token endpoint did not answer: {e}") from e
    finally:
        if http is None:
            client.close()
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code == 429 or resp.status_code >= 500:
        raise TemporaryError(f"{p.broker}: its token endpoint could not answer now ({resp.status_code})")
    if resp.status_code >= 400 or "access_token" not in body:
        why = body.get("error_description") or body.get("error") or resp.text[:200]
        raise RejectedError(f"{p.broker} refused the tokens ({resp.status_code}): {why}", body.get("error"))
    now = dt.datetime.now(dt.UTC)
    if body.get("expires_in"):
        body["expires_at"] = (now + dt.timedelta(seconds=float(body["expires_in"]))).isoformat()
    body["issued_at"] = now.isoformat()
    return dict(body)


def exchange(
    p: Provider, code: str, verifier: str | None, http: httpx.Client | None = None
) -> dict[str, Any]:
    """The tokens for an authorization ``code``."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": p.redirect_url}
    if verifier:
        form["code_verifier"] = verifier
    return _token_request(p, form, http)


def refresh(p: Provider, refresh_token: str, http: httpx.Client | None = None) -> dict[str, Any]:
    """New tokens for a refresh token (the provider may rotate it)."""
    return _token_request(p, {"grant_type": "refresh_token", "refresh_token": refresh_token}, http)
