"""YFinanceProvider through the real yfinance, fed Yahoo's chart JSON at yfinance's HTTP layer.

yfinance hard-codes Yahoo's hosts and fetches a cookie and crumb before every call, so the stand-in
replaces ``yfinance.data.YfData.get`` and ``cache_get`` (the latter is lru-cached, so it is replaced
too): every other part of yfinance (timezone lookup, ``history``, quote parsing) runs as it does in
production. Answers are Yahoo's ``/v8/finance/chart/{symbol}`` payloads built from the bundled dow29
CSV: daily bars stamped at the 09:30 New York open, OHLC as in the file, ``adjclose`` = the file's
adj_close, ``period1`` inclusive and ``period2`` exclusive.

Expected values are computed with pandas straight from the CSV (``tests/data/reference.py``).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yfinance.data
from yfinance.exceptions import YFRateLimitError

from stockbot.config import DataConfig
from stockbot.data import load_bars
from stockbot.data.providers.yahoo import YFinanceProvider
from stockbot.errors import DataError
from tests.data.reference import (
    DAILY_RANGE,
    GAP_RANGE,
    assert_daily_panel,
    assert_gap_aligned,
    assert_same_bars,
    assert_weekend_edges,
    reference_bars,
    without_gap_day,
)

pytestmark = [
    pytest.mark.timeout(60),
    # yfinance 1.7 on pandas 3.1
    pytest.mark.filterwarnings("ignore:The inplace keyword:pandas.errors.Pandas4Warning"),
]

NY = "America/New_York"
VALID_RANGES = ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"]


# ---------------------------------------------------------------------------- the stand-in


@dataclass
class FakeResponse:
    """The parts of a ``requests``/``curl_cffi`` response yfinance reads."""

    status_code: int
    text: str
    url: str = "https://query2.finance.yahoo.com/v8/finance/chart/"

    def json(self) -> Any:
        return json.loads(self.text)

    @classmethod
    def of(cls, payload: Any, status_code: int = 200) -> FakeResponse:
        return cls(status_code, json.dumps(payload))


@dataclass(frozen=True)
class Call:
    symbol: str
    url: str
    params: dict[str, Any]

    @property
    def is_history(self) -> bool:
        """``history`` asks for ``period1``/``period2``; the timezone lookup asks for ``range=1d``."""
        return "period1" in self.params


Answer = FakeResponse | BaseException | Callable[["FakeYahoo", Call], FakeResponse]


def _open_times(dates: pd.Series) -> list[int]:
    """Epoch seconds of 09:30 New York on each date (Yahoo's stamp for a daily bar)."""
    opens = pd.to_datetime(dates.to_numpy()).tz_localize(NY) + pd.Timedelta(hours=9, minutes=30)
    return [int(t.timestamp()) for t in opens]


def _meta(symbol: str, rows: pd.DataFrame) -> dict[str, Any]:
    last = rows.iloc[-1]
    day = pd.Timestamp(str(last["date"])).tz_localize(NY)

    def at(h: int, m: int = 0) -> int:
        return int((day + pd.Timedelta(hours=h, minutes=m)).timestamp())

    def period(start: int, end: int) -> dict[str, Any]:
        return {"timezone": "EST", "start": start, "end": end, "gmtoffset": -18000}

    return {
        "currency": "USD",
        "symbol": symbol,
        "exchangeName": "NMS",
        "fullExchangeName": "NasdaqGS",
        "instrumentType": "EQUITY",
        "firstTradeDate": _open_times(rows["date"].iloc[:1])[0],
        "regularMarketTime": at(16),
        "hasPrePostMarketData": True,
        "gmtoffset": -18000,
        "timezone": "EST",
        "exchangeTimezoneName": NY,
        "regularMarketPrice": float(last["close"]),
        "regularMarketDayHigh": float(last["high"]),
        "regularMarketDayLow": float(last["low"]),
        "regularMarketVolume": int(last["volume"]),
        "chartPreviousClose": float(rows["close"].iloc[-2]) if len(rows) > 1 else float(last["close"]),
        "priceHint": 2,
        "currentTradingPeriod": {
            "pre": period(at(4), at(9, 30)),
            "regular": period(at(9, 30), at(16)),
            "post": period(at(16), at(20)),
        },
        "dataGranularity": "1d",
        "range": "",
        "validRanges": VALID_RANGES,
    }


def chart(symbol: str, all_rows: pd.DataFrame, rows: pd.DataFrame) -> dict[str, Any]:
    """Yahoo's chart answer for ``rows`` of ``symbol`` (``all_rows``: its whole history, for meta)."""
    result: dict[str, Any] = {"meta": _meta(symbol, all_rows)}
    if rows.empty:
        result["indicators"] = {"quote": [{}], "adjclose": [{}]}
    else:
        result["timestamp"] = _open_times(rows["date"])
        result["indicators"] = {
            "quote": [
                {
                    "open": rows["open"].tolist(),
                    "high": rows["high"].tolist(),
                    "low": rows["low"].tolist(),
                    "close": rows["close"].tolist(),
                    "volume": rows["volume"].astype(int).tolist(),
                }
            ],
            "adjclose": [{"adjclose": rows["adj_close"].tolist()}],
        }
    return {"chart": {"result": [result], "error": None}}


def not_found() -> FakeResponse:
    return FakeResponse.of(
        {
            "chart": {
                "result": None,
                "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
            }
        },
        404,
    )


def unauthorized() -> FakeResponse:
    return FakeResponse.of(
        {"chart": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}},
        401,
    )


@dataclass
class _Script:
    answer: Answer
    remaining: int | None


@dataclass
class FakeYahoo:
    """Yahoo's chart endpoint over ``csv``; scripted answers apply to ``history`` calls only."""

    csv: pd.DataFrame
    calls: list[Call] = field(default_factory=list)
    _scripts: deque[_Script] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, answer: Answer, *, times: int | None = 1) -> None:
        """Answer the next ``times`` history calls (None: all of them) with a response, by raising
        an exception, or with a function of (this fake, the call)."""
        self._scripts.append(_Script(answer, times))

    def history_calls(self) -> list[Call]:
        return [c for c in self.calls if c.is_history]

    def get(self, url: str, params: dict[str, Any] | None = None) -> FakeResponse:
        symbol = url.rstrip("/").rsplit("/", 1)[-1]
        call = Call(symbol, url, dict(params or {}))
        with self._lock:
            self.calls.append(call)
            answer: Answer | None = None
            if call.is_history and self._scripts:
                script = self._scripts[0]
                answer = script.answer
                if script.remaining is not None:
                    script.remaining -= 1
                    if script.remaining == 0:
                        self._scripts.popleft()
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, FakeResponse):
            return answer
        if answer is not None:
            return answer(self, call)
        return self.answer(call)

    def answer(self, call: Call) -> FakeResponse:
        """The normal answer (scripted functions can call it and edit the result)."""
        if "/v8/finance/chart/" not in call.url:
            return FakeResponse.of({"finance": {"result": None, "error": {"code": "Not Found"}}}, 404)
        rows = self.csv[self.csv["tic"] == call.symbol]
        if rows.empty:
            return not_found()
        if call.is_history:
            opens = np.array(_open_times(rows["date"]))
            p1, p2 = int(call.params["period1"]), int(call.params["period2"])
            picked = rows[(opens >= p1) & (opens < p2)]
        else:  # range=1d: the latest session
            picked = rows.iloc[-1:]
        return FakeResponse(200, json.dumps(chart(call.symbol, rows, picked)), call.url)


@pytest.fixture
def yahoo(dow29_csv: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYahoo]:
    fake = FakeYahoo(dow29_csv)

    def get(self: yfinance.data.YfData, url: str, params: Any = None, timeout: float = 30) -> FakeResponse:
        return fake.get(url, params)

    monkeypatch.setattr(yfinance.data.YfData, "get", get)
    monkeypatch.setattr(yfinance.data.YfData, "cache_get", get)
    yield fake


def make_provider(**kwargs: Any) -> YFinanceProvider:
    kwargs.setdefault("retry_wait", 0.01)
    return YFinanceProvider(**kwargs)


def config(symbols: list[str], start: dt.date, end: dt.date) -> DataConfig:
    return DataConfig(provider="yfinance", symbols=symbols, start=start, end=end, cache=False)


def ny_date(epoch_s: Any) -> dt.date:
    return pd.Timestamp(int(epoch_s), unit="s", tz="UTC").tz_convert(NY).date()


# ---------------------------------------------------------------------------- happy path


def test_bars_equal_the_csv_adjusted(yahoo: FakeYahoo, dow29_csv: pd.DataFrame) -> None:
    start, end = DAILY_RANGE
    bars = load_bars(config(["AAPL", "MSFT"], start, end), provider=make_provider())
    assert_daily_panel(bars, dow29_csv, ["AAPL", "MSFT"], adjusted=True)

    calls = yahoo.history_calls()
    assert [c.symbol for c in calls] == ["AAPL", "MSFT"]
    for c in calls:
        assert c.params["interval"] == "1d"
        assert ny_date(c.params["period1"]) == start
        assert ny_date(c.params["period2"]) == end + dt.timedelta(days=1)


def test_weekend_edges_and_provider_bars_directly(yahoo: FakeYahoo, dow29_csv: pd.DataFrame) -> None:
    assert_weekend_edges(make_provider(), dow29_csv, adjusted=True)


def test_multi_symbol_bars_are_aligned(yahoo: FakeYahoo, dow29_csv: pd.DataFrame) -> None:
    yahoo.csv = without_gap_day(dow29_csv, "XOM")
    bars = load_bars(config(["CVX", "XOM"], *GAP_RANGE), provider=make_provider())
    assert_gap_aligned(bars, dow29_csv, ["CVX", "XOM"], "CVX", adjusted=True)


# ---------------------------------------------------------------------------- errors


def test_unauthorized_is_a_data_error_naming_401(yahoo: FakeYahoo) -> None:
    yahoo.script(unauthorized(), times=None)
    with pytest.raises(DataError) as e:
        load_bars(config(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)), provider=make_provider())
    msg = str(e.value)
    assert "AAPL" in msg
    assert "401" in msg or "credential" in msg.lower() or "unauthori" in msg.lower(), msg


def test_one_rate_limit_is_retried(yahoo: FakeYahoo, dow29_csv: pd.DataFrame) -> None:
    yahoo.script(YFRateLimitError())
    start, end = dt.date(2017, 5, 1), dt.date(2017, 5, 31)
    bars = load_bars(config(["JPM"], start, end), provider=make_provider())
    assert_same_bars(bars, reference_bars(dow29_csv, ["JPM"], start, end, adjusted=True))
    calls = yahoo.history_calls()
    assert len(calls) == 2
    assert calls[0].params == calls[1].params


def test_rate_limit_forever_is_a_data_error(yahoo: FakeYahoo) -> None:
    yahoo.script(YFRateLimitError(), times=None)
    with pytest.raises(DataError, match="rate limit") as e:
        make_provider(retries=3).bars(["JPM"], dt.date(2017, 5, 1), dt.date(2017, 5, 31), "1d")
    assert "JPM" in str(e.value)
    assert len(yahoo.history_calls()) == 4


def test_no_bars_in_range_names_the_symbol(yahoo: FakeYahoo) -> None:
    # a weekend: Yahoo answers meta and empty indicators
    with pytest.raises(DataError, match="AAPL"):
        load_bars(config(["AAPL"], dt.date(2017, 1, 7), dt.date(2017, 1, 8)), provider=make_provider())


def test_one_symbol_without_bars_is_named(yahoo: FakeYahoo) -> None:
    yahoo.csv = yahoo.csv[~((yahoo.csv["tic"] == "MSFT") & (yahoo.csv["date"] >= "2017-01-01"))]
    with pytest.raises(DataError) as e:
        load_bars(
            config(["AAPL", "MSFT"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)), provider=make_provider()
        )
    assert "MSFT" in str(e.value)


def _chart_with(edit: Callable[[dict[str, Any]], None]) -> Callable[[FakeYahoo, Call], FakeResponse]:
    """A scripted answer: the normal chart for the call, edited."""

    def answer(fake: FakeYahoo, call: Call) -> FakeResponse:
        payload = json.loads(fake.answer(call).text)
        edit(payload["chart"]["result"][0])
        return FakeResponse.of(payload)

    return answer


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda result: result.pop(key)


def _short_close(result: dict[str, Any]) -> None:
    result["indicators"]["quote"][0]["close"].pop()


def _string_quote(result: dict[str, Any]) -> None:
    result["indicators"]["quote"] = "none"


def _text_volume(result: dict[str, Any]) -> None:
    result["indicators"]["quote"][0]["volume"][0] = "lots"


MALFORMED: dict[str, Answer] = {
    "not-json": FakeResponse(200, "<html><body>Oops</body></html>"),
    "outage-page": FakeResponse(503, "<html><body>Will be right back...</body></html>"),
    "no-chart": FakeResponse.of({"finance": {"result": None}}),
    "result-is-a-string": FakeResponse.of({"chart": {"result": "AAPL", "error": None}}),
    "no-timestamp": _chart_with(_drop("timestamp")),
    "no-indicators": _chart_with(_drop("indicators")),
    "quote-is-a-string": _chart_with(_string_quote),
    "close-list-short": _chart_with(_short_close),
    "volume-not-a-number": _chart_with(_text_volume),
}


@pytest.mark.parametrize("answer", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_payload_is_a_data_error(yahoo: FakeYahoo, answer: Answer) -> None:
    yahoo.script(answer, times=None)
    with pytest.raises(DataError, match="AAPL"):
        load_bars(config(["AAPL"], dt.date(2017, 1, 3), dt.date(2017, 1, 31)), provider=make_provider())
