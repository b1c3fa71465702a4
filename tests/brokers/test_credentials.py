"""A current access token: refreshed by one caller when about to expire (the refresh token rotated
and kept), others waiting for its result; a refresh that fails and a Schwab login that ran out both
say "re-connect needed" and leave the reason for the pages."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import httpx
import pytest
from cryptography.fernet import Fernet
from pymongo.database import Database

from stockbot.brokers.base import AuthExpiredError, BrokerError, RejectedError
from stockbot.brokers.credentials import access_token
from stockbot.brokers.oauth import Provider
from stockbot.store.db import ensure_indexes
from stockbot.store.tokens import TokenStore
from tests.servers.http import Request, Response
from tests.servers.oauth import FakeOAuthProvider

pytestmark = pytest.mark.timeout(60)
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def oauth() -> Iterator[FakeOAuthProvider]:
    with FakeOAuthProvider("cid", "csecret", "http://127.0.0.1/cb") as s:
        yield s


@pytest.fixture
def setup(live_db: Database, oauth: FakeOAuthProvider) -> tuple[TokenStore, Provider, FakeOAuthProvider]:
    oauth.reset()
    live_db["tokens"].delete_many({})
    ensure_indexes(live_db)
    p = Provider(
        "schwab",
        "cid",
        "csecret",
        f"{oauth.url}/authorize",
        f"{oauth.url}/token",
        "http://127.0.0.1/cb",
        "api",
        False,
        True,
    )
    return TokenStore(live_db, Fernet.generate_key()), p, oauth


def connect(tokens: TokenStore, oauth: FakeOAuthProvider, expires_in: float, login_days: float = 7) -> str:
    refresh_token = "rt-first"
    oauth.refresh_tokens.add(refresh_token)
    tokens.put(
        "alice",
        "schwab",
        "oauth",
        {
            "access_token": "at-first",
            "refresh_token": refresh_token,
            "expires_at": (NOW + dt.timedelta(seconds=expires_in)).isoformat(),
        },
        account="12345678",
        paper=False,
        refresh_expires_at=(NOW + dt.timedelta(days=login_days)).isoformat(),
    )
    return refresh_token


def test_a_fresh_token_is_given_as_it_is_and_a_stale_one_is_refreshed_once(setup: tuple) -> None:  # type: ignore[type-arg]
    tokens, p, oauth = setup
    connect(tokens, oauth, expires_in=1200)
    assert access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW)["access_token"] == "at-first"
    assert oauth.requests_to("/token") == []
    connect(tokens, oauth, expires_in=60)  # within two minutes of its end
    got = access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW)
    issued = oauth.issued[-1]
    assert got["access_token"] == issued["access_token"] != "at-first"
    kept = tokens.secret("alice", "schwab")
    assert (
        kept["refresh_token"] == issued["refresh_token"] and "rt-first" not in oauth.refresh_tokens
    )  # rotated
    assert tokens.fields("alice", "schwab")["account"] == "12345678"  # type: ignore[index]
    assert len(oauth.requests_to("/token")) == 1


def test_a_second_caller_waits_for_the_first_refresh(setup: tuple) -> None:  # type: ignore[type-arg]
    tokens, p, oauth = setup
    connect(tokens, oauth, expires_in=60)
    assert tokens.lease("alice", "schwab")  # another caller is refreshing

    def meanwhile(_: float) -> None:  # ... and finishes while this one waits
        tokens.put(
            "alice",
            "schwab",
            "oauth",
            {
                "access_token": "at-theirs",
                "refresh_token": "rt-theirs",
                "expires_at": (NOW + dt.timedelta(minutes=30)).isoformat(),
            },
        )

    got = access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW, sleep=meanwhile)
    assert got["access_token"] == "at-theirs" and oauth.requests_to("/token") == []


def test_a_failed_refresh_and_an_ended_login_need_a_new_connection(setup: tuple) -> None:  # type: ignore[type-arg]
    tokens, p, oauth = setup
    connect(tokens, oauth, expires_in=30)
    oauth.refresh_tokens.clear()  # revoked at the broker
    with pytest.raises(AuthExpiredError, match="re-connect needed"):
        access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW)
    assert "refused the tokens" in tokens.public("alice", "schwab")["last_error"]  # type: ignore[index]
    assert tokens.lease("alice", "schwab")  # the failed refresh let go of its lease
    connect(tokens, oauth, expires_in=30, login_days=-1)
    calls = len(oauth.requests_to("/token"))
    with pytest.raises(AuthExpiredError, match=r"login ended .* re-connect needed"):
        access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW)
    assert len(oauth.requests_to("/token")) == calls  # not even tried
    with pytest.raises(AuthExpiredError, match="has not connected"):
        access_token(tokens, "bob", "schwab", lambda: p, now=lambda: NOW)


def test_a_disconnect_during_a_refresh_is_not_undone_and_a_busy_broker_is_no_lost_login(setup: tuple) -> None:  # type: ignore[type-arg]
    tokens, p, oauth = setup
    connect(tokens, oauth, expires_in=30)

    def disconnect_meanwhile(req: Request) -> Response:
        tokens.delete("alice", "schwab")  # the person disconnects while the refresh is under way
        return oauth._token(req)

    oauth.script("POST", "/token", disconnect_meanwhile)
    with pytest.raises(AuthExpiredError, match="changed while it was refreshed"):
        access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW)
    assert tokens.secret("alice", "schwab") is None  # not brought back by the refresher
    connect(tokens, oauth, expires_in=30)
    oauth.script("POST", "/token", Response.json({"error": "temporarily_unavailable"}, status=503))
    with pytest.raises(BrokerError, match="could not answer now") as err:
        access_token(tokens, "alice", "schwab", lambda: p, now=lambda: NOW)
    assert not isinstance(err.value, AuthExpiredError)
    assert tokens.public("alice", "schwab")["last_error"] is None  # type: ignore[index]  # nothing to re-connect
    assert tokens.lease("alice", "schwab")  # and the lease was let go


def test_a_pkce_flow_keeps_its_verifier_sealed_and_the_provider_checks_it(live_db: Database) -> None:
    db = live_db
    from stockbot.brokers.oauth import FlowStates, exchange

    with FakeOAuthProvider("pk-app", "pk-secret", "https://127.0.0.1/cb") as server:
        p = Provider(
            broker="alpaca",
            client_id="pk-app",
            client_secret="pk-secret",
            authorize_url=f"{server.url}/authorize",
            token_url=f"{server.url}/token",
            redirect_url="https://127.0.0.1/cb",
            scope="trading",
            pkce=True,
            basic_auth=False,
        )
        flows = FlowStates(db, Fernet.generate_key())
        url = flows.start("alice", p)
        assert "code_challenge=" in url and "code_challenge_method=S256" in url
        stored = db["oauth_states"].find_one({"owner": "alice"})
        state = url.split("state=")[1].split("&")[0]
        back = httpx.get(url, follow_redirects=False).headers["Location"]  # the consent page says yes
        code = back.split("code=")[1].split("&")[0]
        verifier = flows.finish("alice", "alpaca", state)
        assert verifier and verifier not in json.dumps(stored, default=str)  # never stored in clear
        granted = exchange(p, code, verifier)
        assert granted["access_token"] == server.issued[-1]["access_token"]
        # a wrong verifier is refused by the provider (the code is one-use: start another flow)
        url = flows.start("alice", p)
        state = url.split("state=")[1].split("&")[0]
        code = httpx.get(url, follow_redirects=False).headers["Location"].split("code=")[1].split("&")[0]
        flows.finish("alice", "alpaca", state)
        with pytest.raises(RejectedError, match="PKCE verifier does not match"):
            exchange(p, code, "not-the-verifier")
