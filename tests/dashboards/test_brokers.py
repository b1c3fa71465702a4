"""``/settings/brokers``' state: each broker's connection as stored (never a secret), the warning
two days before a Schwab login runs out, Alpaca API keys kept encrypted, disconnecting."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography.fernet import Fernet

from dashboards.brokers import build
from dashboards.state.brokers import BrokersState
from dashboards.viewer import Viewer
from stockbot.store import RunStore
from stockbot.store.tokens import TokenStore
from tests.dashboards.conftest import BOKEH_INPLACE

pytestmark = [pytest.mark.timeout(60), pytest.mark.filterwarnings(BOKEH_INPLACE)]
ALICE = Viewer("alice", False)
NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def tokens(store: RunStore) -> TokenStore:
    return TokenStore(store.col.database, Fernet.generate_key())


def test_connections_warnings_keys_and_disconnect(tokens: TokenStore) -> None:
    tokens.put(
        "alice",
        "schwab",
        "oauth",
        {"access_token": "at-secret-1", "refresh_token": "rt-secret-1"},
        account="87654321",
        paper=False,
        expires_at=(NOW + dt.timedelta(minutes=30)).isoformat(),
        refresh_expires_at=(NOW + dt.timedelta(hours=40)).isoformat(),
        refreshed_at=NOW.isoformat(),
    )
    tokens.put("bob", "alpaca", "keys", {"key_id": "BOBKEY", "secret_key": "bob-secret"}, paper=True)
    state = BrokersState(ALICE, tokens)
    state.refresh(now=NOW)
    rows = {r["broker"]: r for r in state.rows}
    assert rows["schwab"]["connected"] and rows["schwab"]["account"] == "••••4321"
    assert (
        rows["schwab"]["mode"] == "live (real money)"
        and "expires 2026-12-09 04:00" in rows["schwab"]["warning"]
    )
    assert not rows["alpaca"]["connected"]  # bob's keys are bob's
    assert "secret" not in json.dumps(state.rows)
    state.refresh(now=NOW + dt.timedelta(days=3))
    assert "has expired" in {r["broker"]: r for r in state.rows}["schwab"]["warning"]

    assert state.save_keys("", "x", True) is False and "both" in state.message
    assert state.save_keys("PK ABC", "x", True) is False
    assert state.save_keys("PKTEST123", "sk-alice-9", paper=True) is True
    assert tokens.secret("alice", "alpaca") == {"key_id": "PKTEST123", "secret_key": "sk-alice-9"}
    alpaca = {r["broker"]: r for r in state.rows}["alpaca"]
    assert alpaca["connected"] and alpaca["how"] == "API keys" and alpaca["mode"] == "paper"
    assert state.disconnect("schwab") == "Charles Schwab disconnected."
    assert tokens.secret("alice", "schwab") is None and tokens.secret("bob", "alpaca") is not None
    assert state.connect_url("schwab").endswith("api/broker/schwab/auth")
    assert build(ALICE, "schwab", tokens=tokens) is not None


def test_disconnect_stops_the_sessions_on_the_account_first(
    tokens: TokenStore, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockbot.live.store import LiveStore

    live = LiveStore(store.col.database)
    tokens.put("alice", "alpaca", "keys", {"key_id": "PKA1", "secret_key": "s-1"}, paper=True)
    doc = live.create("alice", {}, name="a", mode="paper", broker="alpaca")
    live.set_status(doc["_id"], "running", None)
    other = live.create("alice", {}, name="b", mode="paper", broker="paper")
    live.set_status(other["_id"], "running", None)
    state = BrokersState(ALICE, tokens)
    monkeypatch.setattr("stockbot.live.control.STOP_WAIT_SECONDS", 0.5)  # no loop will answer here
    message = state.disconnect("alpaca")
    assert f"Sessions stopped first: {doc['_id']}" in message
    assert [r["action"] for r in live.get(doc["_id"])["requests"]] == ["stop"]
    assert live.get(other["_id"])["requests"] == []  # a session on another broker is left alone
    assert tokens.secret("alice", "alpaca") is None

    monkeypatch.setenv("STOCKBOT_SPAWNER", "simple")
    state.refresh()
    assert "isolates its users" in state.real_money
    monkeypatch.setenv("STOCKBOT_SPAWNER", "local-users")
    state.refresh()
    assert state.real_money == ""
