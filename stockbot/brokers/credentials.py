"""A current access token for a user's broker connection, refreshed when it is about to expire.

The service calls this (it is the only refresher): one refresh at a time per user and broker
(:meth:`TokenStore.lease`), the rotated refresh token saved with the new access token, and a failure
recorded as "re-connect needed" for the pages. A Schwab login that has run out (about 7 days after
it was made; refreshing does not extend it) is refused with that reason, not tried.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from stockbot.brokers.base import AuthExpiredError, BrokerError, RejectedError
from stockbot.brokers.oauth import Provider, refresh
from stockbot.store.tokens import TokenStore

log = logging.getLogger(__name__)

EARLY = dt.timedelta(seconds=120)  # refresh this long before the access token expires
WAIT_SECONDS = 10.0  # how long a second caller waits for another's refresh


def _when(value: Any) -> dt.datetime | None:
    if not value:
        return None
    t = dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def access_token(
    tokens: TokenStore,
    owner: str,
    broker: str,
    provider: Callable[[], Provider],
    *,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """``{"access_token", "expires_at"}`` of ``owner``'s OAuth connection to ``broker``, refreshed
    first when it expires within :data:`EARLY`. :class:`AuthExpiredError` says what to do when
    there is none, it cannot be refreshed, or the login ran out."""
    deadline = now() + dt.timedelta(seconds=WAIT_SECONDS)
    settings: Provider | None = None
    while True:
        shown = tokens.fields(owner, broker)
        secret = tokens.secret(owner, broker)
        if shown is None or secret is None:
            raise AuthExpiredError(f"{owner} has not connected {broker}: connect it on the brokers page")
        if shown.get("kind") != "oauth":
            raise AuthExpiredError(f"the {broker} connection uses API keys, which stay in the service")
        expires = _when(secret.get("expires_at"))
        if expires is None or expires - now() > EARLY:
            return {"access_token": secret["access_token"], "expires_at": secret.get("expires_at")}
        login_ends = _when(shown.get("refresh_expires_at"))
        if login_ends is not None and login_ends <= now():
            reason = f"the {broker} login ended {login_ends:%Y-%m-%d %H:%M} UTC"
            tokens.update_public(owner, broker, last_error=reason)
            raise AuthExpiredError(f"{reason}: re-connect needed")
        settings = settings or provider()  # (a setting missing is said before any lease is taken)
        if tokens.lease(owner, broker):
            current = tokens.secret(owner, broker) or {}  # another refresh may have ended just now
            fresh = _when(current.get("expires_at"))
            if current and (fresh is None or fresh - now() > EARLY):
                tokens.release(owner, broker)
                return {"access_token": current["access_token"], "expires_at": current.get("expires_at")}
            return _refresh(tokens, owner, broker, settings, current or secret, shown, now)
        if now() >= deadline:
            raise BrokerError(f"{broker}: another refresh of {owner}'s token is taking too long; try again")
        sleep(0.2)  # another caller refreshes: take its result


def _refresh(
    tokens: TokenStore,
    owner: str,
    broker: str,
    p: Provider,
    secret: dict[str, Any],
    shown: dict[str, Any],
    now: Callable[[], dt.datetime],
) -> dict[str, Any]:
    try:
        granted = refresh(p, secret.get("refresh_token") or "")
    except RejectedError as e:  # the broker says no: only a new login helps
        tokens.update_public(owner, broker, last_error=str(e))
        tokens.release(owner, broker)
        raise AuthExpiredError(f"{broker}: the token could not be refreshed ({e}): re-connect needed") from e
    except BrokerError:  # the broker could not answer now: try again later, nothing to record
        tokens.release(owner, broker)
        raise
    granted.setdefault("refresh_token", secret.get("refresh_token"))  # kept when not rotated
    kept = tokens.put_refreshed(
        owner,
        broker,
        granted,
        expires_at=granted.get("expires_at"),
        refreshed_at=now().isoformat(),
        last_error=None,
    )
    if not kept:
        raise AuthExpiredError(
            f"the {broker} connection of {owner} changed while it was refreshed: ask again"
        )
    log.info("refreshed %s's %s token", owner, broker)
    return {"access_token": granted["access_token"], "expires_at": granted.get("expires_at")}
