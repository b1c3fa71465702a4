"""Bars from Schwab's price history endpoint through schwab-py.

The caller hands in a ready schwab-py client (the hub's token service builds one for a connected
account), or the provider builds one from ``SCHWAB_API_KEY``, ``SCHWAB_APP_SECRET`` and the token
file at ``SCHWAB_TOKEN_PATH``. Schwab's candles carry no dividend-adjusted close, so ``adj_factor``
is 1 and prices are as Schwab delivers them. schwab-py does not retry, so HTTP 429 is retried here
(``Retry-After`` honoured, capped), then reported.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from typing import Any, ClassVar

import httpx
import pandas as pd

from stockbot.data.base import BaseProvider
from stockbot.data.providers._http import http_status_message, utc_window, within_dates
from stockbot.data.schema import RAW_COLUMNS, empty_raw
from stockbot.errors import DataError, ProviderError

log = logging.getLogger(__name__)

_METHODS = {
    "1d": "get_price_history_every_day",
    "30m": "get_price_history_every_thirty_minutes",
    "15m": "get_price_history_every_fifteen_minutes",
    "5m": "get_price_history_every_five_minutes",
    "1m": "get_price_history_every_minute",
}


def client_from_env() -> Any:
    """A schwab-py client from ``SCHWAB_API_KEY``, ``SCHWAB_APP_SECRET``, ``SCHWAB_TOKEN_PATH``."""
    import schwab

    key, secret = os.environ.get("SCHWAB_API_KEY"), os.environ.get("SCHWAB_APP_SECRET")
    token_path = os.environ.get("SCHWAB_TOKEN_PATH")
    if not (key and secret and token_path):
        raise DataError(
            "schwab: no credentials. Connect your Schwab account in the hub, or set "
            "SCHWAB_API_KEY, SCHWAB_APP_SECRET and SCHWAB_TOKEN_PATH (a schwab-py token file)"
        )
    return schwab.auth.client_from_token_file(token_path, key, secret)


class SchwabProvider(BaseProvider):
    name: ClassVar[str] = "schwab"
    intervals: ClassVar[tuple[str, ...]] = tuple(_METHODS)

    def __init__(
        self,
        *,
        client: Any | None = None,
        retries: int = 3,
        retry_wait: float = 2.0,
        max_retry_wait: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.client = client if client is not None else client_from_env()
        self.retries = retries
        self.retry_wait = retry_wait
        self.max_retry_wait = max_retry_wait

    def _get(self, symbol: str, start: dt.date, end: dt.date, interval: str) -> httpx.Response:
        lo, hi = utc_window(start, end, self.calendar_name)
        method = getattr(self.client, _METHODS[interval])
        for attempt in range(self.retries + 1):
            try:
                resp = method(symbol, start_datetime=lo, end_datetime=hi)
            except httpx.HTTPError as e:
                raise ProviderError(f"schwab: cannot reach the price history API: {e}") from e
            if resp.status_code != 429 or attempt == self.retries:
                return resp
            wait = self._retry_after(resp, attempt)
            log.warning("schwab: rate limited on %s; retrying in %.1f s", symbol, wait)
            time.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_after(self, resp: httpx.Response, attempt: int) -> float:
        header = resp.headers.get("Retry-After")
        try:
            wait = float(header) if header is not None else self.retry_wait * 2**attempt
        except ValueError:
            wait = self.retry_wait * 2**attempt
        return min(max(wait, 0.0), self.max_retry_wait)

    @staticmethod
    def _parse(symbol: str, resp: httpx.Response) -> pd.DataFrame:
        if resp.status_code != 200:
            raise ProviderError(http_status_message("schwab", resp.status_code, resp.text))
        try:
            payload = resp.json()
            candles = payload["candles"]
            if not isinstance(candles, list):
                raise TypeError(f"'candles' is {type(candles).__name__}, not a list")
            rows = [
                (
                    pd.Timestamp(int(c["datetime"]), unit="ms", tz="UTC"),
                    symbol,
                    float(c["open"]),
                    float(c["high"]),
                    float(c["low"]),
                    float(c["close"]),
                    float(c["volume"]),
                )
                for c in candles
            ]
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DataError(
                f"schwab: malformed price history for {symbol} ({type(e).__name__}: {e}); "
                f"expected {{'symbol', 'empty', 'candles': [{{open, high, low, close, volume, "
                f"datetime}}]}}"
            ) from e
        frame = pd.DataFrame(rows, columns=list(RAW_COLUMNS[:-1]))
        frame["adj_close"] = float("nan")
        return frame

    def _fetch(self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        if not symbols:
            raise DataError("schwab: give the symbols to fetch")
        frames = [self._parse(s, self._get(s, start, end, interval)) for s in symbols]
        frames = [f for f in frames if not f.empty]
        if not frames:
            return empty_raw()
        return within_dates(pd.concat(frames, ignore_index=True), start, end, self.calendar_name)
