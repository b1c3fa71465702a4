"""Broker credentials in the store: encrypted under the platform's key (no plaintext anywhere in
the document, no key no storage), readable only with that key, kept per user and broker, with what
pages may show in clear and one refresher at a time."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pymongo.database import Database

from stockbot.errors import ConfigError, StoreError
from stockbot.store.tokens import TokenStore, create_key_file, crypt_key, mask
from tests.conftest import environ

pytestmark = pytest.mark.timeout(60)
SECRET = {"access_token": "at-7f3a9c1e5b", "refresh_token": "rt-2d4e6f8a0c", "expires_in": 1800}


def test_tokens_are_stored_encrypted_and_read_back_only_with_the_key(db: Database) -> None:
    key = Fernet.generate_key()
    tokens = TokenStore(db, key)
    tokens.put("alice", "schwab", "oauth", SECRET, account="12345678", paper=False)
    raw = db["tokens"].find_one({"_id": "alice:schwab"})
    dumped = json.dumps(raw, default=str)
    assert "at-7f3a9c1e5b" not in dumped and "rt-2d4e6f8a0c" not in dumped  # nowhere in clear
    assert tokens.secret("alice", "schwab") == SECRET
    shown = tokens.public("alice", "schwab")
    assert shown is not None and shown["account_masked"] == "••••5678" and shown["paper"] is False
    assert "secret" not in shown and "access_token" not in json.dumps(shown)
    assert "12345678" not in json.dumps(shown)  # the account id only masked
    with pytest.raises(StoreError, match="cannot be read with this crypt key"):
        TokenStore(db, Fernet.generate_key()).secret("alice", "schwab")


def test_each_user_has_their_own(db: Database) -> None:
    tokens = TokenStore(db, Fernet.generate_key())
    tokens.put("alice", "alpaca", "keys", {"key_id": "AK1", "secret_key": "s1"})
    assert tokens.secret("bob", "alpaca") is None and tokens.public("bob", "alpaca") is None
    tokens.put("bob", "alpaca", "keys", {"key_id": "AK2", "secret_key": "s2"})
    assert tokens.secret("alice", "alpaca") == {"key_id": "AK1", "secret_key": "s1"}
    assert tokens.delete("alice", "alpaca") and tokens.secret("alice", "alpaca") is None
    assert tokens.secret("bob", "alpaca") == {"key_id": "AK2", "secret_key": "s2"}
    with pytest.raises(ConfigError, match="unknown broker 'ibkr'"):
        tokens.put("alice", "ibkr", "oauth", {})
    with pytest.raises(ConfigError, match="not a public token field"):
        tokens.put("alice", "alpaca", "keys", {}, access_token="leak")


def test_one_refresher_at_a_time(db: Database) -> None:
    tokens = TokenStore(db, Fernet.generate_key())
    tokens.put("alice", "schwab", "oauth", SECRET)
    assert tokens.lease("alice", "schwab") is True
    assert tokens.lease("alice", "schwab") is False  # another refresher waits
    tokens.put("alice", "schwab", "oauth", {**SECRET, "access_token": "at-new"})  # the refreshed one
    assert tokens.lease("alice", "schwab", seconds=0.0) is True
    assert tokens.lease("alice", "schwab") is True  # an expired lease is taken over


def test_no_key_no_storage_and_the_key_file_is_private(tmp_path: Path) -> None:
    with environ(STOCKBOT_CRYPT_KEY=None):
        with pytest.raises(ConfigError, match="no crypt key for broker credentials"):
            crypt_key(tmp_path)
        path = create_key_file(tmp_path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        key = crypt_key(tmp_path)
        assert create_key_file(tmp_path) == path and crypt_key(tmp_path) == key  # made once, kept
    with environ(STOCKBOT_CRYPT_KEY="not-a-key"), pytest.raises(ConfigError, match="not a Fernet key"):
        crypt_key(tmp_path)
    assert mask(None) is None and mask("PA12") == "PA12"


def test_a_sealed_secret_opens_only_on_its_own_connection(db: Database) -> None:
    tokens = TokenStore(db, Fernet.generate_key())
    tokens.put("alice", "alpaca", "keys", {"key_id": "PKALICE", "secret_key": "alice-s"}, paper=True)
    tokens.put("mallory", "alpaca", "keys", {"key_id": "PKMAL", "secret_key": "mal-s"}, paper=True)
    # someone with write access to the store copies alice's ciphertext onto mallory's connection
    sealed = db["tokens"].find_one({"_id": "alice:alpaca"})["secret"]
    db["tokens"].update_one({"_id": "mallory:alpaca"}, {"$set": {"secret": sealed}})
    with pytest.raises(StoreError, match="sealed for another connection"):
        tokens.secret("mallory", "alpaca")
    assert tokens.secret("alice", "alpaca") == {"key_id": "PKALICE", "secret_key": "alice-s"}
