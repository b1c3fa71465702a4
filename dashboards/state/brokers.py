"""State of ``/settings/brokers``: the viewer's broker connections (never a secret), connecting by
OAuth (a link to the service's flow), entering Alpaca API keys instead, and disconnecting."""

from __future__ import annotations

import datetime as dt
from typing import Any

import param

from dashboards.viewer import Viewer, service_prefix
from stockbot.errors import StockBotError
from stockbot.live.control import disconnect, real_money_refusal
from stockbot.live.store import LiveStore
from stockbot.store.tokens import BROKERS, TokenStore, mask

WARN_BEFORE = dt.timedelta(hours=48)  # a Schwab login lasts ~7 days: say so two days ahead
LABELS = {"alpaca": "Alpaca", "schwab": "Charles Schwab"}


def _when(value: Any) -> dt.datetime | None:
    if not value:
        return None
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def login_warning(shown: dict[str, Any], now: dt.datetime) -> str | None:
    """What a connection's owner must do about its login (shown on the settings and live pages):
    connect again when a refresh failed, when the login ended, or within 48 hours of its end."""
    if shown.get("last_error"):
        return f"re-connect needed: {shown['last_error']}"
    ends = _when(shown.get("refresh_expires_at"))
    if ends is not None and ends <= now:
        return "the login has expired: connect again (sessions on it stop trading)"
    if ends is not None and ends - now <= WARN_BEFORE:
        return f"the login expires {ends:%Y-%m-%d %H:%M} UTC: connect again before then"
    return None


def _mode(shown: dict[str, Any]) -> str | None:
    if not shown or shown.get("paper") is None:
        return None  # not connected, or not known yet
    return "paper" if shown["paper"] else "live (real money)"


class BrokersState(param.Parameterized):
    rows = param.List(default=[], doc="one dict per broker: connected, masked account, expiry, warning")
    message = param.String(default="")
    real_money = param.String(default="", doc="why live accounts are refused here ('' when allowed)")

    def __init__(self, viewer: Viewer, tokens: TokenStore, **params: Any) -> None:
        super().__init__(**params)
        self.viewer = viewer
        self.tokens = tokens
        self.refresh()

    def refresh(self, now: dt.datetime | None = None) -> None:
        now = now or dt.datetime.now(dt.UTC)
        rows = []
        for broker in BROKERS:
            shown = self.tokens.public(self.viewer.name, broker) or {}
            warning = login_warning(shown, now)
            rows.append(
                {
                    "broker": broker,
                    "label": LABELS[broker],
                    "connected": bool(shown),
                    "how": {"oauth": "signed in", "keys": "API keys"}.get(shown.get("kind") or "", ""),
                    "account": shown.get("account_masked"),
                    "mode": _mode(shown),
                    "expires": shown.get("expires_at"),
                    "refreshed": shown.get("refreshed_at"),
                    "warning": warning,
                }
            )
        self.rows = rows
        self.real_money = real_money_refusal() or ""

    def connect_url(self, broker: str) -> str:
        return f"{service_prefix()}api/broker/{broker}/auth"

    def disconnect(self, broker: str) -> str:
        """Stop the viewer's sessions on the account (they cancel their open orders), then forget it."""
        done = disconnect(self.viewer.name, broker, self.tokens, store=LiveStore(self.tokens.col.database))
        name = LABELS[broker]
        self.message = f"{name} disconnected." if done["disconnected"] else f"{name} was not connected."
        if done["stopped"]:
            self.message += f" Sessions stopped first: {', '.join(done['stopped'])}."
        if done["still_stopping"]:
            self.message += f" Still stopping: {', '.join(done['still_stopping'])}."
        self.refresh()
        return self.message

    def save_keys(self, key_id: str, secret_key: str, paper: bool) -> bool:
        """Alpaca API keys instead of signing in: kept encrypted like tokens, never shown again."""
        key_id, secret_key = key_id.strip(), secret_key.strip()
        if not key_id or not secret_key:
            self.message = "Enter both the API key id and its secret."
            return False
        if len(key_id) > 64 or len(secret_key) > 128 or not key_id.isalnum():
            self.message = "That does not look like an Alpaca API key id and secret."
            return False
        try:
            self.tokens.put(
                self.viewer.name,
                "alpaca",
                "keys",
                {"key_id": key_id, "secret_key": secret_key},
                paper=paper,
                account=mask(key_id),  # the key id itself stays sealed
                refreshed_at=dt.datetime.now(dt.UTC).isoformat(),
                last_error=None,
            )
        except StockBotError as e:
            self.message = f"Not saved: {e}"
            return False
        self.message = f"Alpaca API keys saved ({'paper' if paper else 'live, real money'})."
        self.refresh()
        return True
