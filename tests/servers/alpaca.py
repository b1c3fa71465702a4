"""A stand-in for Alpaca's market data API (``GET /v2/stocks/bars``) serving real daily bars.

It speaks the vendor's JSON: ``{"bars": {"SYM": [{"t","o","h","l","c","v","n","vw"}]},
"next_page_token": ...}`` with daily bars stamped at midnight New York time in UTC
(``"2017-01-03T05:00:00Z"``), bars ordered by symbol then time, ``start`` and ``end`` both inclusive,
and at most ``min(limit, page_size)`` bars per page across all symbols (``page_size`` is small so that
clients really page). ``next_page_token`` is opaque to clients (here: base64 of the next bar's
``SYMBOL|timestamp``).

The data is a frame with the bundled sample's columns (``date, tic, open, high, low, close,
adj_close, volume``). ``adjustment=raw`` (and ``split``) serves the file's OHLC; ``adjustment=all``
(and ``dividend``) serves OHLC scaled by ``adj_close / close``. Volume is served unscaled either way
(Alpaca adjusts volume for splits only, and the file's factor cannot tell splits from dividends).
Assign :attr:`FakeAlpaca.frame` to change the data (e.g. a new dividend); :meth:`reset` restores it.

Requests whose ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` do not match ``keys`` (or whose
``Authorization: Bearer`` token is not in ``oauth_tokens``) get Alpaca's 401.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tests.servers.http import Request, Response, ScriptedServer

__all__ = ["BARS_PATH", "FakeAlpaca", "bad_request", "rate_limited", "unauthorized"]

BARS_PATH = "/v2/stocks/bars"
EXCHANGE_TZ = "America/New_York"
_ADJUSTMENTS = {"raw": False, "split": False, "dividend": True, "all": True}


def unauthorized() -> Response:
    return Response.json({"code": 40110000, "message": "request is not authorized"}, status=401)


def rate_limited() -> Response:
    return Response.json({"code": 42910000, "message": "too many requests."}, status=429)


def bad_request(message: str) -> Response:
    return Response.json({"code": 42210000, "message": message}, status=422)


def _parse_time(value: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _encode_token(symbol: str, t: str) -> str:
    return base64.urlsafe_b64encode(f"{symbol}|{t}".encode()).decode()


def _decode_token(token: str) -> tuple[str, pd.Timestamp]:
    symbol, t = base64.urlsafe_b64decode(token.encode()).decode().split("|")
    return symbol, _parse_time(t)


class FakeAlpaca(ScriptedServer):
    """Alpaca's bars endpoint over ``frame`` (the sample csv's columns)."""

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        page_size: int = 100,
        keys: Mapping[str, str] | None = None,
        oauth_tokens: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self._default_frame = frame
        self._default_page_size = page_size
        self.page_size = page_size
        self.keys = dict(keys if keys is not None else {"k": "s"})
        self.oauth_tokens = set(oauth_tokens)
        self.frame = frame
        self.route("GET", BARS_PATH, self.handle_bars)

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    @frame.setter
    def frame(self, frame: pd.DataFrame) -> None:
        table = pd.DataFrame(
            {
                "symbol": frame["tic"].astype(str).to_numpy(),
                "t": pd.to_datetime(frame["date"].astype(str).to_numpy())
                .tz_localize(EXCHANGE_TZ)
                .tz_convert("UTC")
                .as_unit("ns"),
                "o": frame["open"].to_numpy(float),
                "h": frame["high"].to_numpy(float),
                "l": frame["low"].to_numpy(float),
                "c": frame["close"].to_numpy(float),
                "v": frame["volume"].to_numpy(np.int64),
                "factor": (frame["adj_close"] / frame["close"]).to_numpy(float),
            }
        )
        table["t_str"] = table["t"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._frame = frame
        self._table = table.sort_values(["symbol", "t"], kind="stable").reset_index(drop=True)

    def reset(self) -> None:
        """Also restore the original data and page size."""
        super().reset()
        self.frame = self._default_frame
        self.page_size = self._default_page_size

    def bar_requests(self) -> list[Request]:
        return self.requests_to(BARS_PATH, "GET")

    # ------------------------------------------------------------------ the endpoint

    def _authorised(self, req: Request) -> bool:
        auth = req.header("authorization") or ""
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ") in self.oauth_tokens
        key, secret = req.header("apca-api-key-id"), req.header("apca-api-secret-key")
        return key is not None and self.keys.get(key) == secret

    def handle_bars(self, req: Request) -> Response:
        """The normal answer (scripted handlers can call it and edit the result)."""
        if not self._authorised(req):
            return unauthorized()
        symbols = [s.strip().upper() for s in (req.param("symbols") or "").split(",") if s.strip()]
        if not symbols:
            return bad_request("invalid symbols")
        if req.param("timeframe") not in ("1Day", "1D"):
            return bad_request(f"invalid timeframe {req.param('timeframe')!r} (this fake serves 1Day)")
        adjustment = req.param("adjustment", "raw") or "raw"
        if adjustment not in _ADJUSTMENTS:
            return bad_request(f"invalid adjustment {adjustment!r}")
        try:
            start = _parse_time(req.param("start") or "1970-01-01")
            end = _parse_time(req.param("end") or "2100-01-01")
        except ValueError as e:
            return bad_request(f"invalid start or end: {e}")
        try:
            limit = int(req.param("limit") or 1000)
        except ValueError:
            return bad_request("invalid limit")
        if not 1 <= limit <= 10_000:
            return bad_request("invalid limit")

        table = self._table
        rows = table[table["symbol"].isin(symbols) & (table["t"] >= start) & (table["t"] <= end)]
        token = req.param("page_token")
        if token:
            try:
                after_sym, after_t = _decode_token(token)
            except (ValueError, binascii.Error):
                return bad_request("invalid page token")
            rows = rows[
                (rows["symbol"] > after_sym) | ((rows["symbol"] == after_sym) & (rows["t"] >= after_t))
            ]
        size = min(limit, self.page_size)
        page, rest = rows.iloc[:size], rows.iloc[size:]
        next_token = None if rest.empty else _encode_token(rest["symbol"].iloc[0], rest["t_str"].iloc[0])
        bars: dict[str, list[dict[str, Any]]] = {}
        scale = _ADJUSTMENTS[adjustment]
        for rec in page.to_dict("records"):
            f = rec["factor"] if scale else 1.0
            o, h, lo, c = rec["o"] * f, rec["h"] * f, rec["l"] * f, rec["c"] * f
            bars.setdefault(rec["symbol"], []).append(
                {
                    "t": rec["t_str"],
                    "o": o,
                    "h": h,
                    "l": lo,
                    "c": c,
                    "v": int(rec["v"]),
                    "n": max(1, int(rec["v"]) // 250),
                    "vw": round((h + lo + c) / 3, 4),
                }
            )
        return Response.json({"bars": bars, "next_page_token": next_token})
