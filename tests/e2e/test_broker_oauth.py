"""Connecting a broker account through the real hub: the OAuth 2 flow from the logged-in user's
browser session to a local provider and back, the tokens kept encrypted (no token value anywhere in
the platform's files in clear), and every bad return refused with its reason and nothing stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from stockbot.store.db import get_db
from stockbot.store.tokens import TokenStore
from tests.conftest import environ
from tests.e2e.browser import SHOTS, chromium_page
from tests.e2e.conftest import ADMIN_PASSWORD, Hub, admin_session, new_user
from tests.e2e.test_browser_run_page import _text
from tests.servers.oauth import FakeOAuthProvider

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture(scope="module")
def schwab_oauth(hub: Hub) -> Iterator[FakeOAuthProvider]:
    redirect = f"{hub.url}/services/stockbot/api/broker/schwab/callback"
    with FakeOAuthProvider("sb-client", "sb-secret-9f2", redirect) as provider:
        settings = {
            "schwab": {
                "client_id": "sb-client",
                "client_secret": "sb-secret-9f2",
                "authorize_url": f"{provider.url}/authorize",
                "token_url": f"{provider.url}/token",
                "redirect_url": redirect,
            }
        }
        (hub.home / "hub" / "brokers.json").write_text(json.dumps(settings))
        yield provider


@pytest.fixture
def provider(schwab_oauth: FakeOAuthProvider) -> FakeOAuthProvider:
    schwab_oauth.reset()
    return schwab_oauth


@pytest.fixture(scope="module")
def browsers(hub: Hub) -> dict[str, requests.Session]:
    """Logged-in browser sessions of two users, each with the service's login cookie."""
    admin = admin_session(hub)
    out = {}
    for name in ("quinn", "rosa"):
        s = new_user(hub, admin, name, f"{name} connects a broker 31")
        assert s.get(f"{hub.url}/services/stockbot/dashboard", timeout=30).status_code == 200
        out[name] = s
    return out


def api(hub: Hub, path: str) -> str:
    return f"{hub.url}/services/stockbot/api/{path}"


def stored(hub: Hub, owner: str) -> dict | None:  # type: ignore[type-arg]
    uri = json.loads((hub.home / "store.json").read_text())["uri"]
    with environ(STOCKBOT_HOME=str(hub.home), STOCKBOT_MONGO_URI=uri):
        key = (hub.home / "hub" / "crypt_key").read_text().strip().encode()
        return TokenStore(get_db(uri), key).secret(owner, "schwab")


def leaks(home: Path, values: list[str]) -> list[str]:
    """Files under ``home`` holding any of ``values`` in clear."""
    found = []
    for path in home.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {v}" for v in values if v.encode() in data]
    return found


def callback_url(s: requests.Session, hub: Hub) -> str:
    """Start a flow and follow it to the provider's answer: the callback URL, not yet visited."""
    start = s.get(api(hub, "broker/schwab/auth"), allow_redirects=False, timeout=30)
    assert start.status_code == 302, start.text
    consent = s.get(start.headers["Location"], allow_redirects=False, timeout=30)
    assert consent.status_code == 302, consent.text
    return str(consent.headers["Location"])


def test_a_user_connects_schwab_and_the_tokens_are_kept_encrypted(
    hub: Hub, browsers: dict[str, requests.Session], provider: FakeOAuthProvider
) -> None:
    s = browsers["quinn"]
    r = s.get(api(hub, "broker/schwab/auth"), timeout=30)  # the browser follows every redirect
    assert [h.status_code for h in r.history] == [302, 302, 302], [h.url for h in r.history]
    assert r.url.endswith("/services/stockbot/settings/brokers?connected=schwab"), r.url
    assert r.status_code == 200
    issued = provider.issued[-1]
    assert stored(hub, "quinn")["access_token"] == issued["access_token"]  # type: ignore[index]
    status = {b["broker"]: b for b in s.get(api(hub, "broker/status"), timeout=30).json()["brokers"]}
    assert status["schwab"]["connected"] and status["schwab"]["expires_at"]
    assert status["schwab"]["refresh_expires_at"] and not status["alpaca"]["connected"]
    assert "access_token" not in json.dumps(status)
    assert not leaks(hub.home, [issued["access_token"], issued["refresh_token"]])
    # nor the one-use code and state of the return (the service's access log redacts them)
    back = parse_qs(urlsplit(r.history[2].url).query)
    assert back["code"] and back["state"]
    assert not leaks(hub.home, [back["code"][0], back["state"][0]])
    assert "callback?code=[redacted]&state=[redacted]" in hub.log.read_text()
    # the app's secret is in the admin's settings file only (neither the store nor a log)
    assert [Path(f.split(":")[0]).name for f in leaks(hub.home, ["sb-secret-9f2"])] == ["brokers.json"]
    # the service hands the owner a current access token (never the refresh token)
    current = s.get(api(hub, "broker/schwab/token"), timeout=30).json()
    assert current["access_token"] == issued["access_token"] and "refresh_token" not in current
    # rosa sees none of it
    theirs = browsers["rosa"].get(api(hub, "broker/status"), timeout=30).json()["brokers"]
    assert not any(b["connected"] for b in theirs)
    r = browsers["rosa"].get(api(hub, "broker/schwab/token"), timeout=30)
    assert r.status_code == 409 and "has not connected" in r.json()["error"]


def test_bad_returns_are_refused_with_the_reason_and_store_nothing(
    hub: Hub, browsers: dict[str, requests.Session], provider: FakeOAuthProvider
) -> None:
    rosa, quinn = browsers["rosa"], browsers["quinn"]

    def refused(s: requests.Session, url: str, why: str) -> None:
        r = s.get(url, allow_redirects=False, timeout=30)
        assert r.status_code == 400 and why in r.json()["error"], (r.status_code, r.text)

    refused(rosa, api(hub, "broker/schwab/callback?code=x&state=forged"), "unknown or was used already")
    url = callback_url(rosa, hub)
    refused(quinn, url, "started by another user")  # another user's flow (and it is now used up)
    refused(rosa, url, "unknown or was used already")  # replayed
    url = callback_url(rosa, hub)
    refused(rosa, url.replace("code=", "nocode="), "has no code")
    provider.deny_next = True
    refused(rosa, callback_url(rosa, hub), "did not connect the account: the user said no")
    assert stored(hub, "rosa") is None
    # a code the provider does not honour: the broker's refusal, still nothing stored
    url = callback_url(rosa, hub)
    provider.codes.clear()
    r = rosa.get(url, allow_redirects=False, timeout=30)
    assert r.status_code == 502 and "refused the tokens" in r.json()["error"], r.text
    assert stored(hub, "rosa") is None
    assert requests.get(api(hub, "broker/schwab/auth"), allow_redirects=False, timeout=30).status_code == 401


def test_connect_from_the_brokers_page_in_a_browser(hub: Hub, provider: FakeOAuthProvider) -> None:
    with chromium_page(hub.url) as p:
        p.goto("/hub/login")
        p.fill("#username_input", "admin")
        p.fill("#password_input", ADMIN_PASSWORD)
        p.click("#login_submit")
        p.wait_for_url("**/services/stockbot/dashboard", timeout=60_000)
        p.click("a.stockbot-nav-link[href$='/settings/brokers']")
        p.wait_for_selector(".stockbot-broker[data-broker=schwab][data-connected=false]", timeout=60_000)
        p.click(".stockbot-broker[data-broker=schwab] a.stockbot-broker-connect")
        p.wait_for_url("**/settings/brokers?connected=schwab", timeout=60_000)
        p.wait_for_selector(".stockbot-broker[data-broker=schwab][data-connected=true]", timeout=60_000)
        shown = _text(p, ".stockbot-brokers-message")
        assert "Charles Schwab connected." in shown, shown
        p.screenshot(path=str(SHOTS / "30-brokers-connected.png"), full_page=True)
        assert not p.errors, p.errors
    assert stored(hub, "admin")["access_token"] == provider.issued[-1]["access_token"]  # type: ignore[index]
