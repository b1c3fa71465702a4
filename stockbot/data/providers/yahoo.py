"""Bars from Yahoo Finance through yfinance (``Ticker.history`` with ``auto_adjust=False``).

Yahoo's OHLC are split-adjusted and its ``Adj Close`` is also dividend-adjusted; the latter becomes
``adj_close``. yfinance hides errors by default: they are turned on while this provider calls it,
so a rejected request, an unknown symbol or a malformed answer becomes a :class:`DataError`.
Rate limits (HTTP 429) are retried here with a growing wait.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import pandas as pd
import yfinance as yf
from yfinance.exceptions import YFException, YFPricesMissingError, YFRateLimitError

from stockbot.data.base import BaseProvider
from stockbot.data.providers._http import within_dates
from stockbot.data.schema import RAW_COLUMNS, empty_raw
from stockbot.errors import DataError, ProviderError
from stockbot.paths import cache_dir

log = logging.getLogger(__name__)

_INTERVALS = {"1d": "1d", "1h": "1h", "30m": "30m", "15m": "15m", "5m": "5m", "1m": "1m"}
_config_lock = threading.Lock()


@contextmanager
def _raising_errors() -> Iterator[None]:
    """yfinance logs and swallows errors unless ``config.debug.hide_exceptions`` is off."""
    with _config_lock:
        before = yf.config.debug.hide_exceptions
        yf.config.debug.hide_exceptions = False
        try:
            yield
        finally:
            yf.config.debug.hide_exceptions = before


class YFinanceProvider(BaseProvider):
    name: ClassVar[str] = "yfinance"
    intervals: ClassVar[tuple[str, ...]] = tuple(_INTERVALS)

    def __init__(self, *, retries: int = 3, retry_wait: float = 2.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retries = retries
        self.retry_wait = retry_wait
        tz_cache = cache_dir() / "yfinance-tz"
        tz_cache.mkdir(parents=True, exist_ok=True)
        yf.set_tz_cache_location(str(tz_cache))

    def _history(self, symbol: str, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        for attempt in range(self.retries + 1):
            try:
                with _raising_errors():
                    return yf.Ticker(symbol).history(
                        start=start.isoformat(),
                        end=(end + dt.timedelta(days=1)).isoformat(),
                        interval=_INTERVALS[interval],
                        auto_adjust=False,
                        actions=False,
                        repair=False,
                    )
            except YFRateLimitError as e:
                if attempt == self.retries:
                    raise ProviderError(
                        f"yfinance: rate limited by Yahoo for {symbol} after {self.retries} "
                        "retries; wait a few minutes and try again"
                    ) from e
                wait = self.retry_wait * 2**attempt
                log.warning("yfinance: rate limited on %s; retrying in %.1f s", symbol, wait)
                time.sleep(wait)
            except YFPricesMissingError as e:
                reason = e.yahoo_reason
                if reason is None:
                    # Yahoo gave no reason: simply no bars in this range; load_bars says so
                    return pd.DataFrame()
                if any(w in reason.lower() for w in ("crumb", "cookie", "unauthorized")):
                    raise ProviderError(
                        f"yfinance: HTTP 401: Yahoo rejected the session for {symbol} ({reason}); "
                        "retry later, or update yfinance if it persists"
                    ) from e
                raise ProviderError(f"yfinance: Yahoo refused {symbol}: {reason}") from e
            except YFException as e:
                raise ProviderError(f"yfinance: Yahoo refused {symbol}: {e}") from e
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
                raise DataError(
                    f"yfinance: malformed chart data for {symbol} ({type(e).__name__}: {e})"
                ) from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _fetch(self, symbols: list[str] | None, start: dt.date, end: dt.date, interval: str) -> pd.DataFrame:
        if not symbols:
            raise DataError("yfinance: give the symbols to fetch")
        frames = []
        for symbol in symbols:
            hist = self._history(symbol, start, end, interval)
            if hist.empty:
                continue
            needed = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
            missing = [c for c in needed if c not in hist.columns]
            if missing:
                raise DataError(f"yfinance: chart data for {symbol} lacks columns {missing}")
            frame = pd.DataFrame(
                {
                    "timestamp": pd.DatetimeIndex(hist.index).tz_convert("UTC"),
                    "symbol": symbol,
                    "open": hist["Open"].to_numpy(float),
                    "high": hist["High"].to_numpy(float),
                    "low": hist["Low"].to_numpy(float),
                    "close": hist["Close"].to_numpy(float),
                    "volume": hist["Volume"].to_numpy(float),
                    "adj_close": hist["Adj Close"].to_numpy(float),
                }
            )
            frames.append(frame[list(RAW_COLUMNS)])
        if not frames:
            return empty_raw()
        return within_dates(pd.concat(frames, ignore_index=True), start, end, self.calendar_name)
