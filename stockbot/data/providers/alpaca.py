"""Bars from Alpaca's market data API through alpaca-py's ``StockHistoricalDataClient``.

Credentials come from the environment (``APCA_API_KEY_ID`` / ``APCA_API_SECRET_KEY``) or an OAuth
access token handed in by the caller, never from a config. ``STOCKBOT_ALPACA_DATA_URL`` (or
``url_override``) points the client at another base URL. Prices: two requests per range, one with
``adjustment=raw`` and one with ``adjustment=all``; the adjusted close becomes ``adj_close`` so the
raw prices and the factor are both kept. alpaca-py itself retries HTTP 429 and 504.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any, ClassVar

import pandas as pd
import requests
from alpaca.common.exceptions import APIError
from alpaca.data.enums import Adjustment
from alpaca.data.historical import StockHistoricalDataClient
from alpaca.data.requests import StockBarsRequest
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from pydantic import ValidationError

from stockbot.data.base import BaseProvider
from stockbot.data.providers._http import http_status_message, utc_window, within_dates
from stockbot.data.schema import RAW_COLUMNS, empty_raw
from stockbot.errors import DataError, ProviderError

log = logging.getLogger(__name__)

_TIMEFRAMES = {
    "1d": TimeFrame(1, TimeFrameUnit.Day),
    "1h": TimeFrame(1, TimeFrameUnit.Hour),
    "30m": TimeFrame(30, TimeFrameUnit.Minute),
    "15m": TimeFrame(15, TimeFrameUnit.Minute),
    "5m": TimeFrame(5, TimeFrameUnit.Minute),
    "1m": TimeFrame(1, TimeFrameUnit.Minute),
}


class AlpacaProvider(BaseProvider):
    name: ClassVar[str] = "alpaca"
    intervals: ClassVar[tuple[str, ...]] = tuple(_TIMEFRAMES)

    def __init__(
        self,
        *,
        api_key: str | None = None,
        secret_key: str | None = None,
        oauth_token: str | None = None,
        url_override: str | None = None,
        feed: str | None = None,
        client: StockHistoricalDataClient | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.feed = feed
        if client is not None:
            self.client = client
            return
        api_key = api_key or os.environ.get("APCA_API_KEY_ID")
        secret_key = secret_key or os.environ.get("APCA_API_SECRET_KEY")
        if not oauth_token and not (api_key and secret_key):
            raise DataError(
                "alpaca: no credentials. Set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the "
                "environment, or connect your Alpaca account in the hub"
            )
        self.client = StockHistoricalDataClient(
            api_key=None if oauth_token else api_key,
            secret_key=None if oauth_token else secret_key,
            oauth_token=oauth_token,
            url_override=url_override or os.environ.get("STOCKBOT_ALPACA_DATA_URL"),
        )

    def _request(
        self, symbols: list[str], start: dt.date, end: dt.date, interval: str, adjustment: Adjustment
    ) -> dict[str, list[Any]]:
        lo, hi = utc_window(start, end, self.calendar_name)
        req = StockBarsRequest(
            symbol_or_symbols=symbols,
            timeframe=_TIMEFRAMES[interval],
            start=lo,
            end=hi,
            adjustment=adjustment,
            feed=self.feed,
        )
        try:
            return self.client.get_stock_bars(req).data
        except APIError as e:
            raise ProviderError(http_status_message("alpaca", e.status_code, str(e))) from e
        except requests.JSONDecodeError as e:
            raise DataError(f"alpaca: the data API answered with something that is not JSON: {e}") from e
        except requests.RequestException as e:
            raise ProviderError(f"alpaca: cannot reach the data API: {e}") from e
        except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"alpaca: malformed bars payload ({type(e).__name__}: {e})") from e

    @staticmethod
    def _frame(data: dict[str, list[Any]]) -> pd.DataFrame:
        rows = [
            (b.timestamp, sym, b.open, b.high, b.low, b.close, b.volume)
            for sym, bars in data.items()
            for b in bars
        ]
        return pd.DataFrame(rows, columns=list(RAW_COLUMNS[:-1]))

    def _fetch(self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        if not symbols:
            raise DataError("alpaca: give the symbols to fetch")
        raw = self._frame(self._request(symbols, start, end, interval, Adjustment.RAW))
        if raw.empty:
            return empty_raw()
        adjusted = self._frame(self._request(symbols, start, end, interval, Adjustment.ALL))
        adjusted = adjusted[["timestamp", "symbol", "close"]].rename(columns={"close": "adj_close"})
        merged = raw.merge(adjusted, on=["timestamp", "symbol"], how="left")
        lacking = merged[merged["adj_close"].isna()]
        if not lacking.empty:
            first = lacking.iloc[0]
            raise DataError(
                f"alpaca: {len(lacking)} raw bars have no adjusted counterpart "
                f"(first: {first['symbol']} {first['timestamp']}); the two responses disagree"
            )
        return within_dates(merged, start, end, self.calendar_name)
