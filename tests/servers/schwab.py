"""A stand-in for Schwab's price history endpoint, and a real schwab-py client pointed at it.

``GET /marketdata/v1/pricehistory?symbol=&periodType=&period=&frequencyType=&frequency=&startDate=
&endDate=`` answers ``{"symbol", "empty", "candles": [{"open","high","low","close","volume",
"datetime"}]}`` with ``datetime`` in epoch milliseconds. Daily candles are stamped at midnight
Chicago time, as Schwab does, and ``startDate``/``endDate`` are both inclusive. Schwab's candles have
no adjusted close: the fake serves the sample's open/high/low/close and volume as they are.

The data is a frame with the bundled sample's columns (``date, tic, open, high, low, close,
adj_close, volume``). Requests without ``Authorization: Bearer <access_token>`` get Schwab's 401.

schwab-py hard-codes ``https://api.schwabapi.com``; :func:`schwab_client` builds a real client from an
access token (``client_from_access_functions``) and gives its httpx session a transport that sends
every request to this server instead.
"""

from __future__ import annotations

import time
import uuid
import warnings
from typing import Any

import httpx
import pandas as pd

with warnings.catch_warnings():
    # authlib 1.x warns on import that its httpx integration is deprecated, after putting an "always"
    # filter for its own warnings in front of pytest's ignore: import that first, ignore after it;
    # leaving the block drops both filters
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore", DeprecationWarning)
    import schwab

from tests.servers.http import Request, Response, ScriptedServer

__all__ = [
    "PRICE_HISTORY_PATH",
    "FakeSchwab",
    "RedirectTransport",
    "rate_limited",
    "schwab_client",
    "unauthorized",
]

PRICE_HISTORY_PATH = "/marketdata/v1/pricehistory"
CANDLE_TZ = "America/Chicago"


def _error(status: int, title: str, detail: str) -> Response:
    return Response.json(
        {"errors": [{"id": str(uuid.uuid4()), "status": str(status), "title": title, "detail": detail}]},
        status=status,
    )


def unauthorized() -> Response:
    return _error(401, "Unauthorized", "Client not authorized")


def rate_limited(retry_after: float | None = None) -> Response:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    return Response.json(
        {"errors": [{"status": "429", "title": "Too Many Requests", "detail": "rate limit exceeded"}]},
        status=429,
        headers=headers,
    )


class FakeSchwab(ScriptedServer):
    """Schwab's daily price history over ``frame`` (the sample csv's columns)."""

    def __init__(self, frame: pd.DataFrame, *, access_token: str = "test-access-token") -> None:
        super().__init__()
        self.access_token = access_token
        self._default_frame = frame
        self.frame = frame
        self.route("GET", PRICE_HISTORY_PATH, self.handle_price_history)

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    @frame.setter
    def frame(self, frame: pd.DataFrame) -> None:
        stamps = (
            pd.to_datetime(frame["date"].astype(str).to_numpy())
            .tz_localize(CANDLE_TZ)
            .tz_convert("UTC")
            .as_unit("ms")
        )
        table = pd.DataFrame(
            {
                "symbol": frame["tic"].astype(str).to_numpy(),
                "datetime": stamps.asi8,
                "open": frame["open"].to_numpy(float),
                "high": frame["high"].to_numpy(float),
                "low": frame["low"].to_numpy(float),
                "close": frame["close"].to_numpy(float),
                "volume": frame["volume"].to_numpy("int64"),
            }
        )
        self._frame = frame
        self._table = table.sort_values(["symbol", "datetime"], kind="stable").reset_index(drop=True)

    def reset(self) -> None:
        """Also restore the original data."""
        super().reset()
        self.frame = self._default_frame

    def history_requests(self) -> list[Request]:
        return self.requests_to(PRICE_HISTORY_PATH, "GET")

    def handle_price_history(self, req: Request) -> Response:
        """The normal answer (scripted handlers can call it and edit the result)."""
        if req.header("authorization") != f"Bearer {self.access_token}":
            return unauthorized()
        symbol = (req.param("symbol") or "").upper()
        if not symbol:
            return _error(400, "Bad Request", "symbol is required")
        if req.param("frequencyType", "daily") != "daily" or req.param("frequency", "1") != "1":
            return _error(400, "Bad Request", "this fake serves daily candles only")
        try:
            start = int(req.param("startDate") or 0)
            end = int(req.param("endDate") or 2**62)
        except ValueError:
            return _error(400, "Bad Request", "startDate and endDate are epoch milliseconds")
        t = self._table
        rows = t[(t["symbol"] == symbol) & (t["datetime"] >= start) & (t["datetime"] <= end)]
        candles = [
            {
                "open": float(r["open"]),
                "high": float(r["high"]),
                "low": float(r["low"]),
                "close": float(r["close"]),
                "volume": int(r["volume"]),
                "datetime": int(r["datetime"]),
            }
            for r in rows.to_dict("records")
        ]
        return Response.json({"candles": candles, "symbol": symbol, "empty": not candles})


class RedirectTransport(httpx.HTTPTransport):
    """Sends every request to ``http://127.0.0.1:port``, keeping path, query and headers."""

    def __init__(self, port: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.port = port

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self.port)
        return super().handle_request(request)


def schwab_client(server: FakeSchwab, *, access_token: str | None = None) -> Any:
    """A real schwab-py client (OAuth2 session, bearer token) whose requests reach ``server``."""
    now = time.time()
    wrapped = {
        "creation_timestamp": int(now),
        "token": {
            "access_token": access_token if access_token is not None else server.access_token,
            "refresh_token": "test-refresh-token",
            "token_type": "Bearer",
            "expires_in": 1800,
            "expires_at": now + 1800,
            "scope": "api",
        },
    }

    def read_token() -> dict[str, Any]:
        return wrapped

    def write_token(token: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        wrapped.update(token)

    client = schwab.auth.client_from_access_functions(
        "test-app-key", "test-app-secret", read_token, write_token
    )
    client.session._transport = RedirectTransport(server.port)
    # proxy mounts from the environment would be chosen before the transport: there are none here
    client.session._mounts = {}
    return client
