"""Broker credentials (OAuth tokens, API keys) in the store's ``tokens`` collection, encrypted
(DESIGN.md §7).

One document per user and broker. The secret part (access and refresh tokens, or an API key id and
secret) is encrypted with Fernet (AES-128-CBC with an HMAC) under the platform's crypt key, which is
not JupyterHub's: ``STOCKBOT_CRYPT_KEY`` or the key file ``$STOCKBOT_HOME/hub/crypt_key`` that the
platform creates once at its first start (0600) and keeps. Without a key nothing is stored or read:
there is no plaintext fallback. What pages may show (a masked account id, paper or live, expiry, the
last refresh and error) is kept beside it in clear. Only the service reads secrets; a caller always
names the owner, so one user's tokens are never another's.

Refreshing is leased: :meth:`TokenStore.lease` lets one refresher at a time per user and broker
proceed (a compare-and-set on the document), the rest wait for its result.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pymongo.database import Database

from stockbot.errors import ConfigError, StoreError

BROKERS = ("alpaca", "schwab")
KINDS = ("oauth", "keys")
KEY_ENV = "STOCKBOT_CRYPT_KEY"
PUBLIC = ("account", "paper", "expires_at", "refresh_expires_at", "refreshed_at", "last_error", "kind")


def key_file(home: Path) -> Path:
    return home / "hub" / "crypt_key"


def create_key_file(home: Path) -> Path:
    """The platform's key file, made once (readable by this OS user only, from the start)."""
    path = key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as fh:
        fh.write(Fernet.generate_key().decode())
    return path


def crypt_key(home: Path | None = None) -> bytes:
    """The key: ``STOCKBOT_CRYPT_KEY``, else the key file. A missing or malformed key is a
    :class:`ConfigError` (the service refuses to start), never a reason to store in clear."""
    raw = os.environ.get(KEY_ENV)
    where = KEY_ENV
    if not raw:
        from stockbot.paths import stockbot_home

        path = key_file(home or stockbot_home())
        where = str(path)
        if not path.is_file():
            raise ConfigError(
                f"no crypt key for broker credentials: set {KEY_ENV} or start the platform once "
                f"(make run) to create {path}"
            )
        raw = path.read_text().strip()
    key = raw.encode()
    try:
        if len(base64.urlsafe_b64decode(key)) != 32:
            raise ValueError("not 32 bytes")
    except (ValueError, TypeError) as e:
        raise ConfigError(
            f"the crypt key in {where} is not a Fernet key (32 url-safe base64 bytes): {e}"
        ) from e
    return key


def mask(account: str | None) -> str | None:
    """An account id as pages show it: its last 4 characters."""
    if not account:
        return None
    return "•" * max(0, min(len(account) - 4, 6)) + account[-4:]


def _check_public(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - set(PUBLIC))
    if unknown:
        raise ConfigError(f"not a public token field: {unknown}; these are: {', '.join(PUBLIC)}")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TokenStore:
    def __init__(self, db: Database, key: bytes) -> None:
        self.col = db["tokens"]
        self.fernet = Fernet(key)

    @staticmethod
    def _id(owner: str, broker: str) -> str:
        if broker not in BROKERS:
            raise ConfigError(f"unknown broker {broker!r}; use one of {', '.join(BROKERS)}")
        if not owner:
            raise ConfigError("a token belongs to a hub user; none was named")
        return f"{owner}:{broker}"

    def put(self, owner: str, broker: str, kind: str, secret: dict[str, Any], **public: Any) -> None:
        """Store ``owner``'s credentials for ``broker`` (replacing any): ``secret`` encrypted,
        ``public`` (see :data:`PUBLIC`) in clear."""
        if kind not in KINDS:
            raise ConfigError(f"unknown credential kind {kind!r}; use one of {', '.join(KINDS)}")
        _check_public(public)
        doc = {
            "_id": self._id(owner, broker),
            "owner": owner,
            "broker": broker,
            "kind": kind,
            "secret": self._seal(self._id(owner, broker), secret),
            "updated_at": now(),
            "refreshing_until": None,
            **{k: v for k, v in public.items() if k != "kind"},
        }
        self.col.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def _seal(self, key: str, secret: dict[str, Any]) -> str:
        """``secret`` encrypted with the connection it belongs to inside: a sealed secret copied
        onto another user's document does not open there."""
        return self.fernet.encrypt(json.dumps({"for": key, "secret": secret}).encode()).decode()

    def secret(self, owner: str, broker: str) -> dict[str, Any] | None:
        """The decrypted credentials of ``owner`` for ``broker``; None when not connected."""
        doc = self.col.find_one({"_id": self._id(owner, broker)})
        if doc is None:
            return None
        try:
            sealed = json.loads(self.fernet.decrypt(doc["secret"].encode()))
        except InvalidToken as e:
            raise StoreError(
                f"the {broker} credentials of {owner} cannot be read with this crypt key (was it "
                "replaced?); connect the account again"
            ) from e
        if not isinstance(sealed, dict) or sealed.get("for") != doc["_id"]:
            raise StoreError(
                f"the stored {broker} credentials of {owner} were sealed for another connection; "
                "connect the account again"
            )
        return dict(sealed["secret"])

    def public(self, owner: str, broker: str) -> dict[str, Any] | None:
        """What a page may show of the connection (never a secret)."""
        doc = self.col.find_one({"_id": self._id(owner, broker)}, {"secret": 0})
        if doc is None:
            return None
        shown = {k: doc.get(k) for k in PUBLIC if k != "account"}  # the account id only masked
        return {"broker": broker, "account_masked": mask(doc.get("account")), **shown}

    def fields(self, owner: str, broker: str) -> dict[str, Any] | None:
        """The clear fields as stored (the account id unmasked): for the service, not for pages."""
        doc = self.col.find_one({"_id": self._id(owner, broker)}, {"secret": 0})
        return None if doc is None else {k: doc.get(k) for k in PUBLIC}

    def update_public(self, owner: str, broker: str, **public: Any) -> None:
        _check_public(public)
        self.col.update_one({"_id": self._id(owner, broker)}, {"$set": {**public, "updated_at": now()}})

    def put_refreshed(self, owner: str, broker: str, secret: dict[str, Any], **public: Any) -> bool:
        """The refresher's write: new tokens for the connection whose refresh lease it holds.
        False (nothing written) when the connection went meanwhile (disconnected, or connected
        again: a new login is not overwritten by the old grant's tokens)."""
        _check_public(public)
        done = self.col.update_one(
            {"_id": self._id(owner, broker), "refreshing_until": {"$ne": None}},
            {
                "$set": {
                    "secret": self._seal(self._id(owner, broker), secret),
                    "updated_at": now(),
                    "refreshing_until": None,
                    **public,
                }
            },
        )
        return done.modified_count == 1

    def delete(self, owner: str, broker: str) -> bool:
        return self.col.delete_one({"_id": self._id(owner, broker)}).deleted_count == 1

    def lease(self, owner: str, broker: str, seconds: float = 30.0) -> bool:
        """Whether the caller may refresh now (one refresher per user and broker): True takes a
        lease for ``seconds``, which :meth:`put` (the refreshed token) or :meth:`release` ends."""
        at = now()
        taken = self.col.update_one(
            {
                "_id": self._id(owner, broker),
                "$or": [{"refreshing_until": None}, {"refreshing_until": {"$lt": at}}],
            },
            {"$set": {"refreshing_until": at + dt.timedelta(seconds=seconds)}},
        )
        return taken.modified_count == 1

    def release(self, owner: str, broker: str) -> None:
        self.col.update_one({"_id": self._id(owner, broker)}, {"$set": {"refreshing_until": None}})
